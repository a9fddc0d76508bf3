"""Audience flow (the Insight contract): when a broadcast ends, where its chat goes.

A broadcast *ends* at its last row (``last_ts``) when the period holds a sample later than
``last_ts + within``. Its leavers are the non-bot logins in its streamer's chat at
``last_ts`` (own login out); a leaver goes to B when, at the first sample after
``last_ts`` (and at most ``within`` later) at which it is in the chat of a streamer other
than the one that ended, B is one of those streamers. Per (from, to): the leavers that
went, summed over from's ending broadcasts, and their share of from's leavers.

Each state bucket counts its own viewers (:func:`flow_counts`) from the days' ``ends``
contributions — per leaver, its next sample elsewhere that day — and, for leavers of a
day's last hour whom that day does not see again, the next day's ``head`` (its first
hour): hence ``within`` is at most :data:`tpdask.analysis.presence.HEAD_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tpdask.analysis.broadcasts import period_bots, read_kind
from tpdask.analysis.presence import ENDS_SCHEMA, HEAD_SCHEMA
from tpdask.settings import BotRules


@dataclass(frozen=True)
class FlowTask:
    bucket: int
    contrib_dirs: tuple[str, ...]       # the contributions of each day of the period, in order
    ending: tuple[tuple[str, str, int], ...]   # (streamer, started_at, last_ts) that end
    within: int                         # seconds
    rules: BotRules
    interval: int


@dataclass
class FlowPart:
    """One bucket's flows, per broadcast end: an end is ``(from streamer, started_at,
    end_ts)``; ``leavers`` counts its distinct leavers, ``went`` those that went to ``to``,
    first seen there at ``at`` (``(end…, to, at)`` → leavers)."""

    leavers: dict                       # end → leavers
    went: dict                          # (*end, to, at) → leavers that went


def flow_counts(task: FlowTask) -> FlowPart:
    if not task.ending:
        return FlowPart({}, {})         # nothing ends (a join on an empty list has no types)
    ends = read_kind(task.contrib_dirs, "ends", task.bucket, ENDS_SCHEMA)
    flagged = period_bots(task.contrib_dirs, task.bucket, task.rules, task.interval)
    ends = ends.filter(pc.invert(pc.is_in(ends.column("viewer"), value_set=flagged)))
    ending = pa.table({"streamer": pa.array([e[0] for e in task.ending], pa.string()),
                       "started_at": pa.array([e[1] for e in task.ending], pa.string()),
                       "end_ts": pa.array([e[2] for e in task.ending], pa.int64())})
    ends = ends.join(ending, ["streamer", "started_at", "end_ts"], join_type="inner")
    leavers: dict[tuple[str, str, int], set] = {}
    went: dict[tuple, int] = {}
    unseen: dict[str, list[tuple[str, str, int]]] = {}      # viewer → (from, started_at, end)
    for r in ends.to_pylist():
        key = (r["streamer"], r["started_at"], r["end_ts"])
        leavers.setdefault(key, set()).add(r["viewer"])
        if r["next_ts"] is None:
            unseen.setdefault(r["viewer"], []).append(key)
        elif r["next_ts"] - r["end_ts"] <= task.within:
            moved = (*key, r["to"], r["next_ts"])
            went[moved] = went.get(moved, 0) + 1
    if unseen:
        _next_day(task, unseen, went)
    return FlowPart({key: len(v) for key, v in leavers.items()}, went)


def _next_day(task: FlowTask, unseen: dict[str, list[tuple[str, str, int]]],
              went: dict[tuple, int]) -> None:
    """Leavers the day of their broadcast's end does not see again: their first samples in
    another chat in the next days' first hour (the heads of the period's days)."""
    head = read_kind(task.contrib_dirs, "head", task.bucket, HEAD_SCHEMA)
    head = head.filter(pc.is_in(head.column("viewer"), value_set=pa.array(list(unseen))))
    seen: dict[str, list[tuple[int, str]]] = {}
    for r in head.sort_by([("viewer", "ascending"), ("ts", "ascending")]).to_pylist():
        seen.setdefault(r["viewer"], []).append((r["ts"], r["streamer"]))
    for viewer, left in unseen.items():
        for key in left:
            from_s, _, end_ts = key
            later = [(ts, s) for ts, s in seen.get(viewer, []) if ts > end_ts and s != from_s]
            if not later:
                continue
            first = later[0][0]
            if first - end_ts > task.within:
                continue
            for to in sorted({s for ts, s in later if ts == first}):
                moved = (*key, to, first)
                went[moved] = went.get(moved, 0) + 1


def flow_docs(parts: list[FlowPart]) -> list[dict]:
    """The period's flows by (from, to), from the buckets' counts (disjoint viewers)."""
    leavers: dict[str, int] = {}
    went: dict[tuple[str, str], int] = {}
    for part in parts:
        for (s, _, _), n in part.leavers.items():
            leavers[s] = leavers.get(s, 0) + n
        for (a, _, _, b, _), n in part.went.items():
            went[(a, b)] = went.get((a, b), 0) + n
    return [{"from": a, "to": b, "viewers": n, "share": n / leavers[a]}
            for (a, b), n in sorted(went.items()) if n >= 1]
