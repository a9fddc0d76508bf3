"""The HTTP protocol the site's uvicorn runs: uvicorn's h11 protocol with the two limits it
lacks, so that idle or slow clients cannot take the server down.

uvicorn times a connection out only between requests (``timeout_keep_alive``): one that
opens and sends nothing, or sends a request a byte at a time, is kept for ever, and its
``limit_concurrency`` answers 503 to requests but keeps accepting connections. 1,100
idle sockets then use up the process's file descriptors, ``accept()`` fails with EMFILE
in a loop, and the log fills with its tracebacks. :class:`GuardedProtocol` adds:

- a **request timeout**: a connection must deliver a whole request (headers and body)
  within ``request_timeout`` seconds of opening, or of its previous answer; else it is
  closed (an answer being computed is never cut: the clock stops once the request is in;
  a request whose body is still trickling in when the time is up is closed too);
- a **connection bound**: at most ``max_connections`` connections; a new one past it
  closes the oldest connection that has no request in progress (an idle one), so a flood
  of idle sockets never keeps a real client out; when every connection is busy, the new
  one gets a 503 and is closed.

:func:`connection_limit` keeps the bound below the process's file descriptor limit
(raised to its hard limit first) by the connections asyncio may accept before the bound
is applied (the listening backlog is kept to :data:`BACKLOG` for that), so ``accept()``
never meets EMFILE. The values come
from the uvicorn ``Config`` (attributes set by :func:`tpdask.web.server.serve`), which
uvicorn hands to every server process.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

#: File descriptors kept free of connections: the stores, the site database, static files.
RESERVED_FDS = 64
#: The listening socket's backlog, which is also how many connections asyncio accepts in
#: one turn of the event loop, before any of them reaches ``connection_made``.
BACKLOG = 128
#: Turns of the loop that may accept a backlog each before an eviction frees a file.
ACCEPT_TURNS = 4
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 32\r\nconnection: close\r\nretry-after: 5\r\n\r\n"
        b"too many connections: retry soon")


def connection_limit(wanted: int) -> int:
    """``wanted``, lowered to fit the file descriptors this process may open (whose soft
    limit is first raised to the hard one). asyncio accepts up to :data:`BACKLOG`
    connections a turn, and the bound is enforced (and an evicted socket closed) a few
    turns later, so room for :data:`ACCEPT_TURNS` backlogs is left besides
    :data:`RESERVED_FDS`: with the usual limit of 1024 files, 448 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - RESERVED_FDS - ACCEPT_TURNS * BACKLOG))


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a request timeout and a bound on connections."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.request_timeout: float = getattr(config, "request_timeout", 10.0)
        self.max_connections: int = getattr(config, "max_connections", 1000)
        self.opened = 0.0
        self.deadline: asyncio.TimerHandle | None = None
        self.refused = False            # turned away at the bound: never served

    # -- the bound ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.opened = self.loop.time()
        if len(self.connections) >= self.max_connections and not self._evict_one():
            self.refused = True
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self._arm()

    def idle(self) -> bool:
        """Whether no request of this connection is being answered."""
        return self.cycle is None or self.cycle.response_complete

    def _evict_one(self) -> bool:
        """Close the oldest idle connection; False when every one is busy."""
        idle = [c for c in self.connections if isinstance(c, GuardedProtocol) and c.idle()
                and not c.transport.is_closing()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.opened)
        oldest.transport.close()
        self.connections.discard(oldest)
        return True

    # -- the request timeout ------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _too_slow(self) -> None:
        """The request is not in on time: close, unless it is in and being answered (its
        headers came and its body is still arriving counts as not in)."""
        self.deadline = None
        body_pending = self.conn.their_state is h11.SEND_BODY
        if (self.idle() or body_pending) and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()            # the whole request is in: it is being answered

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is not h11.DONE:
            self._arm()               # the clock runs again for the next request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.refused:
            return                      # uvicorn's state was never set up for it
        super().connection_lost(exc)
