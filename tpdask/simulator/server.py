"""The simulator's HTTP side: one ``ThreadingHTTPServer`` for auth, Helix, tmi and control.

Why one port: the collector is pointed at ``--helix_url``/``--auth_url`` and the tests at
``/_sim/``; serving them together keeps one address to print and one process to run.
This module owns transport and faults only: it parses the request into a ``Request``,
applies the injected faults (delay, 500, truncated JSON) around the endpoint, and
writes the ``Response`` back with HTTP/1.1 keep-alive, as Twitch does.
"""

from __future__ import annotations

import logging
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tpdask.simulator.auth import Auth
from tpdask.simulator.connections import TracksConnections
from tpdask.simulator.control import Control
from tpdask.simulator.faults import Faults
from tpdask.simulator.helix import Helix
from tpdask.simulator.ratelimit import RateLimiter
from tpdask.simulator.routing import Request, Response, helix_error, not_found
from tpdask.simulator.tmi import tmi_chatters
from tpdask.simulator.world import World

log = logging.getLogger(__name__)
_TMI = re.compile(r"^/group/user/([A-Za-z0-9_]{1,25})/chatters/?$")


class App:
    """Routes a ``Request`` to its endpoint, with the injected faults around it."""

    def __init__(self, world: World, auth: Auth, faults: Faults):
        self.world, self.auth, self.faults = world, auth, faults
        self.helix = Helix(world, auth, faults, RateLimiter(world.options.rate_limit))
        self.control = Control(world, auth, faults)
        self._oauth = {"/token": auth.token, "/validate": auth.validate, "/revoke": auth.revoke}

    def dispatch(self, req: Request) -> Response:
        if req.path.startswith("/_sim/"):
            return self.control.handle(req, req.path[len("/_sim"):])
        self.faults.count("http.requests")
        plan = self.faults.http_plan()
        if plan.delay:
            time.sleep(plan.delay)
        if plan.server_error:
            resp = helix_error(500, "Internal Server Error", self.faults.retry_after_headers())
        else:
            resp = self._route(req)
        self.faults.count(f"http.status.{resp.status}")
        if plan.malformed and resp.is_json and resp.body:
            resp.body = resp.body[: len(resp.body) // 2]
        return resp

    def _route(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/helix/"):
            return self.helix.handle(req, path[len("/helix"):])
        if path.startswith("/oauth2/"):
            handler = self._oauth.get(path[len("/oauth2"):].rstrip("/"))
            return handler(req) if handler else not_found(path)
        match = _TMI.match(path)
        if match and req.method == "GET":
            self.faults.count("tmi.chatters")
            return tmi_chatters(self.world, match.group(1))
        return not_found(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.twitch.tv
    server_version = "tpdask-simulator"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: "HttpServer"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                      {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            resp = self.server.app.dispatch(req)
        except Exception:  # a bug in an endpoint must not kill the connection silently
            log.exception("simulator endpoint failed: %s %s", self.command, self.path)
            resp = helix_error(500, "simulator error (see its log)")
        self.send_response(resp.status)
        if resp.is_json:
            self.send_header("Content-Type", "application/json")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)


class HttpServer(TracksConnections, ThreadingHTTPServer):
    """ThreadingHTTPServer that can also cut its open keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App):
        super().__init__(address, _Handler)
        self.app = app
        self._init_tracking()

    def handle_error(self, request, client_address) -> None:
        """Clients vanishing (resets, a stop during a ``slow`` answer) are routine here."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

