"""The day job's kernels: a day's samples turned into viewer-day records (the inversion
rule), in the lake and the serving store.

Reads a day's members (``archive/<day>.7z`` and late loose samples, through
:mod:`tpdask.archive`); writes the lake (``lake/<table>/day=<day>/``: viewer_days,
streams, chatter_ids, times) and the store's part files that the one store writer
stages. The job that plans and runs these pieces on Dask is ``jobs/process_day.py``.
Open first: ``partition.py`` (phase 1: parse, validate, hash-partition by viewer),
``bucket.py`` (phase 2: invert one bucket), ``inversion.py`` (the rule as numpy
kernels), ``lake.py`` (tables, durable writes, publishing a day); ``reference.py`` is the
plain-Python oracle the tests hold the kernels against.
"""
