"""The route table: every URL of the site, its view, its methods, its name and who may see it.

:data:`ROUTES` is data: the application is built from it (:func:`starlette_routes`) and
tests iterate over it. A page and its data answer are two rows with the same view: the
``/api/`` row answers the view's data as JSON, the other renders its template. Every row
but the ``anonymous`` ones goes through the same checks before its view runs, in this
order: the session and the role (:func:`tpdask.web.auth.refusal`), then the query
parameters (a parameter the row does not list answers 400 and is never read: so
``?login[$ne]=x`` reaches no store). A visitor's data then has its small groups blurred
(:func:`tpdask.web.exposure.mask_small`); ``?csv=<table>`` on a page with ``tables``
answers that table of the same data as CSV (:mod:`tpdask.web.tables`). Order matters where paths overlap:
``/viewers/random`` comes before ``/viewers/{token}``. Static files are mounted after the
table (:func:`static_mounts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from tpdask.web.answers import Answer, error, one, page
from tpdask.web.auth import ADMIN, ANONYMOUS, VISITOR, Access, refusal, signed_in
from tpdask.web.exposure import mask_small
from tpdask.web.site import site_of
from tpdask.web.static_files import STATIC_DIR, CachedStatic
from tpdask.web.tables import csv_answer, file_stem
from tpdask.web.views import (bots, dashboard, games, login, overlap, rankings, reports,
                              stream_health, streamers, viewers)


@dataclass(frozen=True)
class Endpoint:
    """One row of the route table. ``anonymous`` rows need no session and run their view
    as it is: the login form and post, and ``/logout``, which checks its session itself."""

    path: str                           # Starlette's path syntax: ``/streamers/{login}``
    view: Callable[[Request], Any]      # an Answer; the anonymous rows' views, a Response
    name: str
    access: Access                      # who may see it: anonymous, visitor (any session), admin
    methods: tuple[str, ...] = ("GET",)  # GET also answers HEAD
    params: tuple[str, ...] = ()        # the query parameters it takes
    tables: tuple[str, ...] = ()        # its data's tables, each downloadable: ?csv=NAME

    @property
    def api(self) -> bool:
        """Whether it answers JSON (its view's data) rather than a page."""
        return self.path.startswith("/api/")


ROUTES: list[Endpoint] = [
    Endpoint("/login", login.login_form, "login_form", ANONYMOUS),
    Endpoint("/login", login.login_post, "login_post", ANONYMOUS, methods=("POST",)),
    Endpoint("/logout", login.logout, "logout", ANONYMOUS, methods=("POST",)),
    Endpoint("/", dashboard.dashboard, "dashboard", VISITOR, tables=("daily", "archives")),
    Endpoint("/api/dashboard", dashboard.dashboard, "dashboard_api", VISITOR),
    Endpoint("/streamers", streamers.streamers, "streamers", VISITOR, tables=("streamers",)),
    Endpoint("/api/streamers", streamers.streamers, "streamers_api", VISITOR),
    Endpoint("/streamers/{login}", streamers.streamer, "streamer", VISITOR,
             tables=("broadcasts", "days", "games", "neighbours")),
    Endpoint("/api/streamers/{login}", streamers.streamer, "streamer_api", VISITOR),
    Endpoint("/broadcasts/{login}/{started}", streamers.broadcast, "broadcast", VISITOR,
             tables=("curve", "games", "came", "went")),
    Endpoint("/api/broadcasts/{login}/{started}", streamers.broadcast, "broadcast_api",
             VISITOR),
    Endpoint("/rankings", rankings.ranking, "rankings", VISITOR,
             params=("kind", "days", "since", "until", "sort", "order", "page"), tables=("rows",)),
    Endpoint("/api/rankings", rankings.ranking, "rankings_api", VISITOR,
             params=("kind", "days", "since", "until", "sort", "order", "page")),
    Endpoint("/games/{name:path}", games.game, "game", VISITOR,
             tables=("days", "channels", "neighbours")),
    Endpoint("/api/games/{name:path}", games.game, "game_api", VISITOR),
    Endpoint("/stream-health", stream_health.stream_health, "stream_health", VISITOR,
             params=("days", "since", "until"), tables=("suspects", "points")),
    Endpoint("/api/stream-health", stream_health.stream_health, "stream_health_api", VISITOR,
             params=("days", "since", "until")),
    Endpoint("/overlap", overlap.overlap, "overlap", VISITOR, params=("period",),
             tables=("top_pairs", "community_members")),
    Endpoint("/api/overlap", overlap.overlap, "overlap_api", VISITOR, params=("period",)),
    Endpoint("/bots", bots.bots, "bots", VISITOR, params=("day",),
             tables=("bots", "per_day", "account_list")),
    Endpoint("/api/bots", bots.bots, "bots_api", VISITOR, params=("day",)),
    Endpoint("/viewers/random", viewers.random_viewer, "random_viewer", VISITOR),
    Endpoint("/viewers/{token}", viewers.viewer, "viewer", VISITOR,
             tables=("streamers", "days", "sessions")),
    Endpoint("/api/viewers/{token}", viewers.viewer, "viewer_api", VISITOR),
    Endpoint("/lookup", viewers.lookup, "lookup", ADMIN, params=("login",),
             tables=("streamers", "days", "sessions")),
    Endpoint("/api/lookup", viewers.lookup, "lookup_api", ADMIN, params=("login",)),
    Endpoint("/reports/{name}", reports.report, "report", ADMIN),
]


def starlette_routes(table: list[Endpoint] = ROUTES) -> list[BaseRoute]:
    """The table as Starlette routes, then the static files."""
    routes: list[BaseRoute] = [Route(e.path, endpoint(e), methods=list(e.methods), name=e.name)
                               for e in table]
    return routes + static_mounts()


def endpoint(row: Endpoint) -> Callable[[Request], Any]:
    """The function Starlette calls for a row: an anonymous row's view itself; for the
    others, the checks of the module docstring, the view, and its answer as a page or
    JSON. Plain (not async), so Starlette runs it on its thread pool."""
    if row.access == ANONYMOUS:
        return row.view

    def answer(request: Request) -> Response:
        refused = refusal(request, row.access)
        if refused is not None:
            return refused
        session = signed_in(request)
        takes = row.params + (("csv",) if row.tables else ())
        if set(request.query_params) - set(takes):
            return error(request, 400, "unknown parameter: this page takes "
                         + (", ".join(takes) or "none"), session)
        table = one(request, "csv") if row.tables else None
        if table is not None and table not in row.tables:
            return error(request, 404, "no such table: this page has "
                         + ", ".join(row.tables), session)
        result: Answer = row.view(request)
        if isinstance(result, Response):
            return result
        template, data = result
        if data is None:
            return error(request, 404, "nothing here", session)
        if not session.admin:      # small groups blurred for visitors (exposure.py)
            data = mask_small(data, site_of(request).config.web_min_group)
        if table is not None:
            return csv_answer(data.get(table) or [], table, file_stem(request.url.path))
        if row.api:
            return JSONResponse(data)
        return page(template, session, data=data)

    answer.__name__ = row.name
    return answer


def static_mounts() -> list[BaseRoute]:
    """``/static/bokeh/``: BokehJS of the installed bokeh package; ``/static/``: the site's
    own scripts, styles and icon; cached and compressed (:mod:`tpdask.web.static_files`)."""
    return [Mount("/static/bokeh", CachedStatic(bokeh_static()), name="bokeh"),
            Mount("/static", CachedStatic(STATIC_DIR), name="static")]


def bokeh_static() -> str:
    """BokehJS as the installed bokeh package ships it (same version as the package)."""
    import bokeh

    return str(Path(bokeh.__file__).parent / "server" / "static" / "js")
