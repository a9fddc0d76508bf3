"""``/rankings`` (and ``/api/rankings``): streamers or games over a date range, sortable
and paginated, with the change against the previous range (:mod:`tpdask.web.rankings`)."""

from __future__ import annotations

import datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request

from tpdask.web import rankings
from tpdask.web.answers import Answer, one
from tpdask.web.site import site_of

DAY_FORMAT = "%Y-%m-%d"


def ranking(request: Request) -> Answer:
    """``?kind=streamers|games``, a range (``?days=7|30|90`` ending on the last analysed
    day, or ``?since=&until=``), ``?sort=<column>&order=asc|desc``, ``?page=N``."""
    data = site_of(request).data
    kind = one(request, "kind") or "streamers"
    if kind not in rankings.COLUMNS:
        raise HTTPException(400, "kind is streamers or games")
    days = sorted(rankings.day_docs(data))
    since, until = date_range(request, days)
    sort = one(request, "sort") or "hours_watched"
    if sort not in rankings.COLUMNS[kind]:
        raise HTTPException(400, "sort by one of " + ", ".join(rankings.COLUMNS[kind]))
    order = one(request, "order") or ("asc" if sort == "name" else "desc")
    if order not in ("asc", "desc"):
        raise HTTPException(400, "order is asc or desc")
    page = _whole(one(request, "page") or "1", "page")
    if since is None:
        return "rankings.html", {"kind": kind, "since": None, "until": None, "rows": [],
                                 "presets": rankings.PRESETS, "columns":
                                 rankings.COLUMNS[kind], "total": 0, "page": 1, "pages": 1,
                                 "sort": sort, "order": order, "previous": None}
    found = rankings.ranking(data, kind, since, until, sort, order == "desc", page)
    return "rankings.html", {**found, "presets": rankings.PRESETS, "first_day": days[0],
                             "last_day": days[-1]}


def date_range(request: Request, days: list[str]) -> tuple[str | None, str | None]:
    """The asked range: ``?since=&until=``, else the ``?days=`` (7) ending on the last of
    ``days``; (None, None) when there is no day."""
    since, until, preset = one(request, "since"), one(request, "until"), one(request, "days")
    if since or until:
        if not since or not until:
            raise HTTPException(400, "give both since and until (YYYY-MM-DD)")
        try:
            a = datetime.datetime.strptime(since, DAY_FORMAT).date()
            b = datetime.datetime.strptime(until, DAY_FORMAT).date()
        except ValueError:
            raise HTTPException(400, "since and until are days: YYYY-MM-DD") from None
        if a > b or (b - a).days > 3660:
            raise HTTPException(400, "since must be on or before until, at most 10 years")
        return a.isoformat(), b.isoformat()
    if not days:
        return None, None
    span = _whole(preset or "7", "days")
    if span not in rankings.PRESETS:
        raise HTTPException(400, "days is 7, 30 or 90 (or give since and until)")
    last = datetime.date.fromisoformat(days[-1])
    return (last - datetime.timedelta(days=span - 1)).isoformat(), last.isoformat()


def _whole(text: str, name: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 100_000:
        raise HTTPException(400, f"{name} is a whole number from 1")
    return int(text)
