"""A plain-Python reference of the Insight contract of docs/contracts.md, from raw samples.

Slow and obvious on purpose: the oracle `tpdask export broadcasts|flows` and overlap
``lift`` (in :mod:`tpdask.analysis.reference`) are tested against. Like the analytics
reference it starts from ``samples_by_day`` (day → that day's contract-v1 sample dicts)
and reuses its readings (bots, own channel, T). Readings of this contract:

1. The ``streams`` rows of a day: one per sample (ts in the day) and stream key,
   normalised like a login; a sample listing two keys that normalise alike gives one row,
   the first listing's. ``chatters`` = its distinct valid logins (everyone counted).
   ``viewer_count`` counts when it is an int (not a bool); ``game_name`` when a string;
   a row belongs to a broadcast when its ``started_at`` is a string.
2. "Listed in its rows" / "in its streamer's chatters at last_ts": the valid logins of
   the stream's chatters list at those samples — the chat as sampled, which is P(v, s).
3. The period bot rule: a viewer is a bot when flagged on any lake day of [D1, D2]
   (the analytics contract's rules). Own login: a streamer is never in its own audience
   nor among its leavers.
4. ``baseline``'s "same main_game": a broadcast without a main game (null) has no such
   peers and goes straight to all the other rated broadcasts.
5. Flows: T = the sorted distinct ts of the period's days; a leaver goes nowhere when no
   sample in (last_ts, last_ts + within] sees it in another chat. ``share`` is a float.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from tpdask.analysis.reference import KNOWN_BOTS, _bot_reasons, _day_samples, _days
from tpdask.days import parse_day
from tpdask.process.reference import _login


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _rows(samples_by_day: dict[str, list[dict]], days: list[str]) -> list[dict]:
    """The period's streams rows (reading 1), with each row's chat as a set of logins."""
    rows = []
    for day in days:
        for sample in _day_samples(samples_by_day, day):
            seen = set()
            for key, stream in sample["streams"].items():
                streamer = _login(key)
                if streamer is None or streamer in seen:
                    continue
                seen.add(streamer)
                chat = {login for login in map(_login, stream.get("chatters", [])) if login}
                count = stream.get("viewer_count")
                rows.append({
                    "ts": sample["ts"], "streamer": streamer, "chat": chat,
                    "viewer_count": count if isinstance(count, int) and
                    not isinstance(count, bool) else None,
                    "game_name": stream.get("game_name")
                    if isinstance(stream.get("game_name"), str) else None,
                    "started_at": stream.get("started_at")
                    if isinstance(stream.get("started_at"), str) else None})
    return rows


def _period(samples_by_day, since: str, until: str) -> list[str]:
    since, until = parse_day(since), parse_day(until)
    return [d for d in _days(samples_by_day) if since <= d <= until]


def _bots(samples_by_day, days, interval, max_gap, bot_concurrent, bot_hours, known) -> set:
    return set(_bot_reasons(samples_by_day, days, interval, max_gap, bot_concurrent,
                            bot_hours, known))


def reference_broadcasts(samples_by_day: dict[str, list[dict]], since: str, until: str,
                         statuses: dict[str, str] | None = None, interval: int = 300,
                         max_gap: int = 900, bot_concurrent: int = 3, bot_hours: float = 20,
                         known: tuple[str, ...] = KNOWN_BOTS, min_viewers: float = 200,
                         ratio: float = 0.5) -> list[dict]:
    """`export broadcasts --since D1 --until D2`, by (streamer, started_at)."""
    days = _period(samples_by_day, since, until)
    bots = _bots(samples_by_day, days, interval, max_gap, bot_concurrent, bot_hours, known)
    statuses = statuses or {}
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in _rows(samples_by_day, days):
        if row["started_at"] is not None:
            groups[(row["streamer"], row["started_at"])].append(row)
    docs = []
    for (streamer, started_at), rows in sorted(groups.items()):
        counted = [r["viewer_count"] for r in rows if r["viewer_count"] is not None]
        chatters = [len(r["chat"]) for r in rows]
        positive = [r for r in rows if r["viewer_count"] is not None and r["viewer_count"] > 0]
        games: dict[str, int] = defaultdict(int)
        for r in rows:
            if r["game_name"] is not None:
                games[r["game_name"]] += 1
        audience = set().union(*(r["chat"] for r in rows)) - bots - {streamer}
        known_status = [v for v in audience if v in statuses]
        docs.append({
            "streamer": streamer, "started_at": started_at,
            "first_ts": min(r["ts"] for r in rows), "last_ts": max(r["ts"] for r in rows),
            "samples": len(rows), "minutes_live": _number(len(rows) * interval / 60),
            "avg_viewer_count": sum(counted) / len(counted) if counted else None,
            "peak_viewer_count": max(counted) if counted else None,
            "avg_chatters": sum(chatters) / len(chatters), "peak_chatters": max(chatters),
            "hours_watched": sum(counted) * interval / 3600,
            "chatter_hours": sum(chatters) * interval / 3600,
            "main_game": sorted(games.items(), key=lambda g: (-g[1], g[0]))[0][0]
            if games else None,
            "games": dict(sorted(games.items())),
            "share": sum(len(r["chat"]) for r in positive) /
            sum(r["viewer_count"] for r in positive) if positive else None,
            "gone_share": sum(statuses[v] == "gone" for v in known_status) / len(known_status)
            if known_status else None,
        })
    _health(docs, min_viewers, ratio)
    return docs


def _health(docs: list[dict], min_viewers: float, ratio: float) -> None:
    rated = [d for d in docs if d["avg_viewer_count"] is not None and
             d["avg_viewer_count"] >= min_viewers and d["share"] is not None]
    for d in docs:
        d["baseline"], d["suspect"] = None, False
        if d not in rated:
            continue
        same = [p["share"] for p in rated if p is not d and d["main_game"] is not None
                and p["main_game"] == d["main_game"]]
        others = [p["share"] for p in rated if p is not d]
        peers = same if len(same) >= 5 else others if len(others) >= 5 else None
        if peers is not None:
            d["baseline"] = statistics.median(peers)
            d["suspect"] = d["share"] < ratio * d["baseline"]
    for d in docs:                   # the contract's field order
        gone = d.pop("gone_share")
        d.update(baseline=d.pop("baseline"), suspect=d.pop("suspect"), gone_share=gone)


def reference_flows(samples_by_day: dict[str, list[dict]], since: str, until: str,
                    within: float = 15, interval: int = 300, max_gap: int = 900,
                    bot_concurrent: int = 3, bot_hours: float = 20,
                    known: tuple[str, ...] = KNOWN_BOTS) -> list[dict]:
    """`export flows --since D1 --until D2 [--within M]`, by (from, to)."""
    days = _period(samples_by_day, since, until)
    bots = _bots(samples_by_day, days, interval, max_gap, bot_concurrent, bot_hours, known)
    rows = _rows(samples_by_day, days)
    times = sorted({r["ts"] for r in rows} | {s["ts"] for d in days
                                              for s in _day_samples(samples_by_day, d)})
    chat_at: dict[tuple[int, str], set[str]] = {(r["ts"], r["streamer"]): r["chat"] for r in rows}
    at_ts: dict[int, list[tuple[str, set[str]]]] = defaultdict(list)
    for r in rows:
        at_ts[r["ts"]].append((r["streamer"], r["chat"]))
    last: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["started_at"] is not None:
            key = (r["streamer"], r["started_at"])
            last[key] = max(last.get(key, r["ts"]), r["ts"])
    window = within * 60
    leavers: dict[str, int] = defaultdict(int)
    went: dict[tuple[str, str], int] = defaultdict(int)
    for (streamer, _), last_ts in sorted(last.items()):
        if not any(t > last_ts + window for t in times):
            continue                                    # the period does not see it end
        gone = chat_at.get((last_ts, streamer), set()) - bots - {streamer}
        leavers[streamer] += len(gone)
        for viewer in gone:
            for t in (t for t in times if last_ts < t <= last_ts + window):
                elsewhere = {s for s, chat in at_ts[t] if s != streamer and viewer in chat}
                if elsewhere:
                    for target in elsewhere:
                        went[(streamer, target)] += 1
                    break
    return [{"from": a, "to": b, "viewers": n, "share": n / leavers[a]}
            for (a, b), n in sorted(went.items()) if n >= 1]
