"""Archiving: a day's raw samples packed into ``archive/<day>.7z``, the immutable record of
the day, verified before any raw file is deleted.

Reads ``samples/<day>/`` (loose sample files); writes ``archive/<day>.7z`` and
``archive/<day>.manifest.json`` (every member's size and sha256), and moves what is not a
sample to ``quarantine/<day>/``. The day job reads the archive back through ``members``
and ``unpack``.
Open first: ``pack.py`` (``archive_day``: the order of the steps and why each is safe),
``sevenz.py`` (the .7z written in blocks compressed on every core), then ``loose.py``
(deleting a raw file only when its very bytes are archived), ``manifest.py`` (the checks), ``members.py`` (listing and streaming a day's samples) and
``unpack.py`` (the day job's one-pass decompression).
"""
