"""Taking one viewer out of a day of the lake, so that the day reads as if the day job had
processed it with the viewer on the suppression list.

- ``viewer_days``: the viewer's record goes (the part holding it is rewritten);
- ``streams``: ``chatters`` (distinct valid logins at a sample) loses one at each sample
  and stream where the viewer was listed — P(v,s), rebuilt from the record's sessions and
  the day's T, as the analyser does;
- ``chatter_ids``: the viewer's (viewer, user_id) rows go;
- ``times``: the same T, under a **new run id**: the day was rewritten, so every result that
  read it is out of date (:mod:`tpdask.analysis.basis`) until ``analyse`` makes it again.

Atomic as the day job's publishing is: each table's new day folder is written whole under
``lake/<table>/.erase-<day>.<run>/`` (parts the erasure does not touch are hard links of
the old ones: lake files are never changed in place), fsynced, then swapped in by two
renames per table, ``times`` last. The erase journal records the run before anything is
written, so a killed erasure run again finishes the swaps (or, if the day was processed
again meanwhile, starts that day afresh); the day job never takes these folders for its own
leftovers.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.files import fsync_dir
from tpdask.process import lake

#: Tables in the order they are swapped in; ``times`` (the run id) last.
ORDER = ("viewer_days", "streams", "chatter_ids", "times")


def erase_dir(lake_dir: Path, table: str, day: str, run: str) -> Path:
    return Path(lake_dir) / table / f".erase-{day}.{run}"


@dataclass
class LakeChange:
    """What the rewrite of one day removed."""

    records: int = 0             # viewer_days rows
    sessions: int = 0            # of those records
    streams_rows: int = 0        # streams rows whose chatters went down
    ids_rows: int = 0            # chatter_ids rows

    def __bool__(self) -> bool:
        return bool(self.records or self.ids_rows)


def _parts(lake_dir: Path, table: str, day: str) -> list[Path]:
    folder = lake.day_dir(lake_dir, table, day)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _viewer_mask(path: Path, ids: pa.Array) -> np.ndarray:
    column = pq.read_table(path, columns=["viewer"]).column("viewer")
    return np.asarray(pc.fill_null(pc.is_in(column, value_set=ids), False), dtype=bool)


def holds(lake_dir: Path, day: str, identifiers: set[str]) -> bool:
    """Whether the published day names any of ``identifiers`` (viewer_days, chatter_ids)."""
    ids = pa.array(sorted(identifiers), pa.string())
    return any(_viewer_mask(p, ids).any() for table in ("viewer_days", "chatter_ids")
               for p in _parts(lake_dir, table, day))


def prepare(lake_dir: Path, day: str, identifiers: set[str], run: str) -> LakeChange:
    """Write the day without ``identifiers`` into each table's ``.erase-<day>.<run>`` folder.

    Reads the published day only; what it writes is invisible until :func:`publish`. Run
    again, it writes the same folders afresh.
    """
    discard(lake_dir, day)
    ids = pa.array(sorted(identifiers), pa.string())
    change = LakeChange()
    times = np.asarray(lake.read_times(lake_dir, day), dtype=np.int64)
    present: Counter = Counter()               # (ts, streamer) → identifiers listed there
    out = erase_dir(lake_dir, "viewer_days", day, run)
    for part in _parts(lake_dir, "viewer_days", day):
        mask = _viewer_mask(part, ids)
        if not mask.any():
            _link(part, out)
            continue
        table = pq.read_table(part)
        for record in table.filter(pa.array(mask)).to_pylist():
            change.records += 1
            for entry in record["streamers"]:
                for start, end in entry["sessions"]:
                    change.sessions += 1
                    first, last = np.searchsorted(times, [start, end])
                    for ts in times[first:last + 1].tolist():
                        present[(ts, entry["streamer"])] += 1
        lake.write_parquet(out, part.name, table.filter(pa.array(~mask)))
    out = erase_dir(lake_dir, "streams", day, run)
    for part in _parts(lake_dir, "streams", day):
        table = pq.read_table(part)
        drop = np.array([present.get((ts, s), 0) for ts, s in zip(
            table.column("ts").to_pylist(), table.column("streamer").to_pylist())],
            dtype=np.int64) if present else np.zeros(0)
        if not drop.any():
            _link(part, out)
            continue
        change.streams_rows += int((drop > 0).sum())
        chatters = np.asarray(table.column("chatters").fill_null(0), dtype=np.int64)
        index = table.schema.get_field_index("chatters")
        table = table.set_column(index, table.schema.field(index),
                                 pa.array(np.maximum(chatters - drop, 0), pa.int64()))
        lake.write_parquet(out, part.name, table)
    out = erase_dir(lake_dir, "chatter_ids", day, run)
    for part in _parts(lake_dir, "chatter_ids", day):
        mask = _viewer_mask(part, ids)
        if not mask.any():
            _link(part, out)
            continue
        change.ids_rows += int(mask.sum())
        lake.write_parquet(out, part.name, pq.read_table(part).filter(pa.array(~mask)))
    lake.write_parquet(erase_dir(lake_dir, "times", day, run), "times.parquet", pa.table(
        {"ts": pa.array(times, pa.int64())}, schema=lake.TIMES_SCHEMA.with_metadata({"run": run})))
    for table_name in ORDER:
        folder = erase_dir(lake_dir, table_name, day, run)
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            _fsync(path)
        fsync_dir(folder)
    return change


def publish(lake_dir: Path, day: str, run: str,
            after_first: Callable[[], None] = lambda: None) -> None:
    """Swap in each table's prepared folder that is still there, ``times`` last (what a
    killed run already swapped is not there any more)."""
    swapped = 0
    for table in ORDER:
        new = erase_dir(lake_dir, table, day, run)
        if new.is_dir():
            lake.swap_dir(new, lake.day_dir(lake_dir, table, day))
            swapped += 1
            if swapped == 1:
                after_first()
    discard(lake_dir, day)


def discard(lake_dir: Path, day: str) -> None:
    """Remove every ``.erase-<day>.*`` folder (prepared, or left by a swap)."""
    for table in ORDER:
        folder = Path(lake_dir) / table
        for path in folder.glob(f".erase-{day}.*") if folder.is_dir() else ():
            shutil.rmtree(path, ignore_errors=True)


def prepared(lake_dir: Path, day: str, run: str) -> bool:
    """Whether the run's folders are all there (written whole before the journal said so)."""
    return all(erase_dir(lake_dir, table, day, run).is_dir() for table in ORDER)


def describe(lake_dir: Path, day: str) -> dict[str, dict[str, list[int]]]:
    """table → part → [rows, bytes] of the published day (as the job ledger keeps a run's)."""
    return {table: {p.name: [pq.read_metadata(p).num_rows, p.stat().st_size]
                    for p in _parts(lake_dir, table, day)} for table in lake.TABLES}


def _link(part: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / part.name
    target.unlink(missing_ok=True)
    try:
        os.link(part, target)
    except OSError:                  # a file system without hard links: a copy then
        shutil.copy2(part, target)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
