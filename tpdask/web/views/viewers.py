"""Viewers: ``/viewers/random``, ``/viewers/{token}`` (anonymised) and, for admins,
``/lookup?login=…`` (the same profile found by login and showing it).

A viewer's token is its pseudonym (:mod:`tpdask.web.pseudonyms`); a token this server did
not make answers 404. Every profile shown is written to the access log
(:mod:`tpdask.web.access_log`).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tpdask.samples import LOGIN_RE
from tpdask.web.access_log import record_access
from tpdask.web.answers import Answer, error, is_api, one, page
from tpdask.web.auth import signed_in
from tpdask.web.exposure import hour_sessions
from tpdask.web.profile import viewer_profile
from tpdask.web.site import site_of


def random_viewer(request: Request) -> Response:
    """303 to a viewer's page drawn uniformly (404 when no profile exists yet)."""
    site = site_of(request)
    login = site.data.random_viewer()
    if login is None:
        return error(request, 404, "no viewer profile yet: run `tpdask analyse`",
                     signed_in(request))
    return RedirectResponse(f"/viewers/{site.pseudonyms.token(login)}", status_code=303)


def viewer(request: Request) -> Answer:
    """The anonymised profile of the viewer of a token; for a visitor, its sessions to
    the hour (:func:`tpdask.web.exposure.hour_sessions`)."""
    site = site_of(request)
    login = site.pseudonyms.login(request.path_params["token"])
    if login is None:
        return "viewer.html", None
    data = viewer_profile(site.store, site.pseudonyms, login)
    session = signed_in(request)
    if data is not None:
        record_access(site.db, session.name, session.role, "viewer", data["token"])
    if data is not None and not session.admin:
        # the exact 5-minute timeline could be matched with what someone saw in a chat
        data["sessions"] = hour_sessions(data["sessions"])
        data["resolution"] = "hour"
    return "viewer.html", data


def lookup(request: Request) -> Answer:
    """Admins: the profile of ``?login=`` with the login shown; without it, the form (the
    data answer: 400)."""
    site = site_of(request)
    given = one(request, "login")
    if given is None:
        if is_api(request):
            raise HTTPException(400, "give ?login=")
        return page("lookup.html", signed_in(request), data=None, asked="")
    login = given.strip().lower()
    if not LOGIN_RE.fullmatch(login):
        raise HTTPException(400, "a login is 1 to 25 of a-z, 0-9 and _")
    data = viewer_profile(site.store, site.pseudonyms, login, login_shown=True)
    if data is not None:
        session = signed_in(request)
        record_access(site.db, session.name, session.role, "lookup", data["token"])
    return "viewer.html", data
