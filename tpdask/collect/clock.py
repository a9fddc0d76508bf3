"""Clocks for the collector: anything with `now()` (unix seconds) and `speed` (clock
seconds per real second). The wall clock here; the simulated one, which runs faster than
real time against the Twitch simulator, is `tpdask.simulator.clock.SimClock`."""

from __future__ import annotations

import time


class WallClock:
    speed = 1.0

    def now(self) -> float:
        return time.time()
