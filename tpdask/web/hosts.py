"""The Host header check: the site answers only to the names it is meant to be reached by.

Without it, any DNS name pointed at the machine reaches the site (DNS rebinding: a page
of another site, once its name resolves to 127.0.0.1, could read this one from the
victim's browser with the victim's cookies scoped to that name), and absolute URLs a
proxy or a browser builds from the Host header could name an attacker's host.

The ``web_allowed_hosts`` setting lists the names, comma-separated: an entry ``name``
matches that host exactly, ``*.example.org`` (or ``.example.org``) every subdomain of
example.org and example.org itself, and ``*`` any host (the check is then off). Ports
are ignored. Empty (the default), :func:`default_hosts` allows what works without
configuration: ``localhost``, ``127.0.0.1`` and ``::1``, the ``--host`` that
`tpdask web` listens on, and, when it listens on every address (``0.0.0.0`` or ``::``),
the machine's host names and the addresses of its network interfaces. A site reached
under another name (a reverse proxy passing on ``Host: stats.example.org``) must list it.
A request whose Host is not allowed answers 400 without reaching a view.
"""

from __future__ import annotations

import socket

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def default_hosts(bind_host: str) -> list[str]:
    """The hosts allowed when ``web_allowed_hosts`` is empty, for a site listening on
    ``bind_host`` (see the module docstring)."""
    hosts = list(LOCAL)
    if bind_host not in WILDCARDS:
        hosts.append(bind_host)
        return _unique(hosts)
    hosts += [socket.gethostname(), socket.getfqdn()]
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            hosts += [a.address.split("%")[0] for a in addresses
                      if a.family in (socket.AF_INET, socket.AF_INET6)]
    except (ImportError, OSError):
        pass
    return _unique(hosts)


def allowed_hosts(setting: str, bind_host: str) -> list[str]:
    """The setting's entries, or :func:`default_hosts` when it is empty."""
    given = [h.strip().lower() for h in setting.split(",") if h.strip()]
    return _unique(given) if given else default_hosts(bind_host)


def host_of(header: str) -> str:
    """The host name of a Host header, without its port (``[::1]:8000`` → ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(host: str, allowed: list[str]) -> bool:
    if not host:
        return False
    for entry in allowed:
        if entry == "*" or entry == host:
            return True
        if entry.startswith(("*.", ".")):
            parent = entry.lstrip("*").lstrip(".")
            if host == parent or host.endswith("." + parent):
                return True
    return False


class HostCheck:
    """ASGI middleware: 400 for an HTTP request whose Host header is not allowed."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = [h.lower() for h in allowed]
        self.any = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.any:
            host = host_of(Headers(scope=scope).get("host", ""))
            if not host_allowed(host, self.allowed):
                # the header is not echoed: it is whatever the client chose to send
                answer = PlainTextResponse("unknown host: set web_allowed_hosts to serve "
                                           "the site under this name", status_code=400)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i.lower() for i in items if i))
