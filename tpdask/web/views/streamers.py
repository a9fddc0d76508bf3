"""``/streamers`` and ``/streamers/{login}`` (and their ``/api/`` answers)."""

from __future__ import annotations

from starlette.requests import Request

from tpdask.samples import LOGIN_RE
from tpdask.web.answers import Answer
from tpdask.web.site import site_of


def streamers(request: Request) -> Answer:
    """Every analysed streamer, by minutes watched."""
    return "streamers.html", {"streamers": site_of(request).data.streamers()}


def streamer(request: Request) -> Answer:
    """A streamer's days, games, community and overlap neighbours; 404 for a name that is
    not a login or a streamer without analysed days."""
    login = request.path_params["login"]
    if not LOGIN_RE.fullmatch(login):
        return "streamer.html", None
    return "streamer.html", site_of(request).data.streamer(login)
