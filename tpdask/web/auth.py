"""Who is asking and what they may see: sessions on requests, the role checks, logging in
and out, the login throttle.

Each route of :data:`tpdask.web.routes.ROUTES` says who may see it: ``anonymous`` (no
session needed), ``visitor`` (any session, a visitor's or an admin's) or ``admin``;
:func:`refusal` is the check. A request's session is the ``tpdask_session`` cookie's token
looked up in ``site.sqlite`` with its user's current role (so removing a user or changing
its role takes effect at once); :func:`session_of` reads it once per request.

Logging in: the login form, shown before any session exists, carries an HMAC (server
secret) of a random nonce held in a SameSite=Strict cookie (:func:`login_nonce`,
:func:`login_form_token`). A posted form is checked for that token, then against the
throttle (:func:`retry_after`), then its password (:func:`log_in`, which counts a failure
or opens a session). Forms of a session (log-out) carry the session's own CSRF token
(:func:`session_form_ok`). Functions that read or write ``site.sqlite`` block: async
views call them on Starlette's thread pool. The tables are :mod:`tpdask.web.sessions`'.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tpdask.web import sessions
from tpdask.web.accounts import check_password
from tpdask.web.answers import error, is_api
from tpdask.web.sessions import Session
from tpdask.web.site import Site, site_of

SESSION_COOKIE = "tpdask_session"
LOGIN_COOKIE = "tpdask_login"
WRONG = "wrong user name or password"

#: Who may see a route: anyone, anyone logged in, admins.
Access = Literal["anonymous", "visitor", "admin"]
ANONYMOUS: Access = "anonymous"
VISITOR: Access = "visitor"
ADMIN: Access = "admin"

NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")
_UNREAD = object()


# -- sessions on requests and the role checks ------------------------------------------

def session_of(request: Request) -> Session | None:
    """The request's live session with its user's current role, or None. Read from
    ``site.sqlite`` on the first call of a request (blocking), then kept on the request."""
    found = getattr(request.state, "session", _UNREAD)
    if found is _UNREAD:
        found = sessions.get_session(site_of(request).db, request.cookies.get(SESSION_COOKIE))
        request.state.session = found
    return found  # type: ignore[return-value]


def signed_in(request: Request) -> Session:
    """The session of a request that :func:`refusal` let through to a view."""
    session = session_of(request)
    if session is None:
        raise RuntimeError(f"{request.url.path}: a view that needs a session is routed "
                           "without an access check")
    return session


def refusal(request: Request, access: Access) -> Response | None:
    """None when the request may see a route of ``access``; else the answer: without a
    session, 303 to ``/login`` for a page and 401 for data; 403 for a visitor on a route
    of admins. Blocking (it reads the session)."""
    if access == ANONYMOUS:
        return None
    session = session_of(request)
    if session is None:
        if is_api(request):
            return JSONResponse({"error": "log in first: POST /login"}, status_code=401)
        return RedirectResponse("/login", status_code=303)
    if access == ADMIN and not session.admin:
        return error(request, 403, "admins only", session)
    return None


def session_form_ok(session: Session, token: str) -> bool:
    """Whether a form posted with a session carries that session's CSRF token."""
    return hmac.compare_digest(token.encode(), session.csrf.encode())


# -- cookies -------------------------------------------------------------------------------

def set_cookie(site: Site, response: Response, name: str, value: str, max_age: int | None,
               samesite: Literal["lax", "strict"] = "lax") -> None:
    """An HttpOnly cookie for the whole site (``Secure`` with ``--web_secure_cookies``)."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite=samesite, secure=site.config.web_secure_cookies)


# -- logging in and out --------------------------------------------------------------------

def login_nonce(request: Request) -> str:
    """The login cookie's nonce when it is well formed, else a new one."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    return nonce if NONCE.fullmatch(nonce) else secrets.token_urlsafe(32)


def login_form_token(site: Site, nonce: str) -> str:
    """The login form's CSRF token for the nonce of its cookie."""
    return hmac.new(site.secret, b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def login_form_ok(site: Site, request: Request, token: str) -> bool:
    """Whether a posted login form carries the token of the nonce in its login cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    return bool(nonce) and hmac.compare_digest(token.encode(),
                                               login_form_token(site, nonce).encode())


def client_of(request: Request) -> str:
    """The TCP peer's address (proxy headers are off: behind a proxy, the proxy's)."""
    return request.client.host if request.client else "unknown"


def retry_after(site: Site, client: str, name: str) -> int:
    """Seconds until ``client`` may try to log in as ``name`` again; 0 when it may now."""
    cfg = site.config
    return sessions.retry_after(site.db, client, name, cfg.web_login_failures,
                                cfg.web_login_window)


def log_in(site: Site, client: str, name: str, password: str) -> str | None:
    """A new session's token when the password is right (the account's failures are then
    forgotten); None when it is wrong (a failure of the client and the account counted)."""
    if check_password(site.db, name, password) is None:
        sessions.record_failure(site.db, client, name, site.config.web_login_window)
        return None
    sessions.clear_account_failures(site.db, name, client)
    return sessions.create_session(site.db, name, site.config.web_session_hours)


def log_out(site: Site, token: str) -> None:
    """End the session of a cookie's token."""
    sessions.end_session(site.db, token)
