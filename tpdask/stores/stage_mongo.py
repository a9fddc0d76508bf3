"""The day job's staging in the MongoDB store: a part file's ready BSON inserted as it is.

Each phase-2 task writes its bucket's documents as an Arrow file of (``_id``, ``bson``)
(:mod:`tpdask.process.store_rows`); the job's one writer hands the bytes to the server as
``RawBSONDocument`` in commands of about :data:`INSERT_BATCH_BYTES`, over
:data:`STAGE_CONNECTIONS` connections, with no dict per document.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

#: BSON bytes per ``insert`` command of the day job's writer (MongoDB's limit is 48 MB;
#: a few MB keep the server's memory and each command's latency low).
INSERT_BATCH_BYTES = 4 << 20

#: Connections the day job's writer inserts a part's batches over at once. FerretDB
#: converts each command's documents on one core (it used at most ~1.4 of the 2 cores
#: over one connection): the scale-0.1 day's raw inserts took 15.3 - 17.1 s over one
#: connection and 12.1 - 13.6 s over two, four rounds each, interleaved (load 1.6 - 3.4).
STAGE_CONNECTIONS = 2


class StageMongoMixin:
    """Mixed into :class:`tpdask.stores.mongo.MongoStore`."""

    def stage_part(self, day: str, load: str, part: Path) -> int:
        with pa.memory_map(str(part)) as source:
            rows = pa.ipc.open_file(source).read_all()
        return self.stage_encoded_viewer_days(day, load, rows)

    def stage_encoded_viewer_days(self, day: str, load: str, rows: Any) -> int:
        """Insert a part's ready BSON (``_id``, ``bson``) over :data:`STAGE_CONNECTIONS` at once.

        FerretDB converts a command's documents in its connection's goroutine before the
        SQLite write, so one connection leaves a core idle (see :data:`STAGE_CONNECTIONS`).
        The documents already there (a part staged again) are replaced afterwards, from
        this thread alone: FerretDB deadlocks when concurrent updates match 100 documents
        between them. The load's count is raised once for the part, also from this thread
        (FerretDB's ``$inc`` is a read then a write, which two connections could interleave).
        """
        blobs = rows.column("bson").to_pylist()
        batches = list(batches_by_bytes(blobs, INSERT_BATCH_BYTES))
        with self._errors(f"stage day {day} in"):
            self._count_load(day, load, 0)       # before the documents: see _count_load
            again: list[dict[str, Any]] = []
            pool = ThreadPoolExecutor(STAGE_CONNECTIONS, thread_name_prefix="mongo-stage")
            try:
                for duplicates in [pool.submit(self._insert_raw, batch) for batch in batches]:
                    again += duplicates.result()
            finally:
                pool.shutdown(cancel_futures=True)     # after an error: no new batch starts
            self._replace(self._viewer_days, again)
            self._count_load(day, load, len(blobs) - len(again))
        return len(blobs)

    def _insert_raw(self, batch: list[bytes]) -> list[dict[str, Any]]:
        """Insert one batch of BSON documents; return those whose ``_id`` is already there."""
        from bson.raw_bson import RawBSONDocument

        docs = [RawBSONDocument(blob) for blob in batch]
        return [dict(doc.items()) for doc in self._insert_new(self._viewer_days, docs)]


def batches_by_bytes(blobs: list[bytes], limit: int) -> Iterator[list[bytes]]:
    """Consecutive runs of ``blobs`` of about ``limit`` bytes (at least one blob each)."""
    batch: list[bytes] = []
    size = 0
    for blob in blobs:
        if batch and size + len(blob) > limit:
            yield batch
            batch, size = [], 0
        batch.append(blob)
        size += len(blob)
    if batch:
        yield batch
