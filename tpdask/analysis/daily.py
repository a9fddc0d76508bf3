"""A day's bots and streamer-day statistics, from its contributions and the merged state.

Each state bucket tallies its share of a day (a bucket holds whole viewers, so its tallies
add up exactly): the day's bots with their reasons under the current bot settings, and per
streamer its non-bot viewers, their minutes, and how many of them are new to it (their
first day with the streamer, over every processed day, is this one). The job's client
adds the buckets' tallies up and joins the streams table's figures
(:func:`streamer_day_docs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tpdask.analysis import bots
from tpdask.settings import BotRules


@dataclass
class DayTally:
    """One bucket's share of a day."""

    viewers: int = 0
    bots: list = field(default_factory=list)            # (viewer, reasons) of the day's bots
    streamers: dict = field(default_factory=dict)       # streamer → [viewers, minutes, new]


def tally(viewers: pa.Table, pairs: pa.Table, state_pairs: pa.Table, day: str, rules: BotRules,
          interval: int) -> DayTally:
    """The bucket's share of ``day`` from its contributions (viewers, pairs) and the state's
    pairs (first day of each viewer-streamer pair over every processed day)."""
    names = viewers.column("viewer").combine_chunks()
    found = bots.reasons(names, np.asarray(viewers.column("samples")),
                         np.asarray(viewers.column("peak_streams")), rules, interval)
    flagged = [(v, r) for v, r in zip(names.to_pylist(), found) if r]
    result = DayTally(viewers=len(names), bots=flagged)
    humans = pairs.filter(pc.invert(pc.is_in(
        pairs.column("viewer"), value_set=pa.array([v for v, _ in flagged], pa.string()))))
    if not len(humans):
        return result
    joined = humans.join(state_pairs.select(["viewer", "streamer", "first_day"]),
                         ["viewer", "streamer"], join_type="left outer")
    is_new = pc.fill_null(pc.equal(joined.column("first_day"), day), True)
    counted = pa.table({
        "streamer": joined.column("streamer"), "minutes": joined.column("minutes"),
        "new": is_new.cast(pa.int64()), "one": pa.array(np.ones(len(joined), dtype=np.int64)),
    }).group_by("streamer").aggregate([("one", "sum"), ("minutes", "sum"), ("new", "sum")])
    result.streamers = {s: [v, m, n] for s, v, m, n in zip(
        counted.column("streamer").to_pylist(), counted.column("one_sum").to_pylist(),
        counted.column("minutes_sum").to_pylist(), counted.column("new_sum").to_pylist())}
    return result


def bots_docs(day: str, tallies: list[DayTally]) -> dict[str, dict]:
    """viewer → its bots document of the day."""
    return {viewer: {"viewer": viewer, "day": day, "reasons": reasons}
            for t in tallies for viewer, reasons in t.bots}


def bot_reason_counts(tallies: list[DayTally]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tallies:
        for _, reasons in t.bots:
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))


def streamer_day_docs(day: str, streamers: list[str], tallies: list[DayTally],
                      stats: dict[str, dict]) -> dict[str, dict]:
    """streamer → its streamer-day document, for every streamer with a record that day."""
    docs = {}
    for s in sorted(streamers):
        viewers = sum(t.streamers.get(s, [0, 0, 0])[0] for t in tallies)
        minutes = sum(t.streamers.get(s, [0, 0, 0])[1] for t in tallies)
        new = sum(t.streamers.get(s, [0, 0, 0])[2] for t in tallies)
        st = stats.get(s, {})
        docs[s] = {
            "streamer": s, "day": day, "samples": st.get("samples", 0), "viewers": viewers,
            "minutes": int(minutes) if float(minutes).is_integer() else minutes,
            "avg_chatters": st.get("avg_chatters", 0.0),
            "peak_chatters": st.get("peak_chatters", 0),
            "new_viewers": new, "returning_viewers": viewers - new,
            "avg_viewer_count": st.get("avg_viewer_count"),
            "peak_viewer_count": st.get("peak_viewer_count"), "games": st.get("games", {}),
        }
    return docs
