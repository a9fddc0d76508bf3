"""Phase B of the analyser: merge days' contributions into one state bucket.

A bucket's state (``lake/analysis/state/bucket=<b>/``) is mergeable by construction:

- ``viewers.parquet``: per viewer, first_day (min), last_day (max), days_active (sum),
  minutes (sum), hours (24 sums) and bot (union of reasons);
- ``pairs.parquet``: per viewer and streamer, minutes (sum) and first_day (min), which
  gives both the profile's streamers and whether a viewer is new to a streamer;
- the days merged, with the lake run each came from, in the files' metadata.

Merging a day is keyed by the day, so merging in any order gives the same state, and a
day already merged from the same run is skipped. A day processed again (another run) or
gone from the lake makes the bucket rebuild from every day's contributions.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis.contributions import PAIRS_SCHEMA, VIEWERS_SCHEMA
from tpdask.log import StepTimer
from tpdask.process.lake import swap_dir, write_parquet

STATE_VIEWERS = pa.schema([
    ("viewer", pa.string()), ("first_day", pa.string()), ("last_day", pa.string()),
    ("days_active", pa.int64()), ("minutes", pa.float64()),
    ("hours", pa.list_(pa.float64(), 24)), ("bot", pa.list_(pa.string())),
])
STATE_PAIRS = pa.schema([
    ("viewer", pa.string()), ("streamer", pa.string()), ("minutes", pa.float64()),
    ("first_day", pa.string()),
])
TOP_STREAMERS = 10


@dataclass(frozen=True)
class MergeTask:
    bucket: int
    state_dir: str                       # lake/analysis/state
    days: tuple[tuple[str, str, str], ...]   # every processed day: (day, lake run, contrib dir)
    report_days: tuple[str, ...]         # days whose new/returning viewers are wanted
    out_dir: str                         # where this run leaves the encoded profiles
    run: str


@dataclass
class MergeReport:
    bucket: int
    merged: list = field(default_factory=list)       # days merged in this run
    rebuilt: bool = False
    profiles: int = 0                                # profiles encoded for the store
    staged: str | None = None        # the new state folder, swapped in once profiles are stored
    new_returning: dict = field(default_factory=dict)  # day → streamer → [new, returning]
    seconds: dict = field(default_factory=dict)        # merge, profiles, store, new_returning


def bucket_dir(state_dir: str, bucket: int) -> Path:
    return Path(state_dir) / f"bucket={bucket:03d}"


def read_state(folder: Path) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """The bucket's viewers and pairs tables, and the days merged into them (day → run)."""
    if not (folder / "viewers.parquet").exists():
        return STATE_VIEWERS.empty_table(), STATE_PAIRS.empty_table(), {}
    viewers = pq.read_table(folder / "viewers.parquet")
    merged = json.loads((viewers.schema.metadata or {}).get(b"merged", b"{}"))
    return viewers.cast(STATE_VIEWERS), pq.read_table(folder / "pairs.parquet"), merged


def merge_bucket(task: MergeTask) -> MergeReport:
    """Bring one bucket's state up to date with the lake; write the profiles that changed."""
    report = MergeReport(bucket=task.bucket)
    lap = StepTimer(report.seconds).lap

    folder = bucket_dir(task.state_dir, task.bucket)
    viewers, pairs, merged = read_state(folder)
    current = {day: run for day, run, _ in task.days}
    if any(current.get(day) != run for day, run in merged.items()):
        viewers, pairs, merged = STATE_VIEWERS.empty_table(), STATE_PAIRS.empty_table(), {}
        report.rebuilt = True
    todo = [(day, run, contrib) for day, run, contrib in task.days if merged.get(day) != run]
    if todo:
        day_viewers = [_day_viewers(day, contrib, task.bucket) for day, _, contrib in todo]
        day_pairs = [_day_pairs(day, contrib, task.bucket) for day, _, contrib in todo]
        viewers = merge_viewers([viewers, *day_viewers])
        pairs = merge_pairs([pairs, *day_pairs])
        merged.update((day, run) for day, run, _ in todo)
        report.staged = str(_stage_state(folder, task.run, viewers, pairs, merged))
        report.merged = [day for day, _, _ in todo]
        lap("merge")
        docs = profile_docs(viewers, pairs, pa.concat_tables(day_viewers).column("viewer"))
        lap("profiles")
        report.profiles = _write_encoded(task.out_dir, task.bucket, docs)
        lap("encode")
    contrib_of = {day: contrib for day, _, contrib in task.days}
    for day in task.report_days:
        report.new_returning[day] = new_and_returning(
            _read(contrib_of[day], "pairs", task.bucket, PAIRS_SCHEMA), pairs, day)
    lap("new_returning")
    return report


def _read(contrib: str, kind: str, bucket: int, schema: pa.Schema) -> pa.Table:
    files = sorted(Path(contrib).glob(f"{kind}-b{bucket:03d}-p*.parquet"))
    tables = [pq.read_table(f).cast(schema) for f in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _day_viewers(day: str, contrib: str, bucket: int) -> pa.Table:
    t = _read(contrib, "viewers", bucket, VIEWERS_SCHEMA)
    days = pa.array([day] * len(t), pa.string())
    return pa.table({"viewer": t.column("viewer"), "first_day": days, "last_day": days,
                     "days_active": pa.array(np.ones(len(t), dtype=np.int64)),
                     "minutes": t.column("minutes"), "hours": t.column("hours"),
                     "bot": t.column("reasons")}, schema=STATE_VIEWERS)


def _day_pairs(day: str, contrib: str, bucket: int) -> pa.Table:
    t = _read(contrib, "pairs", bucket, PAIRS_SCHEMA)
    return pa.table({"viewer": t.column("viewer"), "streamer": t.column("streamer"),
                     "minutes": t.column("minutes"),
                     "first_day": pa.array([day] * len(t), pa.string())}, schema=STATE_PAIRS)


def merge_viewers(tables: list[pa.Table]) -> pa.Table:
    """Per viewer: min first_day, max last_day, summed days/minutes/hours, union of reasons."""
    t = pa.concat_tables(tables)
    sums = t.group_by("viewer").aggregate([
        ("first_day", "min"), ("last_day", "max"), ("days_active", "sum"), ("minutes", "sum")])
    sums = sums.sort_by("viewer")
    viewer = sums.column("viewer").combine_chunks()
    code = np.asarray(pc.index_in(t.column("viewer"), value_set=viewer))
    rows = np.asarray(t.column("hours").combine_chunks().flatten()).reshape(-1, 24)
    hours = np.stack([np.bincount(code, weights=rows[:, h], minlength=len(viewer))
                      for h in range(24)], axis=1)
    reasons: list[set] = [set() for _ in range(len(viewer))]
    bot = t.column("bot").combine_chunks()
    for i in np.flatnonzero(np.asarray(pc.list_value_length(bot).fill_null(0)) > 0).tolist():
        reasons[code[i]].update(bot[i].as_py())
    return pa.table({
        "viewer": viewer, "first_day": sums.column("first_day_min"),
        "last_day": sums.column("last_day_max"), "days_active": sums.column("days_active_sum"),
        "minutes": sums.column("minutes_sum"),
        "hours": pa.FixedSizeListArray.from_arrays(pa.array(hours.ravel()), 24),
        "bot": pa.array([sorted(r) for r in reasons], pa.list_(pa.string())),
    }, schema=STATE_VIEWERS)


def merge_pairs(tables: list[pa.Table]) -> pa.Table:
    t = pa.concat_tables(tables)
    merged = t.group_by(["viewer", "streamer"]).aggregate([("minutes", "sum"), ("first_day", "min")])
    merged = merged.rename_columns(["viewer", "streamer", "minutes", "first_day"])
    return merged.sort_by([("viewer", "ascending"), ("streamer", "ascending")]).cast(STATE_PAIRS)


def new_and_returning(day_pairs: pa.Table, state_pairs: pa.Table, day: str) -> dict:
    """streamer → [new, returning] over the day's non-bot viewers: new when the viewer's
    first day with the streamer (over every merged day) is this day."""
    viewers = day_pairs.filter(pc.invert(day_pairs.column("bot"))).select(["viewer", "streamer"])
    joined = viewers.join(state_pairs.select(["viewer", "streamer", "first_day"]),
                          ["viewer", "streamer"], join_type="left outer")
    is_new = pc.fill_null(pc.equal(joined.column("first_day"), day), True)
    counted = pa.table({"streamer": joined.column("streamer"), "new": is_new.cast(pa.int64()),
                        "one": pa.array(np.ones(len(joined), dtype=np.int64))}).group_by(
        "streamer").aggregate([("new", "sum"), ("one", "sum")])
    return {s: [n, total - n] for s, n, total in zip(counted.column("streamer").to_pylist(),
                                                     counted.column("new_sum").to_pylist(),
                                                     counted.column("one_sum").to_pylist())}


def _stage_state(folder: Path, run: str, viewers: pa.Table, pairs: pa.Table,
                 merged: dict[str, str]) -> Path:
    """Write the bucket's new state beside the old one; :func:`publish_state` swaps it in
    after the profiles it produced are in the store, so a kill in between leaves the old
    state, and the next run merges (and stores) the same days again."""
    new = folder.with_name(f".{folder.name}.{run}")
    meta = {"merged": json.dumps(dict(sorted(merged.items())))}
    write_parquet(new, "viewers.parquet", viewers.replace_schema_metadata(meta))
    write_parquet(new, "pairs.parquet", pairs)
    return new


def publish_state(staged: str) -> None:
    new = Path(staged)
    swap_dir(new, new.with_name(new.name.split(".")[1]))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _numbers(values: np.ndarray) -> list:
    """A float array as Python numbers, int where whole (fast when all are whole)."""
    if (values == np.floor(values)).all():
        return values.astype(np.int64).tolist()
    return [_number(v) for v in values.tolist()]


def profile_docs(viewers: pa.Table, pairs: pa.Table, only: pa.Array | None = None) -> dict:
    """viewer → its profile document (the analytics contract's fields).

    Vectorised where it counts: the top streamers are ranked with one sort, hours and
    minutes converted as arrays; only the documents themselves are built in Python.
    """
    if only is not None:
        keep = pc.unique(only)
        viewers = viewers.filter(pc.is_in(viewers.column("viewer"), value_set=keep))
        pairs = pairs.filter(pc.is_in(pairs.column("viewer"), value_set=keep))
    names = viewers.column("viewer").combine_chunks()
    top, total = _top_streamers(pairs, names)
    hours = np.asarray(viewers.column("hours").combine_chunks().flatten()).reshape(-1, 24)
    hour_values = _numbers(hours.ravel())
    minutes = _numbers(np.asarray(viewers.column("minutes"), dtype=np.float64))
    columns = zip(names.to_pylist(), viewers.column("first_day").to_pylist(),
                  viewers.column("last_day").to_pylist(),
                  viewers.column("days_active").to_pylist(), minutes,
                  viewers.column("bot").to_pylist())
    docs = {}
    for i, (viewer, first, last, days, mins, bot) in enumerate(columns):
        ranked = top[i]
        docs[viewer] = {
            "viewer": viewer, "first_day": first, "last_day": last, "days_active": days,
            "minutes": mins, "streamers": dict(ranked),
            "main_streamer": ranked[0][0] if ranked else None,
            "loyalty": ranked[0][1] / total[i] if ranked and total[i] else None,
            "hours": hour_values[24 * i: 24 * i + 24], "bot": bot or None,
        }
    return docs


def _top_streamers(pairs: pa.Table, names: pa.Array) -> tuple[list[list], list[float]]:
    """Per viewer of ``names`` (in order): its TOP_STREAMERS (streamer, minutes) by minutes,
    ties by login; and its minutes over all its streamers."""
    code = np.asarray(pc.index_in(pairs.column("viewer"), value_set=names))
    minutes = np.asarray(pairs.column("minutes"), dtype=np.float64)
    total = np.bincount(code, weights=minutes, minlength=len(names)).tolist()
    streamer = pairs.column("streamer").combine_chunks()
    login_rank = np.empty(len(streamer), dtype=np.int64)
    login_rank[np.asarray(pc.sort_indices(streamer))] = np.arange(len(streamer))
    order = np.lexsort((login_rank, -minutes, code))
    code = code[order]
    rank = np.arange(len(code)) - np.searchsorted(code, code)
    keep = order[rank < TOP_STREAMERS]
    top: list[list] = [[] for _ in range(len(names))]
    for c, s, m in zip(code[rank < TOP_STREAMERS].tolist(),
                       streamer.take(pa.array(keep)).to_pylist(), _numbers(minutes[keep])):
        top[c].append((s, m))
    return top, total


PROFILES_SCHEMA = pa.schema([("key", pa.string()), ("doc", pa.string())])


def _write_encoded(out_dir: str, bucket: int, docs: dict) -> int:
    """The bucket's profiles as (viewer, JSON) rows for the one writer that stores them."""
    table = pa.table({"key": list(docs),
                      "doc": [orjson.dumps(doc).decode() for doc in docs.values()]},
                     schema=PROFILES_SCHEMA)
    write_parquet(out_dir, f"profiles-b{bucket:03d}.parquet", table)
    return len(docs)


@dataclass(frozen=True)
class LoadTask:
    files: tuple[str, ...]
    store: str


def load_profiles(task: LoadTask) -> int:
    """Store the encoded profiles of every bucket with one writer, in viewer order.

    Each bucket's file is sorted by viewer; they are merged into one sorted stream, since
    SQLite upserts keys in order about 10x faster than keys spread over the index
    (measured: 300K documents into 300K, 3.7 s sorted against 33.6 s scattered).
    """
    from tpdask.stores import store_for

    store = store_for(task.store)
    rows = heapq.merge(*(_encoded_rows(path) for path in task.files))
    written = 0
    for batch in iter(lambda: list(itertools.islice(rows, LOAD_BATCH)), []):
        written += store.upsert_encoded_results("profiles", "", batch)
    return written


LOAD_BATCH = 20_000


def _encoded_rows(path: str) -> Iterator[tuple[str, str]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=LOAD_BATCH):
        yield from zip(batch.column("key").to_pylist(), batch.column("doc").to_pylist())
