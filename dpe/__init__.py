"""Deep Probabilistic Ensembles for active learning: a reproducible study of
Chitta, Alvarez and Lesnikowski, "Large-Scale Visual Active Learning with Deep Probabilistic
Ensembles" (2018).

Modules: ``acquisition`` (Table 2, Eq. 9-10), ``regularizers`` (Eq. 7), ``models`` and
``ensemble`` (vectorised members), ``train`` (the paper's and a fast protocol), ``active``
(Algorithm 1), ``data``, ``stats`` (Z-tests), ``records``, ``config`` (runs and profiles).
"""

__version__ = "0.1.0"
