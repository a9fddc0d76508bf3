"""How the site reads a request's values and writes its answers.

Reading is strict, so that no request value reaches a store read in a form it was not
checked in: :func:`one` gives a query value given at most once, :func:`form_values` the
text fields of a form (a JSON body answers 415, a field given twice or as a file 400).
Writing: a view's :data:`Answer` becomes a page or JSON (:mod:`tpdask.web.routes`);
:func:`page` renders a template with the navigation bar of the session's role,
:func:`error` answers in the form the asker reads (JSON under ``/api/``, else a page).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tpdask.web.render import render
from tpdask.web.sessions import Session

#: The navigation bar of every page, and what admins see in it besides.
NAV = (("/", "Dashboard"), ("/streamers", "Streamers"), ("/rankings", "Rankings"),
       ("/stream-health", "Stream health"), ("/overlap", "Overlap"),
       ("/bots", "Bots & accounts"), ("/viewers/random", "Random viewer"))
ADMIN_NAV = (("/lookup", "Look a login up"),)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

#: What a view returns: a response, or ``(template, data)`` (see :mod:`tpdask.web.views`).
Answer: TypeAlias = Response | tuple[str, dict[str, Any] | None]


def is_api(request: Request) -> bool:
    """Whether the asker reads JSON (a data answer under ``/api/``) rather than a page."""
    return request.url.path.startswith("/api/")


def page(template: str, session: Session | None, status: int = 200,
         **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, the session and its role's navigation bar."""
    nav = NAV + (ADMIN_NAV if session is not None and session.admin else ())
    html = render(template, session=session, nav=nav, **context)
    return HTMLResponse(html, status_code=status)


def error(request: Request, status: int, message: str,
          session: Session | None = None) -> Response:
    """An error as ``{"error": message}`` under ``/api/``, else as the error page."""
    if is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    return page("error.html", session, status=status, status_code=status, message=message)


def one(request: Request, name: str) -> str | None:
    """A query value given at most once, as a str; HTTP 400 otherwise."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise HTTPException(400, f"{name} is given more than once")
    return values[0] if values else None


async def form_values(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The text fields ``names`` of a posted form ("" when missing); HTTP 415 for a body
    that is not a form, 400 for a field given twice or as a file. A request without a
    body gives "" for every field, so its CSRF check fails (403)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind:
        return dict.fromkeys(names, "")
    if kind not in FORM_TYPES:
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    form = await request.form(max_files=0, max_fields=10)
    values: dict[str, str] = {}
    for name in names:
        got = form.getlist(name)
        value = got[0] if got else ""
        if len(got) > 1 or not isinstance(value, str):
            raise HTTPException(400, f"{name} must be one text field")
        values[name] = value
    return values
