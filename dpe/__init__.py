"""Deep Probabilistic Ensembles for active learning: a reproducible study of
Chitta, Alvarez and Lesnikowski, "Large-Scale Visual Active Learning with Deep Probabilistic
Ensembles" (2018).

The method, at the top: ``acquisition`` (Table 2, Eq. 9-10), ``regularizers`` (Eq. 7),
``models`` and ``ensemble`` (vectorised members), ``engine`` (how to compute), ``train`` (the
paper's and a fast protocol), ``predict`` and ``images``, ``active`` (Algorithm 1); its settings
in ``config`` and ``profiles``, its records in ``records``, its data in ``data``, its errors in
``errors``.

``dpe.segmentation``: active segmentation by crops (Sec. 6). ``dpe.study``: the grids behind each
chapter of the book, their runner (``python -m dpe.study``), tables, statistics and figures.
"""

__version__ = "0.1.0"
