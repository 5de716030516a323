"""The study around the method: the grids of runs behind each chapter (``grids``), their runner
(``runner``, ``python -m dpe.study``), and what the chapters read from the records: tables and
statistics (``tables``, ``stats``, ``robustness``, ``convergence``, ``findings``), figures
(``figures``) and the paper's own numbers (``paper``)."""
