"""Benchmarks: every `tpdask bench` job, measured from outside as whole process trees.

Owns the generated inputs (seeded days of the audience model, archived once under
``<data_dir>/bench/inputs/``), the measured runs and their figures (``<data_dir>/bench/``).
Reads and runs the jobs of ``jobs/`` like an operator would; nothing else imports it.
Open first: ``process.py`` (the day job against its baselines: ``peer.py``, a DuckDB
query; ``bag.py``, the dask.bag reading; ``tpdask.process.reference``, plain Python),
``procmon.py`` (sampling a process tree's memory and CPU), then ``analyse.py``,
``verify.py`` and ``web.py`` for the other jobs.
"""
