"""``/stream-health`` (and its ``/api/`` answer): the suspect broadcasts of a date range
with the reason in words, and every rated broadcast's share of logged-in chatters against
its Twitch viewer count (issue 21, item 5).

Stream health is the Insight contract's: a broadcast is rated when its average Twitch
count reaches ``health_min_viewers``; it is suspect when its share (chatters / Twitch's
count) is below ``health_ratio`` × the median share of comparable broadcasts of the
range. A view-botted channel shows as a point far below the others on the chart.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tpdask.analysis import broadcast_days as bd
from tpdask.analysis.broadcasts import rate
from tpdask.web import rankings
from tpdask.web.answers import Answer
from tpdask.web.broadcasts import health_words
from tpdask.web.site import site_of
from tpdask.web.views.rankings import date_range


def stream_health(request: Request) -> Answer:
    """``?days=7|30|90`` or ``?since=&until=``: the range's suspects and its chart."""
    data = site_of(request).data
    days = sorted(rankings.day_docs(data))
    since, until = date_range(request, days)
    if since is None:
        return "stream_health.html", {"since": None, "until": None, "suspects": [],
                                      "points": [], "presets": rankings.PRESETS}
    return "stream_health.html", data.cached(f"stream-health:{since}:{until}",
                                             lambda: _health(data, since, until))


def _health(data: Any, since: str, until: str) -> dict[str, Any]:
    config = data.config
    docs = [d for day, ds in rankings.day_docs(data).items() if since <= day <= until
            for d in ds]
    merged = bd.merge_broadcasts(docs, config.interval)
    rate(merged, config.health_min_viewers, config.health_ratio)
    rated = [b for b in merged.values() if b["share"] is not None and
             b["avg_viewer_count"] is not None and
             b["avg_viewer_count"] >= config.health_min_viewers]
    points = [{"streamer": b["streamer"], "started_at": b["started_at"],
               "avg_viewer_count": round(b["avg_viewer_count"]), "share": b["share"],
               "suspect": b["suspect"]} for b in rated]
    suspects = [{"streamer": b["streamer"], "started_at": b["started_at"],
                 "first_ts": b["first_ts"], "avg_viewer_count": b["avg_viewer_count"],
                 "share": b["share"], "baseline": b["baseline"], "gone_share": b["gone_share"],
                 "main_game": b["main_game"],
                 "reason": health_words(b, config.health_min_viewers, config.health_ratio)}
                for b in sorted(rated, key=lambda b: (b["share"] / (b["baseline"] or 1)))
                if b["suspect"]]
    return {"since": since, "until": until, "presets": rankings.PRESETS,
            "rated": len(rated), "broadcasts": len(merged), "suspects": suspects,
            "points": points, "min_viewers": config.health_min_viewers,
            "ratio": config.health_ratio}
