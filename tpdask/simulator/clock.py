"""The simulator's clock: simulated time that may run faster than real time.

Why a clock of its own: a simulated day must be watchable in minutes (a collector test
wants several 5-minute ticks in a few seconds), and every piece of the simulator (Helix
answers, token expiry, IRC bursts) must agree on what "now" is.  The rule is one line:

    simulated now = start_ts + (real seconds elapsed since the anchor) x speed

In-process the elapsed time is measured with ``time.monotonic`` (immune to wall-clock
jumps).  The clock also remembers the wall-clock time of its anchor, so it pickles into
another process (a collector under test, a Dask worker) and keeps telling the same time
there; ``state()``/``from_state()`` do the same through JSON (``GET /_sim/state``).
"""

from __future__ import annotations

import threading
import time
from typing import Any


class SimClock:
    """Simulated time = ``start_ts + elapsed_real * speed``, anchored when created."""

    def __init__(self, start_ts: float, speed: float = 1.0, *, anchor_wall: float | None = None):
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self.start_ts = float(start_ts)
        self.speed = float(speed)
        self.anchor_wall = time.time() if anchor_wall is None else float(anchor_wall)
        self._anchor_mono = time.monotonic() - (time.time() - self.anchor_wall)

    def reanchor(self, start_ts: float) -> None:
        """Make the clock read ``start_ts`` now (e.g. after a warm-up that must not count)."""
        self.start_ts = float(start_ts)
        self.anchor_wall = time.time()
        self._anchor_mono = time.monotonic()

    # ------------------------------------------------------------ reading the time
    def now(self) -> float:
        """Simulated unix time, in seconds (with a fraction)."""
        return self.start_ts + (time.monotonic() - self._anchor_mono) * self.speed

    def now_int(self) -> int:
        """Simulated unix time, whole seconds: what Twitch-facing answers use."""
        return int(self.now())

    def real_seconds_until(self, sim_ts: float) -> float:
        """Real seconds left before the simulated clock reads ``sim_ts`` (<= 0: passed)."""
        return (sim_ts - self.now()) / self.speed

    # ------------------------------------------------------------ waiting
    def sleep_until(self, sim_ts: float, stop: threading.Event | None = None) -> bool:
        """Block until simulated ``sim_ts``; True when reached, False when ``stop`` was set
        first (so a server thread can be shut down in the middle of a long wait)."""
        while True:
            left = self.real_seconds_until(sim_ts)
            if left <= 0:
                return True
            if stop is None:
                time.sleep(min(left, 1.0))
            elif stop.wait(min(left, 1.0)):
                return False

    def sleep(self, sim_seconds: float, stop: threading.Event | None = None) -> bool:
        """Block for ``sim_seconds`` of simulated time (``sim_seconds / speed`` real)."""
        return self.sleep_until(self.now() + sim_seconds, stop)

    # ------------------------------------------------------------ sharing
    def state(self) -> dict[str, Any]:
        """JSON-able description from which ``from_state`` rebuilds the same clock."""
        return {"start_ts": self.start_ts, "speed": self.speed, "anchor_wall": self.anchor_wall}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SimClock":
        """The clock described by ``state()`` (e.g. ``GET /_sim/state``'s ``clock``)."""
        return cls(state["start_ts"], state["speed"], anchor_wall=state["anchor_wall"])

    def __getstate__(self) -> dict[str, Any]:
        return self.state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["start_ts"], state["speed"], anchor_wall=state["anchor_wall"])

    def __repr__(self) -> str:
        return f"SimClock(start_ts={self.start_ts:.0f}, speed={self.speed:g}, now={self.now():.0f})"
