"""A bucket's viewer-days encoded for the serving store by the task that inverted them.

Each phase-2 task encodes its viewer-days once, in the form the backend stores, into a
part file in the run's scratch folder, and one writer in the job's client loads the files
as they appear while the other buckets still invert (:mod:`tpdask.process.store_writer`).
Why: a Python dict per viewer-day, encoded and upserted by the store in each task, kept
two workers queueing on SQLite's single writer (32 of 42 task-seconds at scale 1).

- SQLite: a SQLite file of the record's columns (no day: the writer gives it), with
  ``streamers`` already JSON text. The text is built by pyarrow string kernels from the
  inversion's offset arrays (a session ``[start,end]``, joined per pair, joined per
  viewer), with no Python object per session: ~15× faster than ``orjson.dumps`` of
  dicts. The writer copies the rows in by SQLite alone (``ATTACH``, ``INSERT … SELECT``).
- MongoDB: an Arrow IPC file of each document as BSON, the bytes ``bson.encode`` makes
  of :func:`tpdask.stores.mongo_docs.to_doc`, assembled from the offset arrays by
  :mod:`tpdask.process.store_bson` (no dict per record); the writer sends them as they are
  (``RawBSONDocument``).

A record's minutes are ``samples × interval / 60``, an int when whole (see
:func:`tpdask.process.inversion.minutes`): the Arrow rows carry them as float64 and the part
file has whole ones as ints, as the record had them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tpdask.files import atomic_file
from tpdask.process.inversion import Inverted
from tpdask.process.store_bson import viewer_day_documents, viewer_day_ids

#: Columns of a SQLite store part: a record's keys, ``streamers`` as JSON text.
SQLITE_SCHEMA = pa.schema([
    ("viewer", pa.string()), ("samples", pa.int64()), ("minutes", pa.float64()),
    ("first_ts", pa.int64()), ("last_ts", pa.int64()), ("streamers", pa.string()),
])

#: Columns of a MongoDB store part: the document's ``_id`` and its BSON.
MONGO_SCHEMA = pa.schema([("_id", pa.string()), ("bson", pa.binary())])


def backend(store_uri: str) -> str:
    """``"sqlite"`` or ``"mongodb"``: which encoding a store URI takes."""
    return "sqlite" if store_uri.startswith("sqlite:") else "mongodb"


def _number_text(values: np.ndarray, interval: int) -> pa.Array:
    """``samples × interval / 60`` as JSON number text: ints where whole, as the record."""
    minutes = values * interval / 60
    whole = np.equal(np.floor(minutes), minutes)
    as_int = pc.cast(pa.array(np.where(whole, minutes, 0).astype(np.int64)), pa.string())
    if whole.all():
        return as_int
    as_float = pc.cast(pa.array(minutes), pa.string())
    return pc.if_else(pa.array(whole), as_int, as_float)


def streamers_json(inv: Inverted, interval: int) -> pa.Array:
    """Each viewer's ``streamers`` object as JSON text, in the order records() gives it."""
    join = pc.binary_join_element_wise
    starts = pc.cast(pa.array(inv.session_start), pa.string())
    ends = pc.cast(pa.array(inv.session_end), pa.string())
    empty = pa.scalar("", pa.string())
    session = join(pa.scalar("["), starts, pa.scalar(","), ends, pa.scalar("]"), empty)
    sessions = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(inv.session_offsets.astype(np.int32)), session), ",")
    names = pa.array(inv.streamer_names, pa.string()).take(pa.array(inv.pair_streamer))
    pair = join(pa.scalar('"'), names, pa.scalar('":{"samples":'),
                pc.cast(pa.array(inv.pair_samples), pa.string()), pa.scalar(',"minutes":'),
                _number_text(inv.pair_samples, interval), pa.scalar(',"sessions":['), sessions,
                pa.scalar("]}"), empty)
    pairs = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(inv.pair_offsets.astype(np.int32)), pair), ",")
    return join(pa.scalar("{"), pairs, pa.scalar("}"), empty)


def sqlite_rows(inv: Inverted, interval: int) -> pa.Table:
    """The bucket's rows for the SQLite store (the day and load are the writer's)."""
    return pa.Table.from_arrays([
        pa.array(inv.viewers, pa.string()),
        pa.array(inv.samples.astype(np.int64)),
        pa.array(inv.samples * interval / 60, pa.float64()),
        pa.array(inv.first_ts.astype(np.int64)),
        pa.array(inv.last_ts.astype(np.int64)),
        streamers_json(inv, interval),
    ], schema=SQLITE_SCHEMA)


def mongo_rows(inv: Inverted, day: str, interval: int, load: str) -> pa.Table:
    """The bucket's documents for the MongoDB store, BSON-encoded, staged under ``load``.

    The bytes are ``bson.encode(to_doc(record, load))``'s, assembled from the inversion's
    arrays by :mod:`tpdask.process.store_bson`: ~4× less CPU than a dict per record, on the cores
    the MongoDB server needs for the inserts.
    """
    ids = viewer_day_ids(inv, day, load)
    return pa.Table.from_arrays([ids, viewer_day_documents(inv, day, interval, load, ids)],
                                schema=MONGO_SCHEMA)


#: The part file's suffix for each backend (the writer takes only these files).
PART_SUFFIXES = {"sqlite": ".sqlite", "mongodb": ".arrow"}


def part_name(bucket: int, store_uri: str) -> str:
    return f"store-{bucket:05d}{PART_SUFFIXES[backend(store_uri)]}"


def write_store_part(folder: Path | str, bucket: int, inv: Inverted, day: str, interval: int,
               store_uri: str, load: str) -> Path:
    """Encode the bucket for the store and write it as the writer's part file.

    SQLite: a SQLite file of the rows (:func:`tpdask.stores.stage_sqlite.write_sqlite_part`),
    so the writer copies them in without a Python object per value; MongoDB: an Arrow file
    of the documents' BSON. Written under a temp name, then renamed: the writer never sees
    half a file. A task re-run after a worker died writes the same content again under
    the same name. Scratch, so no fsync: a crash loses the run, whose staged rows are
    never published.
    """
    path = Path(folder) / part_name(bucket, store_uri)
    with atomic_file(path, durable=False) as tmp:
        if backend(store_uri) == "sqlite":
            from tpdask.stores.stage_sqlite import write_sqlite_part

            write_sqlite_part(tmp, sqlite_tuples(sqlite_rows(inv, interval)))
        else:
            rows = mongo_rows(inv, day, interval, load)
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as w:
                w.write_table(rows)
    return path


def sqlite_tuples(table: pa.Table) -> list[tuple]:
    """:func:`sqlite_rows` as tuples for the part file (its columns: a record's, no day)."""
    minutes = table.column("minutes")
    if pc.all(pc.equal(pc.floor(minutes), minutes)).as_py() is not False:   # whole: ints
        minutes = minutes.cast(pa.int64()).to_pylist()       # (with a 5-minute interval)
    else:
        minutes = [int(m) if m.is_integer() else m for m in minutes.to_pylist()]
    return list(zip(table.column("viewer").to_pylist(), table.column("samples").to_pylist(),
                    minutes, table.column("first_ts").to_pylist(),
                    table.column("last_ts").to_pylist(), table.column("streamers").to_pylist(),
                    strict=True))
