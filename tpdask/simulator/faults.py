"""Fault injection and request counters: what goes wrong, on request or at random.

Why: a collector is only trustworthy once it has survived Twitch misbehaving — 429s,
500s, slow answers, truncated bodies, tokens revoked under its feet, chat connections
dropped.  Tests switch each fault on through ``POST /_sim/faults``; soak tests start the
simulator with ``chaos`` > 0, a seeded random mix.  Faults never touch ``/_sim/``.

Fault JSON (every key optional; 0 / false switches a fault off; ``{"reset": true}`` clears
all): ``rate_limit`` N (next N Helix requests: 429), ``server_error`` N (next N requests:
500), ``server_error_rate`` F (fraction of requests: 500), ``slow`` S (every answer
delayed S real seconds), ``malformed_json`` N (next N JSON bodies cut in half),
``expire_tokens`` true (every access token issued so far stops working), ``irc_drop``
true/false (close chat connections and refuse new ones while on), ``unauthorized`` N (next
N Helix requests: 401, as for credentials Twitch no longer accepts, whatever the token),
``retry_after`` S (the faulted 429s and 500s carry ``Retry-After: S``), ``helix_shape``
``list`` / ``null_data`` / ``no_id`` (Helix answers of the wrong shape: ``[]``,
``{"data": null}``, items without ``id``; ``""`` switches it off).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass

_COUNTS = ("rate_limit", "server_error", "malformed_json", "unauthorized")
#: The wrong shapes ``helix_shape`` gives a Helix answer (200s only).
HELIX_SHAPES = ("list", "null_data", "no_id")


@dataclass(frozen=True)
class HttpPlan:
    """What happens to one non-control HTTP request."""

    delay: float = 0.0
    server_error: bool = False
    malformed: bool = False


class Faults:
    """Current fault switches, a seeded chaos source, and counters (thread-safe)."""

    def __init__(self, chaos: float = 0.0, seed: int = 0):
        self.chaos = float(chaos)
        self._rng = random.Random(f"tpdask-chaos-{seed}")
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self._clear()

    def _clear(self) -> None:
        self.rate_limit = self.server_error = self.malformed_json = self.unauthorized = 0
        self.server_error_rate = self.slow = 0.0
        self.retry_after = 0
        self.helix_shape = ""
        self.irc_drop = False

    # ------------------------------------------------------------ switching
    def update(self, changes: dict) -> list[str]:
        """Apply ``POST /_sim/faults`` JSON; return one-shot actions to perform
        (``["expire_tokens"]``).  ``ValueError`` for unknown keys or bad values."""
        if not isinstance(changes, dict):
            raise ValueError("fault settings must be a JSON object")
        unknown = set(changes) - {*_COUNTS, "server_error_rate", "slow", "irc_drop",
                                  "expire_tokens", "reset", "retry_after", "helix_shape"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        actions = []
        with self._lock:
            if changes.get("reset"):
                self._clear()
            for key in _COUNTS:
                if key in changes:
                    setattr(self, key, _number(changes[key], key, int, 0))
            if "server_error_rate" in changes:
                rate = _number(changes["server_error_rate"], "server_error_rate", float, 0)
                if rate > 1:
                    raise ValueError("server_error_rate is a fraction in [0, 1]")
                self.server_error_rate = rate
            if "slow" in changes:
                self.slow = _number(changes["slow"], "slow", float, 0)
            if "irc_drop" in changes:
                self.irc_drop = bool(changes["irc_drop"])
            if "retry_after" in changes:
                self.retry_after = _number(changes["retry_after"], "retry_after", int, 0)
            if "helix_shape" in changes:
                shape = changes["helix_shape"] or ""
                if shape and shape not in HELIX_SHAPES:
                    raise ValueError(f"helix_shape is one of {', '.join(HELIX_SHAPES)} "
                                     f"(or \"\" for none), got {shape!r}")
                self.helix_shape = shape
        if changes.get("expire_tokens"):
            actions.append("expire_tokens")
        return actions

    def snapshot(self) -> dict:
        """Current switches (``GET /_sim/state``'s ``faults``)."""
        with self._lock:
            return {"rate_limit": self.rate_limit, "server_error": self.server_error,
                    "server_error_rate": self.server_error_rate, "slow": self.slow,
                    "malformed_json": self.malformed_json, "irc_drop": self.irc_drop,
                    "unauthorized": self.unauthorized, "retry_after": self.retry_after,
                    "helix_shape": self.helix_shape, "chaos": self.chaos}

    # ------------------------------------------------------------ deciding
    def http_plan(self) -> HttpPlan:
        """Decide (and consume) the faults of one non-control HTTP request."""
        with self._lock:
            delay, error, malformed = self.slow, False, False
            if self.server_error > 0:
                self.server_error -= 1
                error = True
            elif self.server_error_rate and self._rng.random() < self.server_error_rate:
                error = True
            if not error and self.malformed_json > 0:
                self.malformed_json -= 1
                malformed = True
            if self.chaos and self._rng.random() < self.chaos * 0.75:
                kind = self._rng.randrange(3)
                error = error or kind == 0
                malformed = malformed or kind == 1
                delay += self._rng.uniform(0.2, 1.0) if kind == 2 else 0.0
        for name, on in (("server_error", error), ("malformed_json", malformed), ("slow", delay)):
            if on:
                self.count(f"faults.{name}")
        return HttpPlan(delay, error, malformed)

    def take_rate_limit(self) -> bool:
        """Whether this Helix request must be answered 429 by fault (or chaos)."""
        with self._lock:
            if self.rate_limit > 0:
                self.rate_limit -= 1
                hit = True
            else:
                hit = bool(self.chaos) and self._rng.random() < self.chaos * 0.25
        if hit:
            self.count("faults.rate_limit")
        return hit

    def take_unauthorized(self) -> bool:
        """Whether this Helix request must be answered 401 by fault (``unauthorized``)."""
        with self._lock:
            hit = self.unauthorized > 0
            if hit:
                self.unauthorized -= 1
        if hit:
            self.count("faults.unauthorized")
        return hit

    def retry_after_headers(self) -> dict[str, str]:
        """``Retry-After`` for a faulted 429 or 500 while ``retry_after`` is on."""
        with self._lock:
            return {"Retry-After": str(self.retry_after)} if self.retry_after else {}

    def reshape(self, body: dict) -> object:
        """A Helix answer as ``helix_shape`` makes it (unchanged when it is off)."""
        with self._lock:
            shape = self.helix_shape
        if not shape:
            return body
        self.count("faults.helix_shape")
        if shape == "list":
            return []
        if shape == "null_data":
            return {**body, "data": None}
        return {**body, "data": [{k: v for k, v in item.items() if k != "id"}
                                 for item in body.get("data") or []]}

    def irc_should_drop(self, real_seconds: float) -> bool:
        """Whether a chat connection must be dropped now (``irc_drop``, or chaos: on
        average one drop per ``60 / chaos`` real seconds of connection)."""
        if self.irc_drop:
            return True
        if not self.chaos:
            return False
        with self._lock:
            return self._rng.random() < self.chaos * real_seconds / 60.0

    # ------------------------------------------------------------ counting
    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.counters.items()))


def _number(value, name: str, kind: type, low: float):
    """``value`` as ``kind`` (bools count as 0/1), at least ``low``."""
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if out < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return out
