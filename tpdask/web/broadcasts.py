"""The broadcasts the streamer and broadcast pages show, from the per-day results
``analyse`` keeps (:mod:`tpdask.analysis.broadcast_days`): no page reads the lake.

A broadcast's days are merged (:func:`~tpdask.analysis.broadcast_days.merge_broadcasts`)
over the analysed days whose results are current, and stream health is rated over all
of them (:func:`tpdask.analysis.broadcasts.rate`: the baseline is the median share of
the other rated broadcasts, of the same game when there are enough). The merged list is
cached per data version (a few thousand broadcasts a month); a broadcast's curve is read
when its page is asked for (one indexed read per day it spans).
"""

from __future__ import annotations

import re
from typing import Any

from tpdask.analysis import broadcast_days as bd
from tpdask.analysis.broadcasts import rate

STARTED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
#: Broadcasts listed on a streamer's page (the newest).
LISTED = 60


def by_streamer(data: Any) -> dict[str, list[dict[str, Any]]]:
    """streamer → its broadcasts, newest first (``data``: the site's
    :class:`~tpdask.web.data.SiteData`, whose cache keeps the answer)."""
    return data.cached("broadcasts", lambda: _by_streamer(data))


def _by_streamer(data: Any) -> dict[str, list[dict[str, Any]]]:
    current = data.current_days()
    docs = [doc for day, _, doc in data.store.iter_results(bd.DAYS_KIND) if day in current]
    merged = bd.merge_broadcasts(docs, data.config.interval)
    rate(merged, data.config.health_min_viewers, data.config.health_ratio)
    out: dict[str, list[dict[str, Any]]] = {}
    for b in merged.values():
        out.setdefault(b["streamer"], []).append(row(b, data.config))
    for rows in out.values():
        rows.sort(key=lambda r: r["first_ts"], reverse=True)
    return out


def row(b: dict[str, Any], config: Any) -> dict[str, Any]:
    """A merged broadcast as a page shows it: figures, and its health in words."""
    duration = (b["last_ts"] - b["first_ts"] + config.interval) / 60
    return {
        "streamer": b["streamer"], "started_at": b["started_at"], "title": b["title"],
        "first_ts": b["first_ts"], "last_ts": b["last_ts"], "duration_minutes": duration,
        "avg_viewer_count": b["avg_viewer_count"], "peak_viewer_count": b["peak_viewer_count"],
        "avg_chatters": b["avg_chatters"], "peak_chatters": b["peak_chatters"],
        "hours_watched": b["hours_watched"], "main_game": b["main_game"],
        "game_hours": b["game_hours"], "share": b["share"], "baseline": b["baseline"],
        "suspect": b["suspect"], "gone_share": b["gone_share"],
        "health": health_words(b, config.health_min_viewers, config.health_ratio),
        "went": _flows(b["went"]), "came": _flows(b["came"]), "leavers": b["leavers"],
    }


def health_words(b: dict[str, Any], min_viewers: int, ratio: float) -> str:
    """The stream health of a broadcast in a sentence (the Insight contract's rule)."""
    share, baseline = b["share"], b["baseline"]
    if share is None or b["avg_viewer_count"] is None or b["avg_viewer_count"] < min_viewers:
        return f"not rated (fewer than {min_viewers:,} viewers on average)"
    if baseline is None:
        return (f"logged-in chatters were {share:.0%} of Twitch's count; too few comparable "
                "broadcasts to judge")
    words = (f"logged-in chatters were {share:.0%} of Twitch's count, against {baseline:.0%} "
             "usually")
    if b["suspect"]:
        return f"suspect: {words} (below {ratio:.0%} of usual)"
    return f"normal: {words}"


def _flows(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"streamer": s, "viewers": n}
            for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def broadcast(data: Any, streamer: str, started_at: str) -> dict[str, Any] | None:
    """A broadcast's page data: its figures, its 5-minute curve (Twitch's count and the
    chatters at every sample) with the game changes, and its flows; None when unknown."""
    found = next((b for b in by_streamer(data).get(streamer, [])
                  if b["started_at"] == started_at), None)
    if found is None:
        return None
    key = bd.key_of(streamer, started_at)
    current = data.current_days()
    curve: dict[str, list] = {"ts": [], "viewers": [], "chatters": []}
    games: list[dict[str, Any]] = []
    for day, _, doc in data.store.iter_results(bd.CURVES_KIND, key=key):
        if day not in current:
            continue
        for name in ("ts", "viewers", "chatters"):
            curve[name] += doc[name]
        for ts, game in doc["games"]:
            if not games or games[-1]["game"] != game:
                games.append({"ts": ts, "game": game or "no game"})
    points = sorted(zip(curve["ts"], curve["viewers"], curve["chatters"]))
    return {**found, "curve": [{"ts": t, "twitch": v, "chatters": c} for t, v, c in points],
            "games": games}
