"""``/overlap[?period=…]`` and ``/api/overlap``: the overlap network of a period."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tpdask.web.answers import Answer, one
from tpdask.web.site import site_of

#: The answer when no overlap period has been computed yet.
NO_PERIOD: dict[str, Any] = {"period": None, "periods": [], "nodes": [], "edges": [],
                             "community_members": [], "top_pairs": [], "pairs": 0}


def overlap(request: Request) -> Answer:
    """The layout, communities and closest pairs of ``period`` (one the store lists; by
    default the newest)."""
    data = site_of(request).data
    periods = data.periods()
    period = one(request, "period")
    if period is not None and period not in periods:
        return "overlap.html", None
    period = period or data.default_period()
    if period is None:
        return "overlap.html", dict(NO_PERIOD)
    found = data.overlap(period)
    return "overlap.html", {**{k: v for k, v in found.items() if k != "by_streamer"},
                            "periods": periods}
