"""``/login`` (the form, and its post) and ``/logout``: the HTTP side of :mod:`tpdask.web.auth`.

These routes need no session (``anonymous`` in the route table): the login form is for
people without one, and ``/logout`` checks the session it is sent with itself. A posted
form is read as form fields only (:func:`tpdask.web.answers.form_values`); one without the
right CSRF token answers 403 and changes nothing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tpdask.web import auth
from tpdask.web.answers import error, form_values, page
from tpdask.web.site import site_of


def login_form(request: Request) -> Response:
    """The form, with the token of the nonce in its (new or renewed) login cookie."""
    site = site_of(request)
    nonce = auth.login_nonce(request)
    response = page("login.html", None, csrf_token=auth.login_form_token(site, nonce),
                    message="")
    auth.set_cookie(site, response, auth.LOGIN_COOKIE, nonce, max_age=3600, samesite="strict")
    return response


async def login_post(request: Request) -> Response:
    """A session cookie and 303 to ``/`` for the right password; 401 and the form again for
    a wrong one; 403 without the form's token; 429 (``Retry-After``) while throttled."""
    site = site_of(request)
    values = await form_values(request, ("username", "password", "csrf_token"))
    if not auth.login_form_ok(site, request, values["csrf_token"]):
        return error(request, 403, "the form has expired or did not come from this site: "
                     "reload the login page and try again")
    name, password = values["username"][:64], values["password"][:1024]
    client = auth.client_of(request)
    wait = await run_in_threadpool(auth.retry_after, site, client, name)
    if wait:
        response = error(request, 429, f"too many failed logins: try again in {wait} seconds")
        response.headers["retry-after"] = str(wait)
        return response
    token = await run_in_threadpool(auth.log_in, site, client, name, password)
    if token is None:
        return page("login.html", None, status=401, message=auth.WRONG,
                    csrf_token=values["csrf_token"])
    response = RedirectResponse("/", status_code=303)
    auth.set_cookie(site, response, auth.SESSION_COOKIE, token,
                    max_age=int(site.config.web_session_hours * 3600))
    response.delete_cookie(auth.LOGIN_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    """Ends the session when the form carries its CSRF token (403 otherwise); 303 to
    ``/login`` (also without a session)."""
    token = request.cookies.get(auth.SESSION_COOKIE)
    session = await run_in_threadpool(auth.session_of, request)
    if session is None or token is None:
        return RedirectResponse("/login", status_code=303)
    values = await form_values(request, ("csrf_token",))
    if not auth.session_form_ok(session, values["csrf_token"]):
        return error(request, 403, "the form did not come from this site", session)
    await run_in_threadpool(auth.log_out, site_of(request), token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response
