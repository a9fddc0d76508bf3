"""What the simulator's HTTP and IRC servers share: they remember their open connections,
so stopping the simulator (or a dropped-connection fault) resets every client at once."""

from __future__ import annotations

import socket
import threading


class TracksConnections:
    """Mixin for a socketserver server; call `_init_tracking()` in `__init__`."""

    def _init_tracking(self) -> None:
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def close_all(self) -> None:
        """Stop serving and close every open connection (clients see a reset)."""
        self.shutdown()
        self.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
