"""What the application is wrapped in: the security headers on every answer.

:class:`SecurityHeaders` is pure ASGI middleware around the whole Starlette application,
so the headers are also on the answers Starlette makes itself (a 404 of the router, a
500 of its error middleware). Pages and data answers get ``Cache-Control: no-store``;
static files may be cached. Sessions are not loaded here: a session is a read of
``site.sqlite``, made by :func:`tpdask.web.auth.session_of` on the view's thread and only
for the routes that need one (not for static files or the login form).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (("content-security-policy", CSP), ("x-content-type-options", "nosniff"),
                    ("referrer-policy", "same-origin"), ("x-frame-options", "DENY"))


class SecurityHeaders:
    """The security headers on every HTTP answer, ``no-store`` on all but static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
