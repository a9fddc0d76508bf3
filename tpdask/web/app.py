"""The website: a Starlette application, one handler per page, each also a JSON answer.

Every page but ``/login`` needs a session (pages answer 303 to ``/login``, ``/api/…``
answers 401). A handler returns ``(template, data)``; the page renders the template, the
``/api`` route of the same handler returns ``data`` as JSON, so the two never differ. All
request values are validated here before they reach a store read as plain strings: a
login by ``^[a-z0-9_]{1,25}$``, a day or period by membership in what the store lists, a
viewer token by decrypting it. Handlers are plain functions: Starlette runs them on its
thread pool, where the SQLite store gives each thread its own connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from tpdask.errors import StoreError
from tpdask.settings import Config
from tpdask.stores import open_store
from tpdask.web import sessions
from tpdask.web.accounts import check_password
from tpdask.web.data import SiteData
from tpdask.web.middleware import SecurityHeaders
from tpdask.web.profile import viewer_profile
from tpdask.web.pseudonyms import LOGIN, Pseudonyms
from tpdask.web.render import HERE, render
from tpdask.web.sitedb import SiteDB, server_secret

SESSION_COOKIE = "tpdask_session"
LOGIN_COOKIE = "tpdask_login"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
WRONG = "wrong user name or password"

NAV = (("/", "Dashboard"), ("/streamers", "Streamers"), ("/overlap", "Overlap"),
       ("/bots", "Bots & accounts"), ("/viewers/random", "Random viewer"))
ADMIN_NAV = (("/lookup", "Look a login up"),)


def bokeh_static() -> str:
    """BokehJS as the installed bokeh package ships it (same version as the package)."""
    import bokeh

    return str(Path(bokeh.__file__).parent / "server" / "static" / "js")


class Site:
    """What every request needs: the store, the site database, the pseudonyms, caches."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = SiteDB(config.data_dir)
        self.secret = server_secret(config.data_dir)
        self.pseudonyms = Pseudonyms(self.secret)
        self.store = open_store(config.store, create=False)
        self.data = SiteData(config, self.store, self.pseudonyms)

    def close(self) -> None:
        self.store.close()
        self.db.close()

    # -- responses -----------------------------------------------------------------------

    def cookie(self, response: Response, name: str, value: str, max_age: int | None,
               samesite: str = "lax") -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                            samesite=samesite, secure=self.config.web_secure_cookies)

    def page(self, template: str, session: sessions.Session | None, status: int = 200,
             **data: Any) -> HTMLResponse:
        nav = NAV + (ADMIN_NAV if session is not None and session.admin else ())
        html = render(template, session=session, nav=nav, **data)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str,
              session: sessions.Session | None = None) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return self.page("error.html", session, status=status, status_code=status,
                         message=message)

    def login_token(self, nonce: str) -> str:
        return hmac.new(self.secret, b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def one(request: Request, name: str) -> str | None:
    """A query value given at most once, as a str; HTTP 400 otherwise."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise HTTPException(400, f"{name} is given more than once")
    return values[0] if values else None


def build_asgi_app(config: Config) -> ASGIApp:
    """The site for ``config``: a Starlette application inside the security headers."""
    site = Site(config)

    def guarded(handler: Callable, api: bool, admin: bool = False,
                params: tuple[str, ...] = ()) -> Callable:
        def endpoint(request: Request) -> Response:
            session = sessions.get_session(site.db, request.cookies.get(SESSION_COOKIE))
            if session is None:
                if api:
                    return JSONResponse({"error": "log in first: POST /login"}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            if admin and not session.admin:
                return site.error(request, 403, "admins only", session)
            unknown = sorted(set(request.query_params) - set(params))
            if unknown:     # login[$ne]=… and the like: refused, never read
                return site.error(request, 400, "unknown parameter: this page takes "
                                  + (", ".join(params) or "none"), session)
            answer = handler(request, session)
            if isinstance(answer, Response):
                return answer
            template, data = answer
            if data is None:
                return site.error(request, 404, "nothing here", session)
            if api:
                return JSONResponse(data)
            return site.page(template, session, data=data)
        endpoint.__name__ = handler.__name__ + ("_api" if api else "")
        return endpoint

    # -- the pages -----------------------------------------------------------------------

    def dashboard(request: Request, session: sessions.Session) -> tuple:
        return "dashboard.html", site.data.dashboard(session.admin)

    def streamers(request: Request, session: sessions.Session) -> tuple:
        return "streamers.html", {"streamers": site.data.streamers()}

    def streamer(request: Request, session: sessions.Session) -> tuple:
        login = request.path_params["login"]
        if not LOGIN.match(login):
            return "streamer.html", None
        return "streamer.html", site.data.streamer(login)

    def overlap(request: Request, session: sessions.Session) -> tuple:
        periods = site.data.periods()
        period = one(request, "period")
        if period is not None and period not in periods:
            return "overlap.html", None
        period = period or site.data.default_period()
        if period is None:
            return "overlap.html", {"period": None, "periods": [], "nodes": [], "edges": [],
                                    "community_members": [], "top_pairs": [], "pairs": 0}
        found = site.data.overlap(period)
        return "overlap.html", {**{k: v for k, v in found.items() if k != "by_streamer"},
                                "periods": periods}

    def bots(request: Request, session: sessions.Session) -> tuple:
        days = site.data.bot_days()
        day = one(request, "day")
        if day is not None and day not in days:
            return "bots.html", None
        day = day or (days[-1] if days else "")
        data = site.data.bots(day, session.admin)
        if session.admin:
            data["account_list"] = site.data.account_list()
        return "bots.html", data

    def random_viewer(request: Request, session: sessions.Session) -> Response:
        login = site.data.random_viewer(random_start())
        if login is None:
            return site.error(request, 404, "no viewer profile yet: run `tpdask analyse`",
                              session)
        return RedirectResponse(f"/viewers/{site.pseudonyms.token(login)}", status_code=303)

    def viewer(request: Request, session: sessions.Session) -> tuple:
        login = site.pseudonyms.login(request.path_params["token"])
        if login is None:
            return "viewer.html", None
        return "viewer.html", viewer_profile(site.store, site.pseudonyms, login)

    def lookup(request: Request, session: sessions.Session) -> Any:
        given = one(request, "login")
        if given is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(400, "give ?login=")
            return site.page("lookup.html", session, data=None, asked="")
        login = given.strip().lower()
        if not LOGIN.match(login):
            raise HTTPException(400, "a login is 1 to 25 of a-z, 0-9 and _")
        return "viewer.html", viewer_profile(site.store, site.pseudonyms, login,
                                             login_shown=True)

    # -- login and logout ----------------------------------------------------------------

    def login_form(request: Request) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", nonce):
            nonce = secrets.token_urlsafe(32)
        response = site.page("login.html", None, csrf_token=site.login_token(nonce),
                             message="", status=200)
        site.cookie(response, LOGIN_COOKIE, nonce, max_age=3600, samesite="strict")
        return response

    async def form_values(request: Request, names: tuple[str, ...]) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not kind:
            return dict.fromkeys(names, "")         # no form at all: no CSRF token → 403
        if kind not in FORM_TYPES:
            raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
        form = await request.form(max_files=0, max_fields=10)
        values = {}
        for name in names:
            got = form.getlist(name)
            if len(got) > 1 or (got and not isinstance(got[0], str)):
                raise HTTPException(400, f"{name} must be one text field")
            values[name] = got[0] if got else ""
        return values

    async def login_post(request: Request) -> Response:
        values = await form_values(request, ("username", "password", "csrf_token"))
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        if not nonce or not hmac.compare_digest(values["csrf_token"].encode(),
                                                site.login_token(nonce).encode()):
            return site.error(request, 403, "the form has expired or did not come from this "
                              "site: reload the login page and try again")
        name, password = values["username"][:64], values["password"][:1024]
        client = request.client.host if request.client else "unknown"
        cfg = site.config
        wait = await run_in_threadpool(sessions.retry_after, site.db, client, name,
                                       cfg.web_login_failures, cfg.web_login_window)
        if wait:
            response = site.error(request, 429, f"too many failed logins: try again in "
                                  f"{wait} seconds")
            response.headers["retry-after"] = str(wait)
            return response
        role = await run_in_threadpool(check_password, site.db, name, password)
        if role is None:
            await run_in_threadpool(sessions.record_failure, site.db, client, name,
                                    cfg.web_login_window)
            return site.page("login.html", None, status=401, message=WRONG,
                             csrf_token=values["csrf_token"])
        await run_in_threadpool(sessions.clear_account_failures, site.db, name)
        token = await run_in_threadpool(sessions.create_session, site.db, name,
                                        cfg.web_session_hours)
        response = RedirectResponse("/", status_code=303)
        site.cookie(response, SESSION_COOKIE, token, max_age=int(cfg.web_session_hours * 3600))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        session = await run_in_threadpool(sessions.get_session, site.db, token)
        if session is None or token is None:
            return RedirectResponse("/login", status_code=303)
        values = await form_values(request, ("csrf_token",))
        if not hmac.compare_digest(values["csrf_token"].encode(), session.csrf.encode()):
            return site.error(request, 403, "the form did not come from this site", session)
        await run_in_threadpool(sessions.end_session, site.db, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- errors --------------------------------------------------------------------------

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return site.error(request, exc.status_code, str(exc.detail))

    async def store_error(request: Request, exc: StoreError) -> Response:
        return site.error(request, 503, "the store cannot be read right now; try again soon")

    pages = (("/", dashboard, "/api/dashboard"), ("/streamers", streamers, "/api/streamers"),
             ("/streamers/{login}", streamer, "/api/streamers/{login}"),
             ("/overlap", overlap, "/api/overlap"), ("/bots", bots, "/api/bots"),
             ("/viewers/{token}", viewer, "/api/viewers/{token}"))
    routes = [Route("/login", login_form, methods=["GET"]),
              Route("/login", login_post, methods=["POST"]),
              Route("/logout", logout, methods=["POST"]),
              Route("/viewers/random", guarded(random_viewer, api=False), methods=["GET"]),
              Route("/lookup", guarded(lookup, api=False, admin=True, params=("login",)),
                    methods=["GET"]),
              Route("/api/lookup", guarded(lookup, api=True, admin=True, params=("login",)),
                    methods=["GET"])]
    for path, handler, api_path in pages:
        params = {"overlap": ("period",), "bots": ("day",)}.get(handler.__name__, ())
        routes.append(Route(path, guarded(handler, api=False, params=params), methods=["GET"]))
        routes.append(Route(api_path, guarded(handler, api=True, params=params),
                            methods=["GET"]))
    routes += [Mount("/static/bokeh", StaticFiles(directory=bokeh_static()), name="bokeh"),
               Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the caches fill on a thread while the server already answers
        threading.Thread(target=warm_up, args=(site,), daemon=True, name="warm-up").start()
        yield
        site.close()

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error,
                                                      StoreError: store_error},
                    lifespan=lifespan)
    app.state.site = site
    return SecurityHeaders(app)


def warm_up(site: Site) -> None:
    try:
        site.data.warm_up()
    except Exception:  # noqa: BLE001 - a page computes it again, and reports any error
        pass


def random_start() -> str:
    """A random string in the space of logins: the first profile key after it is a viewer
    drawn about uniformly (keys are spread over the alphabet of logins)."""
    alphabet = "0123456789_abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(4))
