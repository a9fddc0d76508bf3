"""`tpdask web`: the site served by uvicorn, a real ASGI server, not a development server.

The listening socket is bound here, before uvicorn starts, so the address printed is one
that already accepts connections (``--port 0`` picks a free port and prints it). With the
``web_workers`` setting above 1, uvicorn runs that many server processes on the socket;
each builds the application from the import string ``tpdask.web.server:app_from_env``
and the settings passed in ``TPDASK_WEB_CONFIG`` (the allowed hosts already resolved from
``--host``, :mod:`tpdask.web.hosts`). The access log is off: an admin's lookup URL
carries a login, and logins are never logged.

Connections are served by :class:`tpdask.web.protocol.GuardedProtocol`, uvicorn's h11
protocol with a request timeout (``web_request_timeout``) and a bound on open
connections (``web_max_connections``, lowered to fit the file descriptor limit), so idle
or slow clients cannot take the site down; between requests uvicorn's own keep-alive
timeout (5 s) closes an idle connection.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from tpdask.errors import ConfigError
from tpdask.settings import Config
from tpdask.stores import open_store
from tpdask.web.hosts import allowed_hosts
from tpdask.web.protocol import BACKLOG, GuardedProtocol, connection_limit

ENV = "TPDASK_WEB_CONFIG"


def app_from_env() -> ASGIApp:
    """The application of a server process (uvicorn's app factory)."""
    from tpdask.web.app import build_asgi_app

    values = json.loads(os.environ[ENV])
    values["data_dir"] = Path(values["data_dir"])
    return build_asgi_app(Config(**values))


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    # without it a kept-alive connection waits ~40 ms (Nagle + delayed ACK) per answer,
    # since the server writes the headers and the body apart
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror} — choose another "
                          "--port (or --host)") from None
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000,
          banner: str = "") -> None:
    """Serve until Ctrl-C or SIGTERM (then return normally)."""
    import uvicorn

    open_store(config.store, create=False).close()   # a wrong --store is an error now
    from tpdask.web.sitedb import SiteDB, server_secret

    SiteDB(config.data_dir).close()
    server_secret(config.data_dir)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    values["data_dir"] = str(config.data_dir)
    values["web_allowed_hosts"] = ",".join(allowed_hosts(config.web_allowed_hosts, host))
    os.environ[ENV] = json.dumps(values)
    sock = bind(host, port)
    uvicorn_config = uvicorn.Config("tpdask.web.server:app_from_env", factory=True,
                                    fd=sock.fileno(), workers=config.web_workers,
                                    access_log=False, log_level="warning",
                                    server_header=False, proxy_headers=False,
                                    http=GuardedProtocol, timeout_keep_alive=5,
                                    backlog=BACKLOG)
    # read by GuardedProtocol in every server process (uvicorn hands them this Config)
    uvicorn_config.request_timeout = config.web_request_timeout  # type: ignore[attr-defined]
    uvicorn_config.max_connections = connection_limit(  # type: ignore[attr-defined]
        config.web_max_connections)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again
    # with the handler it found: both end here, so stopping the site is a normal exit,
    # also when the signal comes before uvicorn has taken them over
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        print(f"tpdask web: serving {address(sock, host)} ({config.web_workers} server "
              f"process{'es' if config.web_workers > 1 else ''}; Ctrl-C stops it)", flush=True)
        if banner:
            print(banner, flush=True)
        if config.web_workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(uvicorn_config, sockets=[sock]).run()
        else:
            uvicorn.Server(uvicorn_config).run(sockets=[sock])
    except (KeyboardInterrupt, Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    print("tpdask web: stopped", flush=True)


class Stopped(Exception):
    """SIGTERM asked the site to stop."""


def _stop(signum: int, frame: Any) -> None:
    raise Stopped()
