"""Per-day broadcast results: what the website's broadcast, ranking, game and health pages
merge over any range of days, so that no page reads the lake.

For each day it analyses, ``analyse`` keeps three kinds of results (scope: the day):

- ``broadcast_days`` (key ``"<streamer> <started_at>"``): a broadcast's rows that day as
  mergeable sums — samples, the rows with a viewer count, Σ and peak of Twitch's viewer
  count and of the chatters, the share's sums, games (rows, Σ and peak viewer count, Σ
  chatters), first and last sample, the last title; ``gone`` ([known, gone] of its non-bot
  audience that day, against the account statuses as the analyser found them: the
  document names the verify run); and its flows: ``leavers`` and ``went`` ({streamer:
  leavers}) when it ended that day, ``came`` ({streamer: viewers}) for the chats that
  ended and whose leavers arrived in it that day (:mod:`tpdask.analysis.flows`, within
  :data:`WITHIN` seconds);
- ``broadcast_curves`` (same key): its rows that day, every sample — times, Twitch's
  count, the chatters — and its game changes;
- ``game_days`` (key: the game): the game's audience that day, the non-bot viewers with
  at least :data:`GAME_MIN_MINUTES` minutes with streamers whose main game of the day
  (the one shown at most samples) it is, and per other game how many of them were in
  that game's audience too; every document carries the day's viewers in any game's
  audience (``all``). Summed over days these are viewer-days, so a range's "x % of A's
  audience also watched B" is the share of A's viewer-days whose viewer watched B the
  same day (:func:`merge_games`).

Their basis (:meth:`tpdask.analysis.basis.Inputs.broadcast_days`) is the runs of the day
and its neighbours (a broadcast ends, and its chat arrives elsewhere, across midnight)
and the settings. Merging a range (:func:`merge_broadcasts`) gives the Insight contract's
broadcasts of the rows of those days, with health rated over the range's broadcasts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tpdask.analysis.broadcasts import GoneTask, gone_counts, period_bots, read_kind
from tpdask.analysis.contributions import PAIRS_SCHEMA
from tpdask.analysis.flows import FlowPart, FlowTask, flow_counts
from tpdask.analysis.overlap import OverlapPart, co_occurrence_part
from tpdask.settings import BotRules

DAYS_KIND, CURVES_KIND, GAMES_KIND = "broadcast_days", "broadcast_curves", "game_days"
#: The flows' window, seconds (the Insight contract's default --within).
WITHIN = 15 * 60
#: Minutes with a game's streamers that put a viewer in the game's audience of a day.
GAME_MIN_MINUTES = 10


def key_of(streamer: str, started_at: str) -> str:
    return f"{streamer} {started_at}"


# -- from the day's streams rows (on the client: a few thousand rows) ----------------------

def day_rows(streams: pa.Table) -> list[dict]:
    """The day's rows by time, one per (ts, streamer): a sample listing a stream twice
    counts its first listing (as :func:`tpdask.analysis.broadcasts.broadcast_docs`)."""
    rows, listed = [], set()
    for r in streams.select(["ts", "streamer", "started_at", "viewer_count", "chatters",
                             "game_name", "title"]).to_pylist():
        if (r["ts"], r["streamer"]) in listed:
            continue
        listed.add((r["ts"], r["streamer"]))
        rows.append(r)
    return sorted(rows, key=lambda r: (r["ts"], r["streamer"]))


def sums(rows: list[dict], day: str) -> dict[str, dict]:
    """key → the broadcast's mergeable sums over ``rows`` (those with a string started_at)."""
    docs: dict[str, dict] = {}
    for r in rows:
        if r["started_at"] is None:
            continue
        key = key_of(r["streamer"], r["started_at"])
        d = docs.get(key)
        if d is None:
            d = docs[key] = {"streamer": r["streamer"], "started_at": r["started_at"],
                             "day": day, "first_ts": r["ts"], "last_ts": r["ts"],
                             "samples": 0, "counted": 0, "viewer_sum": 0, "viewer_peak": None,
                             "chatters_sum": 0, "chatters_peak": 0, "share_chatters": 0,
                             "share_viewers": 0, "games": {}, "title": None}
        vc, ch = r["viewer_count"], r["chatters"]
        d["last_ts"] = r["ts"]
        d["samples"] += 1
        d["chatters_sum"] += ch
        d["chatters_peak"] = max(d["chatters_peak"], ch)
        if vc is not None:
            d["counted"] += 1
            d["viewer_sum"] += vc
            d["viewer_peak"] = vc if d["viewer_peak"] is None else max(d["viewer_peak"], vc)
            if vc > 0:
                d["share_chatters"] += ch
                d["share_viewers"] += vc
        if r["game_name"] is not None:
            g = d["games"].setdefault(r["game_name"], [0, 0, 0, 0])
            g[0] += 1
            g[1] += vc or 0
            g[2] = max(g[2], vc or 0)
            g[3] += ch
        if r["title"] is not None:
            d["title"] = r["title"]
    return docs


def curves(rows: list[dict]) -> dict[str, dict]:
    """key → the broadcast's samples that day: ts, Twitch's count (null when none), chatters,
    and ``games``: [ts, game] at each change of game."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["started_at"] is None:
            continue
        c = out.setdefault(key_of(r["streamer"], r["started_at"]),
                           {"ts": [], "viewers": [], "chatters": [], "games": []})
        c["ts"].append(r["ts"])
        c["viewers"].append(r["viewer_count"])
        c["chatters"].append(r["chatters"])
        if not c["games"] or c["games"][-1][1] != r["game_name"]:
            c["games"].append([r["ts"], r["game_name"]])
    return out


def ending(rows: list[dict], later_rows: list[dict], last_sample: int,
           within: int = WITHIN) -> tuple[tuple[str, str, int], ...]:
    """(streamer, started_at, last_ts) of the broadcasts that end among ``rows`` (a day's):
    no row of theirs in ``later_rows`` (the next day's), and a sample after last_ts + within
    (``last_sample``: the latest of the day and the next one)."""
    last: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["started_at"] is not None:
            last[(r["streamer"], r["started_at"])] = r["ts"]
    going_on = {(r["streamer"], r["started_at"]) for r in later_rows}
    return tuple(sorted((s, b, ts) for (s, b), ts in last.items()
                        if (s, b) not in going_on and last_sample > ts + within))


def main_games(rows: list[dict]) -> tuple[tuple[str, str], ...]:
    """(streamer, the game it showed at most samples that day, ties by name)."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["game_name"] is not None:
            games = counts.setdefault(r["streamer"], {})
            games[r["game_name"]] = games.get(r["game_name"], 0) + 1
    return tuple(sorted((s, min(g.items(), key=lambda x: (-x[1], x[0]))[0])
                        for s, g in counts.items()))


# -- per state bucket (a task each) -------------------------------------------------------

@dataclass(frozen=True)
class DaySpec:
    """What one day's bucket work reads: its contributions and its neighbours'."""

    day: str
    contrib: str                        # the day's contributions folder
    before: str                         # the previous day's ("" when not processed)
    after: str                          # the next day's ("" when not processed)
    ending: tuple[tuple[str, str, int], ...]          # the day's ending broadcasts
    ending_before: tuple[tuple[str, str, int], ...]   # the previous day's
    games: tuple[tuple[str, str], ...]                # streamer → main game of the day


@dataclass(frozen=True)
class BroadcastDaysTask:
    bucket: int
    days: tuple[DaySpec, ...]
    statuses: str                       # the bucket's (viewer, status) file
    rules: BotRules
    interval: int


@dataclass
class DayPart:
    gone: dict                          # (streamer, started_at) → [known, gone]
    went: FlowPart                      # the day's ends and where their leavers went
    came: FlowPart                      # the previous day's ends (for arrivals this day)
    games: OverlapPart                  # the day's game audiences and their overlaps


def broadcast_days_part(task: BroadcastDaysTask) -> dict[str, DayPart]:
    """The bucket's share of each day's gone counts, flows and game audiences (buckets
    hold disjoint viewers, so they add up)."""
    out = {}
    for spec in task.days:
        gone = gone_counts(GoneTask(task.bucket, (spec.contrib,), task.statuses, task.rules,
                                    task.interval))
        went = flow_counts(FlowTask(task.bucket, tuple(d for d in (spec.contrib, spec.after)
                                                       if d), spec.ending, WITHIN,
                                    task.rules, task.interval))
        came = flow_counts(FlowTask(task.bucket, (spec.before, spec.contrib),
                                    spec.ending_before, WITHIN, task.rules, task.interval)) \
            if spec.before and spec.ending_before else FlowPart({}, {})
        out[spec.day] = DayPart(gone, went, came, game_part(task, spec))
    return out


def game_part(task: BroadcastDaysTask, spec: DaySpec) -> OverlapPart:
    """The bucket's game audiences of the day: distinct (viewer, game) with at least
    GAME_MIN_MINUTES minutes with the game's streamers (main game of the day), bots of the
    day left out (own channel too: the pairs contributions leave it out)."""
    pairs = read_kind((spec.contrib,), "pairs", task.bucket, PAIRS_SCHEMA)
    flagged = period_bots((spec.contrib,), task.bucket, task.rules, task.interval)
    pairs = pairs.filter(pc.invert(pc.is_in(pairs.column("viewer"), value_set=flagged)))
    games = pa.table({"streamer": [s for s, _ in spec.games], "game": [g for _, g in spec.games]},
                     schema=pa.schema([("streamer", pa.string()), ("game", pa.string())]))
    joined = pairs.join(games, "streamer", join_type="inner")
    summed = joined.group_by(["viewer", "game"]).aggregate([("minutes", "sum")])
    kept = summed.filter(pc.greater_equal(summed.column("minutes_sum"), GAME_MIN_MINUTES))
    return co_occurrence_part(kept.select(["viewer", "game"]), "game")


# -- the day's documents (on the client) ---------------------------------------------------

def day_documents(day: str, rows: list[dict], parts: list[DayPart], at: dict[tuple[str, int], str],
                  statuses: str) -> dict[str, dict[str, dict]]:
    """The day's three kinds of documents from its rows and the buckets' parts. ``at``:
    (streamer, ts) → started_at of the rows of the day and its neighbours (where an arrival
    went); ``statuses``: the verify run the gone counts are against ("" before any)."""
    docs = sums(rows, day)
    for d in docs.values():
        d.update(gone=[0, 0], statuses=statuses, leavers=0, went={}, came={})
    for part in parts:
        for (s, b), (known, gone) in part.gone.items():
            doc = docs.get(key_of(s, b))
            if doc is not None:
                doc["gone"][0] += known
                doc["gone"][1] += gone
        for (s, b, _), n in part.went.leavers.items():
            if key_of(s, b) in docs:
                docs[key_of(s, b)]["leavers"] += n
        for (s, b, _, to, ts), n in part.went.went.items():
            if key_of(s, b) in docs:
                went = docs[key_of(s, b)]["went"]
                went[to] = went.get(to, 0) + n
        for flow in (part.went.went, part.came.went):
            for (s, _, _, to, ts), n in flow.items():
                target = at.get((to, ts))
                if target is None or key_of(to, target) not in docs or \
                        not _same_day(ts, day):
                    continue
                came = docs[key_of(to, target)]["came"]
                came[s] = came.get(s, 0) + n
    return {DAYS_KIND: docs, CURVES_KIND: curves(rows),
            GAMES_KIND: game_documents(day, [p.games for p in parts])}


def _same_day(ts: int, day: str) -> bool:
    from tpdask.days import day_bounds

    start, end = day_bounds(day)
    return start <= ts < end


def game_documents(day: str, parts: list[OverlapPart]) -> dict[str, dict]:
    """game → {"game", "day", "viewers", "all", "shared": {other: viewers}}."""
    viewers: dict[str, int] = {}
    shared: dict[str, dict[str, int]] = {}
    everyone = sum(p.viewers for p in parts)
    for part in parts:
        for name, size in zip(part.streamers, part.audience.tolist()):
            viewers[name] = viewers.get(name, 0) + size
        for (a, b), n in part.pairs.items():
            for x, y in ((part.streamers[a], part.streamers[b]),
                         (part.streamers[b], part.streamers[a])):
                row = shared.setdefault(x, {})
                row[y] = row.get(y, 0) + n
    return {g: {"game": g, "day": day, "viewers": n, "all": everyone,
                "shared": dict(sorted(shared.get(g, {}).items()))}
            for g, n in sorted(viewers.items())}


def starts_at(rows: list[dict]) -> dict[tuple[str, int], str]:
    return {(r["streamer"], r["ts"]): r["started_at"] for r in rows
            if r["started_at"] is not None}


# -- a range of days, merged (what the website shows) --------------------------------------

def merge_broadcasts(docs: Iterable[dict], interval: int) -> dict[str, dict]:
    """key → a broadcast over the given days' documents: the Insight contract's figures of
    its rows in those days (health not rated yet: :func:`tpdask.analysis.broadcasts.rate`),
    with ``gone_share`` from the days' gone counts, and its title, days, viewer-hours per
    game and flows."""
    merged: dict[str, dict] = {}
    for d in docs:
        key = key_of(d["streamer"], d["started_at"])
        m = merged.get(key)
        if m is None:
            m = merged[key] = {**d, "games": {}, "gone": [0, 0], "went": {}, "came": {},
                               "days": [], "leavers": 0}
            for field in ("samples", "counted", "viewer_sum", "chatters_sum",
                          "share_chatters", "share_viewers"):
                m[field] = 0
            m["viewer_peak"], m["chatters_peak"] = None, 0
        if d["first_ts"] < m["first_ts"]:
            m["first_ts"] = d["first_ts"]
        if d["last_ts"] >= m["last_ts"]:
            m["last_ts"], m["title"] = d["last_ts"], d["title"] or m["title"]
        for field in ("samples", "counted", "viewer_sum", "chatters_sum", "share_chatters",
                      "share_viewers", "leavers"):
            m[field] += d[field]
        if d["viewer_peak"] is not None:
            m["viewer_peak"] = max(m["viewer_peak"] or 0, d["viewer_peak"])
        m["chatters_peak"] = max(m["chatters_peak"], d["chatters_peak"])
        for game, g in d["games"].items():
            t = m["games"].setdefault(game, [0, 0, 0, 0])
            t[0], t[1], t[2], t[3] = t[0] + g[0], t[1] + g[1], max(t[2], g[2]), t[3] + g[3]
        m["gone"] = [m["gone"][0] + d["gone"][0], m["gone"][1] + d["gone"][1]]
        for field in ("went", "came"):
            for other, n in d[field].items():
                m[field][other] = m[field].get(other, 0) + n
        m["days"].append(d["day"])
        m["statuses"] = max(m.get("statuses") or "", d.get("statuses") or "")
    return {key: _figures(m, interval) for key, m in sorted(merged.items())}


def _figures(m: dict, interval: int) -> dict:
    games = m["games"]
    main = min(games.items(), key=lambda g: (-g[1][0], g[0]))[0] if games else None
    known, gone = m["gone"]
    return {
        "streamer": m["streamer"], "started_at": m["started_at"], "first_ts": m["first_ts"],
        "last_ts": m["last_ts"], "samples": m["samples"],
        "minutes_live": m["samples"] * interval / 60,
        "avg_viewer_count": m["viewer_sum"] / m["counted"] if m["counted"] else None,
        "peak_viewer_count": m["viewer_peak"],
        "avg_chatters": m["chatters_sum"] / m["samples"], "peak_chatters": m["chatters_peak"],
        "hours_watched": m["viewer_sum"] * interval / 3600,
        "chatter_hours": m["chatters_sum"] * interval / 3600,
        "main_game": main, "games": {g: v[0] for g, v in sorted(games.items())},
        "game_hours": {g: v[1] * interval / 3600 for g, v in sorted(games.items())},
        "share": m["share_chatters"] / m["share_viewers"] if m["share_viewers"] else None,
        "baseline": None, "suspect": False,
        "gone_share": gone / known if known else None, "known": known,
        "title": m["title"], "days": sorted(m["days"]), "statuses": m["statuses"],
        "leavers": m["leavers"], "went": dict(sorted(m["went"].items())),
        "came": dict(sorted(m["came"].items())),
    }


def merge_games(docs: Iterable[dict]) -> tuple[dict[str, int], dict[str, dict[str, int]], int]:
    """The game audiences of the given days' ``game_days`` documents, in viewer-days:
    (game → viewer-days, game → {other: shared viewer-days}, viewer-days in any game)."""
    viewers: dict[str, int] = {}
    shared: dict[str, dict[str, int]] = {}
    everyone: dict[str, int] = {}
    for d in docs:
        viewers[d["game"]] = viewers.get(d["game"], 0) + d["viewers"]
        everyone[d["day"]] = d["all"]
        row = shared.setdefault(d["game"], {})
        for other, n in d["shared"].items():
            row[other] = row.get(other, 0) + n
    return viewers, shared, sum(everyone.values())
