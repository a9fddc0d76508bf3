"""Helix's rate limit: a token bucket of N points a minute per client id.

Why real time and not simulated time: the limit protects Twitch's servers, which live
in real time, and clients compute their back-off as ``Ratelimit-Reset - time.time()``.
So a fast simulated clock does not give the collector more requests per real minute —
which is exactly the pressure the collector must learn to handle.

Headers on every Helix answer: ``Ratelimit-Limit`` (bucket size), ``Ratelimit-Remaining``
(whole points left), ``Ratelimit-Reset`` (unix time, real, at which the bucket is full).
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """One bucket per client id, refilling continuously at ``limit`` points per minute."""

    def __init__(self, limit: int):
        self.limit = int(limit)
        self._rate = self.limit / 60.0  # points per real second
        self._buckets: dict[str, tuple[float, float]] = {}  # client id -> (points, at)
        self._lock = threading.Lock()

    def _level(self, client_id: str, now: float) -> float:
        points, at = self._buckets.get(client_id, (float(self.limit), now))
        return min(float(self.limit), points + (now - at) * self._rate)

    def take(self, client_id: str, cost: int = 1) -> tuple[bool, dict[str, str]]:
        """Spend ``cost`` points; (allowed, Ratelimit-* headers)."""
        with self._lock:
            now = time.time()
            points = self._level(client_id, now)
            allowed = points >= cost
            if allowed:
                points -= cost
            self._buckets[client_id] = (points, now)
            return allowed, self._headers(points, now)

    def exhausted(self) -> dict[str, str]:
        """Headers of a forced 429 (fault): Remaining 0, Reset in about a second; the
        bucket itself is left alone, so the fault lasts exactly the requests it was set for."""
        return {"Ratelimit-Limit": str(self.limit), "Ratelimit-Remaining": "0",
                "Ratelimit-Reset": str(math.ceil(time.time()) + 1)}

    def _headers(self, points: float, now: float) -> dict[str, str]:
        full_in = (self.limit - points) / self._rate
        return {"Ratelimit-Limit": str(self.limit),
                "Ratelimit-Remaining": str(max(0, math.floor(points))),
                "Ratelimit-Reset": str(math.ceil(now + full_in))}
