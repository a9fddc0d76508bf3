"""Phase A of the analyser: one lake part of a day → that day's contributions.

A lake part holds whole viewers (the day job partitions by viewer), so everything per
viewer — what the bot rules read, its hours of day — is computed here exactly. Sessions
are runs of consecutive sample indexes k, so each session [T[a], T[b]] gives back k =
a..b; from those (viewer, streamer, k) rows come the concurrency of each k and the
viewer's union.

Outputs, hash-partitioned by viewer into the analyser's state buckets:

- ``viewers-b<bucket>-p<part>.parquet``: viewer, minutes (the viewer-day's), hours (24
  minutes per UTC hour), samples (the viewer-day's), peak_streams (the most streams that
  listed the viewer at one sample);
- ``pairs-b<bucket>-p<part>.parquet``: viewer, streamer, minutes — every viewer-streamer
  pair of the day except a streamer in its own chat.

They hold measures, not verdicts: the bot rules are applied to them when results are made
(:mod:`tpdask.analysis.bots`), so contributions depend on the lake alone and a change of
the bot settings never needs them again. ``_day.json`` (:func:`write_day_manifest`),
written last, names the lake run they were computed from and every file with its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis import presence
from tpdask.days import day_bounds
from tpdask.files import atomic_write
from tpdask.process.lake import STREAMS_SCHEMA, write_parquet
from tpdask.process.partition import bucket_of

VIEWERS_SCHEMA = pa.schema([
    ("viewer", pa.string()), ("minutes", pa.float64()),
    ("hours", pa.list_(pa.float64(), 24)), ("samples", pa.int64()),
    ("peak_streams", pa.int64()),
])
PAIRS_SCHEMA = pa.schema([
    ("viewer", pa.string()), ("streamer", pa.string()), ("minutes", pa.float64()),
])

#: The layout of the files above; contributions of another format are computed again.
FORMAT = 3
MANIFEST = "_day.json"


@dataclass(frozen=True)
class ContributionTask:
    day: str
    part: str                    # a lake viewer_days part file
    times: tuple[int, ...]       # the day's T
    interval: int
    out_dir: str                 # the run's contributions folder of the day
    buckets: int
    streams_dir: str             # the day's lake streams table (the broadcasts' rows)


@dataclass
class ContributionReport:
    viewers: int = 0
    streamers: list = field(default_factory=list)     # every streamer with a record


@dataclass
class _Flat:
    """A lake part flattened: one row per viewer, per (viewer, streamer) pair, per k."""

    viewers: pa.Array            # string, one per viewer row
    minutes: np.ndarray          # viewer-day minutes
    samples: np.ndarray          # viewer-day samples
    pair_viewer: np.ndarray      # viewer row of each pair
    pair_streamer: pa.Array      # string
    pair_minutes: np.ndarray
    k_viewer: np.ndarray         # viewer row of each (pair, k) membership
    k: np.ndarray                # its sample index
    k_pair: np.ndarray           # its pair


def flatten(table: pa.Table, times: np.ndarray) -> _Flat:
    streamers = table.column("streamers").combine_chunks()
    pair_viewer = np.asarray(pc.list_parent_indices(streamers))
    pairs = streamers.flatten()
    sessions = pairs.field("sessions")
    session_pair = np.asarray(pc.list_parent_indices(sessions))
    bounds = np.asarray(sessions.flatten().flatten()).reshape(-1, 2)
    first = np.searchsorted(times, bounds[:, 0])
    lengths = np.searchsorted(times, bounds[:, 1]) - first + 1
    starts = np.cumsum(lengths) - lengths
    k = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts - first, lengths)
    return _Flat(
        viewers=table.column("viewer").combine_chunks(),
        minutes=np.asarray(table.column("minutes"), dtype=np.float64),
        samples=np.asarray(table.column("samples"), dtype=np.int64),
        pair_viewer=pair_viewer,
        pair_streamer=pairs.field("streamer"),
        pair_minutes=np.asarray(pairs.field("minutes"), dtype=np.float64),
        k_viewer=np.repeat(pair_viewer[session_pair], lengths),
        k=k,
        k_pair=np.repeat(session_pair, lengths),
    )


def _union(flat: _Flat, n_times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (viewer, k) of the day, with how many streams listed the viewer at that k."""
    keys = flat.k_viewer.astype(np.int64) * max(n_times, 1) + flat.k
    keys.sort()
    if len(keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    distinct = keys[starts]
    return distinct // max(n_times, 1), distinct % max(n_times, 1), counts


#: The public name of :func:`_union` (the research export reads the same measures).
union_of = _union


def peak_streams(flat: _Flat, union: tuple) -> np.ndarray:
    """Per viewer row, the most streams that listed the viewer at one sample."""
    union_viewer, _, streams_at_k = union
    most = np.zeros(len(flat.viewers), dtype=np.int64)
    np.maximum.at(most, union_viewer, streams_at_k)
    return most


def hours_of_day(flat: _Flat, union: tuple, times: np.ndarray, interval: int) -> np.ndarray:
    """(viewers, 24) minutes per UTC hour, each k of the viewer's union at the hour of T[k]."""
    union_viewer, union_k, _ = union
    hour = (times[union_k] % 86400) // 3600
    counts = np.bincount(union_viewer * 24 + hour, minlength=len(flat.viewers) * 24)
    return counts.reshape(-1, 24) * (interval / 60)


def contribute(task: ContributionTask) -> ContributionReport:
    """Run phase A on one lake part; writes its contribution files, returns the tallies."""
    table = pq.read_table(task.part)
    times = np.asarray(task.times, dtype=np.int64)
    flat = flatten(table, times)
    union = _union(flat, len(times))
    hours = hours_of_day(flat, union, times, task.interval)
    viewers = pa.table({
        "viewer": flat.viewers, "minutes": pa.array(flat.minutes),
        "hours": pa.FixedSizeListArray.from_arrays(pa.array(hours.ravel(), pa.float64()), 24),
        "samples": pa.array(flat.samples), "peak_streams": pa.array(peak_streams(flat, union)),
    }, schema=VIEWERS_SCHEMA)
    pair_viewer_names = flat.viewers.take(pa.array(flat.pair_viewer))
    own = np.asarray(pc.equal(pair_viewer_names, flat.pair_streamer), dtype=bool)
    pairs = pa.table({
        "viewer": pair_viewer_names, "streamer": flat.pair_streamer,
        "minutes": pa.array(flat.pair_minutes),
    }, schema=PAIRS_SCHEMA).filter(pa.array(~own))
    _write_by_bucket(task, "viewers", viewers)
    _write_by_bucket(task, "pairs", pairs)
    _presence(task, flat, times)
    return ContributionReport(viewers=len(flat.viewers),
                              streamers=pc.unique(flat.pair_streamer).to_pylist())


def _presence(task: ContributionTask, flat: _Flat, times: np.ndarray) -> None:
    """The Insight contract's part of the day (:mod:`tpdask.analysis.presence`)."""
    files = sorted(Path(task.streams_dir).glob("*.parquet"))
    streams = (pa.concat_tables([pq.read_table(f).cast(STREAMS_SCHEMA) for f in files])
               if files else STREAMS_SCHEMA.empty_table())
    m = presence.Memberships(flat.viewers, flat.k_viewer, flat.k, flat.pair_streamer,
                             flat.k_pair)
    for kind, table in presence.part_tables(m, streams, times, day_bounds(task.day)[0]).items():
        _write_by_bucket(task, kind, table)


def _write_by_bucket(task: ContributionTask, kind: str, table: pa.Table) -> None:
    """One file per state bucket, always (so a re-run task replaces exactly its files)."""
    bucket = bucket_of(table.column("viewer").combine_chunks(), task.buckets) if len(table) \
        else np.zeros(0, dtype=np.int32)
    part = Path(task.part).stem.removeprefix("part-")
    for b in range(task.buckets):
        rows = table.filter(pa.array(bucket == b))
        write_parquet(task.out_dir, f"{kind}-b{b:03d}-p{part}.parquet", rows)


def write_day_manifest(folder: Path, run: str, reports: list[ContributionReport]) -> None:
    """Write ``_day.json`` last: the lake run, the day's counts, every file and its size."""
    files = {p.name: p.stat().st_size for p in sorted(folder.glob("*.parquet"))}
    manifest = {"format": FORMAT, "run": run, "viewers": sum(r.viewers for r in reports),
                "streamers": sorted({s for r in reports for s in r.streamers}), "files": files}
    atomic_write(folder / MANIFEST, orjson.dumps(manifest))


def read_day_manifest(folder: Path) -> dict | None:
    """The day's manifest when its contributions are whole (every file there with its
    size, in this format); None when missing, of another format, or incomplete."""
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())
        if manifest.get("format") != FORMAT:
            return None
        for name, size in manifest["files"].items():
            if (folder / name).stat().st_size != size:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest
