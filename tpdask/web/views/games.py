"""``/games/{name}`` (and its ``/api/`` answer): a game's channels, its hours watched a
day, and the overlap of its audience with other games' (issue 21, item 3).

From the per-day results of ``analyse`` (:mod:`tpdask.analysis.broadcast_days`): the
broadcasts' rows per game give the hours (Twitch's count × interval) and channels; the
``game_days`` audiences (the non-bot viewers with 10+ minutes a day with streamers whose
main game of the day it was) give the overlap, summed over the analysed days in
viewer-days: "x % of its audience also watched B" is the share of its viewer-days whose
viewer was in B's audience the same day; lift compares that with chance.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tpdask.analysis import broadcast_days as bd
from tpdask.web import rankings
from tpdask.web.answers import Answer
from tpdask.web.site import site_of

NEIGHBOURS = 20


def game(request: Request) -> Answer:
    """404 for a game no analysed broadcast showed."""
    name = request.path_params["name"]
    if not 0 < len(name) <= 200:
        return "game.html", None
    data = site_of(request).data
    return "game.html", data.cached(f"game:{name}", lambda: _game(data, name))


def _game(data: Any, name: str) -> dict[str, Any] | None:
    interval = data.config.interval
    per_day: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}
    for day, docs in sorted(rankings.day_docs(data).items()):
        for d in docs:
            g = d["games"].get(name)
            if g is None:
                continue
            rows, viewer_sum, peak, _ = g
            f = per_day.setdefault(day, {"day": day, "hours_watched": 0.0, "channels": set()})
            f["hours_watched"] += viewer_sum * interval / 3600
            f["channels"].add(d["streamer"])
            c = channels.setdefault(d["streamer"], {"streamer": d["streamer"],
                                                    "hours_watched": 0.0,
                                                    "hours_streamed": 0.0, "peak_viewers": 0})
            c["hours_watched"] += viewer_sum * interval / 3600
            c["hours_streamed"] += rows * interval / 3600
            c["peak_viewers"] = max(c["peak_viewers"], peak)
    if not per_day:
        return None
    days = [{"day": f["day"], "hours_watched": round(f["hours_watched"], 1),
             "channels": len(f["channels"])} for f in per_day.values()]
    listed = sorted(({**c, "hours_watched": round(c["hours_watched"], 1),
                      "hours_streamed": round(c["hours_streamed"], 1)}
                     for c in channels.values()),
                    key=lambda c: (-c["hours_watched"], c["streamer"]))
    current = data.current_days()
    viewers, shared, everyone = bd.merge_games(
        doc for day, _, doc in data.store.iter_results(bd.GAMES_KIND) if day in current)
    audience = viewers.get(name, 0)
    neighbours = []
    for other, n in shared.get(name, {}).items():
        neighbours.append({"game": other, "viewers": n,
                           "share": n / audience if audience else None,
                           "lift": n * everyone / (audience * viewers[other])
                           if audience and viewers.get(other) else None})
    neighbours.sort(key=lambda x: (-x["viewers"], x["game"]))
    return {"game": name, "days": days, "channels": listed,
            "hours_watched": round(sum(d["hours_watched"] for d in days), 1),
            "audience": audience, "neighbours": neighbours[:NEIGHBOURS]}
