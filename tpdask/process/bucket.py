"""Phase 2 of the day job: invert one viewer bucket and write it out.

A task reads its bucket's Arrow chunks from the scratch folder (memory-mapped), merges
the chunks' login and streamer dictionaries into sorted codes (a login is hashed once per
phase-1 batch that listed it, not once per observation), runs the inversion kernel,
writes the bucket's lake file, and encodes its store records for the backend into a
scratch file that the job's one store writer stages while other buckets still invert
(:mod:`tpdask.process.store_writer`), so no day-sized data ever reaches the client. Every write
is keyed (part file names; the writer's (viewer, day) upsert under the run's load id), so
a task re-run after a worker died writes the same thing again; nothing is visible to
readers until the job publishes the day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tpdask.log import StepTimer
from tpdask.process.inversion import Inverted, invert, lake_table
from tpdask.process.lake import write_parquet
from tpdask.process.partition import bucket_dir, encode_strings
from tpdask.process.store_rows import write_store_part


@dataclass(frozen=True)
class BucketTask:
    day: str
    bucket: int
    scratch: str
    times: tuple[int, ...]          # the day's sorted sample timestamps T
    interval: int
    max_gap: int
    lake_dir: str                   # the folder this run writes part files into
    store: str                      # store URI: which encoding the rows take
    load: str                       # this run's load id: records stay staged until published
    rows_dir: str                   # where the store rows go for the job's writer


@dataclass
class BucketReport:
    bucket: int
    observations: int = 0
    viewers: int = 0
    sessions: int = 0
    seconds: dict = field(default_factory=dict)   # read, invert, lake, encode


def read_bucket(scratch: str, bucket: int) -> pa.Table | None:
    folder = Path(scratch) / bucket_dir(bucket)
    files = sorted(folder.glob("*.arrow")) if folder.is_dir() else []
    if not files:
        return None
    tables = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    return pa.concat_tables(tables)


def _sorted_codes(values: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes of each value into the sorted list of distinct values.

    Phase 1 writes dictionary-encoded chunks, so only the chunks' dictionaries are
    hashed and sorted here (one entry per login and batch, not per observation); the
    observations' indices are remapped with numpy. A plain string chunk is encoded first.
    """
    parts = [chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
             for chunk in values.chunks]
    if not parts:
        return np.zeros(0, dtype=np.int32), []
    distinct, merged = encode_strings(pa.concat_arrays([p.dictionary for p in parts]))
    order = np.asarray(pc.sort_indices(distinct))
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    entry_code = rank[merged]                          # per entry of the chunks' dictionaries
    starts = np.cumsum([0] + [len(p.dictionary) for p in parts])
    codes = np.concatenate([entry_code[start + np.asarray(p.indices)]
                            for start, p in zip(starts, parts)])
    return codes, distinct.take(pa.array(order)).to_pylist()


def invert_table(table: pa.Table, times: np.ndarray, max_gap: int) -> Inverted:
    """Invert a bucket's observations (ts, streamer, viewer: strings or dictionaries)."""
    streamer_codes, streamer_names = _sorted_codes(table.column("streamer"))
    viewer_codes, viewers = _sorted_codes(table.column("viewer"))
    return invert(np.asarray(table.column("ts")), streamer_codes, viewer_codes, times,
                  viewers, streamer_names, max_gap)


def process_bucket(task: BucketTask) -> BucketReport:
    """Run one phase-2 task; returns its counts and where its time went."""
    report = BucketReport(bucket=task.bucket)
    lap = StepTimer(report.seconds).lap

    table = read_bucket(task.scratch, task.bucket)
    lap("read")
    if table is None or table.num_rows == 0:
        return report
    inv = invert_table(table, np.asarray(task.times, dtype=np.int64), task.max_gap)
    del table
    lap("invert")
    write_parquet(task.lake_dir, f"part-{task.bucket:05d}.parquet",
               lake_table(inv, task.day, task.interval))
    lap("lake")
    write_store_part(task.rows_dir, task.bucket, inv, task.day, task.interval, task.store,
                     task.load)
    lap("encode")
    report.observations = int(inv.pair_samples.sum())
    report.viewers = len(inv.viewers)
    report.sessions = inv.n_sessions
    return report
