"""``/streamers``, ``/streamers/{login}`` and ``/broadcasts/{login}/{started_at}`` (and
their ``/api/`` answers)."""

from __future__ import annotations

from starlette.requests import Request

from tpdask.samples import LOGIN_RE
from tpdask.web import broadcasts
from tpdask.web.answers import Answer
from tpdask.web.site import site_of


def streamers(request: Request) -> Answer:
    """Every analysed streamer, by minutes watched."""
    return "streamers.html", {"streamers": site_of(request).data.streamers()}


def streamer(request: Request) -> Answer:
    """A streamer's broadcasts, days, games, community and overlap neighbours; 404 for a
    name that is not a login or a streamer without analysed days."""
    login = request.path_params["login"]
    if not LOGIN_RE.fullmatch(login):
        return "streamer.html", None
    data = site_of(request).data
    found = data.streamer(login)
    if found is None:
        return "streamer.html", None
    listed = broadcasts.by_streamer(data).get(login, [])
    rows = [{k: v for k, v in b.items() if k not in ("went", "came", "game_hours")}
            for b in listed[:broadcasts.LISTED]]
    return "streamer.html", {**found, "broadcasts": rows, "broadcasts_total": len(listed)}


def broadcast(request: Request) -> Answer:
    """A broadcast: its figures and health, its 5-minute curve with the game changes,
    where its audience came from and went; 404 for one the analysed days do not hold."""
    login, started = request.path_params["login"], request.path_params["started"]
    if not LOGIN_RE.fullmatch(login) or not broadcasts.STARTED.fullmatch(started):
        return "broadcast.html", None
    return "broadcast.html", broadcasts.broadcast(site_of(request).data, login, started)
