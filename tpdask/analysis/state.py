"""Phase B of the analyser: merge days' contributions into one state bucket, and find what
that changes in the published results.

A bucket's state (``lake/analysis/state/bucket=<b>/``) is mergeable by construction:

- ``viewers.parquet``: per viewer, first_day (min), last_day (max), days_active (sum),
  minutes (sum), hours (24 sums), and the largest samples and peak_streams of any of its
  days (max: what the bot rules read, see :mod:`tpdask.analysis.bots`);
- ``pairs.parquet``: per viewer and streamer, minutes (sum) and first_day (min), which
  gives both the profile's streamers and whether a viewer is new to a streamer;
- in the files' metadata: the days merged with the lake run each came from, and the bot
  settings the published profiles were made with.

Merging a day is keyed by the day, so days merge in any order (a backfill of an earlier
day is one more merge), and a day already merged from the same run is skipped. A day
processed again, or gone from the lake, makes the bucket rebuild from every day's
contributions; so does a state file that cannot be read (the state is derived data).
The merge then says which viewers' profiles changed (and which are gone), and computes
the bots and streamer tallies of the days whose results must be made again
(:mod:`tpdask.analysis.daily`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis import daily, profiles
from tpdask.analysis.contributions import PAIRS_SCHEMA, VIEWERS_SCHEMA
from tpdask.log import StepTimer
from tpdask.process.lake import swap_dir, write_parquet
from tpdask.settings import BotRules

STATE_VIEWERS = pa.schema([
    ("viewer", pa.string()), ("first_day", pa.string()), ("last_day", pa.string()),
    ("days_active", pa.int64()), ("minutes", pa.float64()),
    ("hours", pa.list_(pa.float64(), 24)), ("samples", pa.int64()),
    ("peak_streams", pa.int64()),
])
STATE_PAIRS = pa.schema([
    ("viewer", pa.string()), ("streamer", pa.string()), ("minutes", pa.float64()),
    ("first_day", pa.string()),
])

#: The layout of the state files; a state of another format is rebuilt.
FORMAT = "2"


@dataclass(frozen=True)
class MergeTask:
    bucket: int
    state_dir: str                       # lake/analysis/state
    days: tuple[tuple[str, str, str], ...]   # every processed day: (day, lake run, contrib dir)
    report_days: tuple[str, ...]         # days whose bots and streamer tallies are made again
    out_dir: str                         # where this run leaves the encoded profiles
    run: str
    rules: BotRules
    interval: int


@dataclass
class MergeReport:
    bucket: int
    merged: list = field(default_factory=list)       # days merged in this run
    rebuilt: str | None = None       # why the bucket was rebuilt from every day (None: it was not)
    profiles: int = 0                                # profiles encoded for the store
    deleted: list = field(default_factory=list)      # viewers no longer in any record
    staged: str | None = None        # the new state folder, swapped in once results are stored
    days: dict = field(default_factory=dict)         # report day → daily.DayTally
    seconds: dict = field(default_factory=dict)


@dataclass
class _State:
    viewers: pa.Table
    pairs: pa.Table
    merged: dict[str, str]                   # day → lake run
    rules: BotRules | None                   # the published profiles' bot settings


def bucket_dir(state_dir: str, bucket: int) -> Path:
    return Path(state_dir) / f"bucket={bucket:03d}"


def _empty() -> _State:
    return _State(STATE_VIEWERS.empty_table(), STATE_PAIRS.empty_table(), {}, None)


def read_state(folder: Path) -> tuple[_State, str | None]:
    """The bucket's state, and why it cannot be used (None when it can): it is missing
    (a new bucket: not a problem), of an older format, or unreadable."""
    if not (folder / "viewers.parquet").exists():
        return _empty(), None
    try:
        viewers = pq.read_table(folder / "viewers.parquet")
        meta = viewers.schema.metadata or {}
        if meta.get(b"format", b"").decode() != FORMAT:
            return _empty(), "its state was written by an older version"
        pairs = pq.read_table(folder / "pairs.parquet")
        merged = json.loads(meta[b"merged"])
        rules = json.loads(meta[b"rules"])
        return _State(viewers.cast(STATE_VIEWERS), pairs.cast(STATE_PAIRS), merged,
                      BotRules(rules["concurrent"], rules["hours"], tuple(rules["known"]))), None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        return _empty(), f"its state could not be read ({type(exc).__name__}: {exc})"


def merge_bucket(task: MergeTask) -> MergeReport:
    """Bring one bucket's state up to date with the lake; encode the profiles that changed
    and tally the report days."""
    report = MergeReport(bucket=task.bucket)
    lap = StepTimer(report.seconds).lap
    folder = bucket_dir(task.state_dir, task.bucket)
    old, unusable = read_state(folder)
    current = {day: run for day, run, _ in task.days}
    base = old
    if unusable is not None:
        report.rebuilt = unusable
        base = _empty()
    elif any(current.get(day) != run for day, run in old.merged.items()):
        report.rebuilt = "a day was processed again or left the lake"
        base = _empty()
    todo = [(day, run, contrib) for day, run, contrib in task.days if base.merged.get(day) != run]
    day_viewers = [_day_viewers(day, contrib, task.bucket) for day, _, contrib in todo]
    new = _State(
        merge_viewers([base.viewers, *day_viewers]) if todo else base.viewers,
        merge_pairs([base.pairs, *[_day_pairs(d, c, task.bucket) for d, _, c in todo]])
        if todo else base.pairs,
        {**base.merged, **{day: run for day, run, _ in todo}}, task.rules)
    report.merged = [day for day, _, _ in todo]
    lap("merge")
    changed, report.deleted = _changed_viewers(old, new, day_viewers, report.rebuilt, task)
    if todo or report.rebuilt or old.rules != task.rules:
        report.staged = str(_stage_state(folder, task.run, new))
    docs = profiles.profile_docs(new.viewers, new.pairs, task.rules, task.interval, changed)
    report.profiles = profiles.write_encoded(task.out_dir, task.bucket, docs)
    lap("profiles")
    contrib_of = {day: contrib for day, _, contrib in task.days}
    for day in task.report_days:
        report.days[day] = daily.tally(
            _read(contrib_of[day], "viewers", task.bucket, VIEWERS_SCHEMA),
            _read(contrib_of[day], "pairs", task.bucket, PAIRS_SCHEMA),
            new.pairs, day, task.rules, task.interval)
    lap("days")
    return report


def _changed_viewers(old: _State, new: _State, day_viewers: list[pa.Table],
                     rebuilt: str | None, task: MergeTask) -> tuple[pa.Array, list[str]]:
    """The viewers whose profile changed, and those whose profile must go."""
    names = new.viewers.column("viewer").combine_chunks()
    if rebuilt is not None:     # anything may have changed: compare the whole states
        changed = profiles.changed_rows(old.viewers, old.pairs, new.viewers, new.pairs)
        gone = pc.filter(old.viewers.column("viewer"), pc.invert(
            pc.is_in(old.viewers.column("viewer"), value_set=names))).to_pylist()
    else:                       # merging only adds days: their viewers changed
        merged = [t.column("viewer").combine_chunks() for t in day_viewers]
        changed = pc.unique(pa.concat_arrays(merged)) if merged else pa.array([], pa.string())
        gone = []
    if old.rules is not None and old.rules != task.rules:
        flips = profiles.bot_changed(new.viewers, old.rules, task.rules, task.interval)
        changed = pc.unique(pa.concat_arrays([changed.cast(pa.string()), flips]))
    return changed, gone


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
                     "samples": t.column("samples"), "peak_streams": t.column("peak_streams")},
                    schema=STATE_VIEWERS)


def _day_pairs(day: str, contrib: str, bucket: int) -> pa.Table:
    t = _read(contrib, "pairs", bucket, PAIRS_SCHEMA)
    return pa.table({"viewer": t.column("viewer"), "streamer": t.column("streamer"),
                     "minutes": t.column("minutes"),
                     "first_day": pa.array([day] * len(t), pa.string())}, schema=STATE_PAIRS)


def merge_viewers(tables: list[pa.Table]) -> pa.Table:
    """Per viewer: min first_day, max last_day, summed days/minutes/hours, max measures."""
    t = pa.concat_tables(tables)
    sums = t.group_by("viewer").aggregate([
        ("first_day", "min"), ("last_day", "max"), ("days_active", "sum"), ("minutes", "sum"),
        ("samples", "max"), ("peak_streams", "max")])
    sums = sums.sort_by("viewer")
    viewer = sums.column("viewer").combine_chunks()
    code = np.asarray(pc.index_in(t.column("viewer"), value_set=viewer))
    rows = np.asarray(t.column("hours").combine_chunks().flatten()).reshape(-1, 24)
    hours = np.stack([np.bincount(code, weights=rows[:, h], minlength=len(viewer))
                      for h in range(24)], axis=1) if len(viewer) else np.zeros((0, 24))
    return pa.table({
        "viewer": viewer, "first_day": sums.column("first_day_min"),
        "last_day": sums.column("last_day_max"), "days_active": sums.column("days_active_sum"),
        "minutes": sums.column("minutes_sum"),
        "hours": pa.FixedSizeListArray.from_arrays(pa.array(hours.ravel(), pa.float64()), 24),
        "samples": sums.column("samples_max"), "peak_streams": sums.column("peak_streams_max"),
    }, schema=STATE_VIEWERS)


def merge_pairs(tables: list[pa.Table]) -> pa.Table:
    t = pa.concat_tables(tables)
    merged = t.group_by(["viewer", "streamer"]).aggregate([("minutes", "sum"), ("first_day", "min")])
    merged = merged.rename_columns(["viewer", "streamer", "minutes", "first_day"])
    return merged.sort_by([("viewer", "ascending"), ("streamer", "ascending")]).cast(STATE_PAIRS)


def _stage_state(folder: Path, run: str, state: _State) -> Path:
    """Write the bucket's new state beside the old one; :func:`publish_state` swaps it in
    after the results it produced are in the store, so a kill in between leaves the old
    state, and the next run merges (and publishes) the same days again."""
    new = folder.with_name(f".{folder.name}.{run}")
    rules = state.rules or BotRules()
    meta = {"format": FORMAT, "merged": json.dumps(dict(sorted(state.merged.items()))),
            "rules": json.dumps({"concurrent": rules.concurrent, "hours": rules.hours,
                                 "known": list(rules.known)})}
    write_parquet(new, "viewers.parquet", state.viewers.replace_schema_metadata(meta))
    write_parquet(new, "pairs.parquet", state.pairs)
    return new


def publish_state(staged: str) -> None:
    new = Path(staged)
    swap_dir(new, new.with_name(new.name.split(".")[1]))
