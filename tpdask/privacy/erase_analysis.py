"""Taking one viewer out of the analyser's own files (``lake/analysis/``), consistently with
what the next ``analyse`` does.

- **Contributions** of a day (``contrib/day=<day>/``) are derived from one lake run of
  the day; those holding the viewer are deleted whole. The erasure gave that day's lake a
  new run, so ``analyse`` computes them again from the erased lake anyway.
- **State**: the viewer's state bucket (``state/bucket=<b>/``, b = its hash bucket) loses
  the viewer's rows (``viewers.parquet``, ``pairs.parquet``, each rewritten atomically,
  its metadata kept). The state stays readable; its days now have new lake runs, so the
  next ``analyse`` rebuilds the bucket from every day's contributions and compares the old
  state with the new one, as for a day processed again.
- What a killed ``analyse`` left (``.``-folders beside them, ``tmp/analyse-*``) goes.

Only files of the viewer's bucket are read: every file of the analyser is partitioned by
the same viewer hash.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis import STATE_BUCKETS
from tpdask.process.lake import write_parquet
from tpdask.process.partition import bucket_of


@dataclass
class AnalysisChange:
    contrib_days: list[str]      # days whose contributions were deleted
    state_rows: int              # rows removed from the state (viewers and pairs)
    leftovers: int               # folders of killed analyse runs removed


def _buckets(identifiers: set[str]) -> set[int]:
    return set(bucket_of(pa.array(sorted(identifiers), pa.string()), STATE_BUCKETS).tolist())


def _mask(table: pa.Table, ids: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.is_in(table.column("viewer"), value_set=ids), False),
                      dtype=bool)


def erase_analysis(data_dir: Path, scratch_dir: Path, identifiers: set[str]) -> AnalysisChange:
    """Remove ``identifiers`` from the contributions and the state; call it holding the
    analyse lock (no analyse may run meanwhile)."""
    root = Path(data_dir) / "lake" / "analysis"
    ids = pa.array(sorted(identifiers), pa.string())
    buckets = _buckets(identifiers)
    leftovers = [p for sub in ("contrib", "state") if (root / sub).is_dir()
                 for p in (root / sub).glob(".*") if p.is_dir()]
    leftovers += list(Path(scratch_dir).glob("analyse-*"))
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    days = []
    for folder in sorted((root / "contrib").glob("day=*")) if (root / "contrib").is_dir() else []:
        files = [f for b in buckets for f in folder.glob(f"*-b{b:03d}-p*.parquet")]
        if any(_mask(pq.read_table(f, columns=["viewer"]), ids).any() for f in files
               if "viewer" in pq.read_schema(f).names):
            shutil.rmtree(folder)
            days.append(folder.name.removeprefix("day="))
    rows = 0
    for b in sorted(buckets):
        folder = root / "state" / f"bucket={b:03d}"
        for name in ("viewers.parquet", "pairs.parquet"):
            path = folder / name
            if not path.exists():
                continue
            table = pq.read_table(path)
            mask = _mask(table, ids)
            if mask.any():
                rows += int(mask.sum())
                write_parquet(folder, name, table.filter(pa.array(~mask)))
    return AnalysisChange(contrib_days=days, state_rows=rows, leftovers=len(leftovers))
