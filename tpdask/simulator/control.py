"""``/_sim/``: look at the simulator and steer it (faults), over the same HTTP port.

Why over HTTP: a collector under test runs in another process (or another machine, as
``tpdask simulate``), so the test, an operator with curl, or a soak script all steer the
simulator the same way.  Control requests are never subject to faults nor counted.

* ``GET  /_sim/state``     simulated now, clock, fault switches, request counters
* ``POST /_sim/faults``    JSON fault switches (see faults.py); answers the new state
* ``GET  /_sim/accounts``  ground truth of renamed / suspended / deleted accounts
"""

from __future__ import annotations

import datetime as dt

from tpdask.days import day_of
from tpdask.simulator.auth import Auth
from tpdask.simulator.faults import Faults
from tpdask.simulator.routing import Request, Response, helix_error, json_response, not_found
from tpdask.simulator.world import World


class Control:
    """Handlers of ``/_sim/...``."""

    def __init__(self, world: World, auth: Auth, faults: Faults):
        self.world, self.auth, self.faults = world, auth, faults

    def handle(self, req: Request, route: str) -> Response:
        if route == "/state" and req.method == "GET":
            return json_response(200, self.state())
        if route == "/faults" and req.method == "POST":
            try:
                actions = self.faults.update(req.json())
            except ValueError as exc:
                return helix_error(400, str(exc))
            if "expire_tokens" in actions:
                self.faults.count("faults.tokens_expired", self.auth.expire_all())
            return json_response(200, self.state())
        if route == "/accounts" and req.method == "GET":
            return json_response(200, self.world.accounts.summary())
        return not_found(req.path)

    def state(self) -> dict:
        clock = self.world.clock
        now = clock.now()
        iso = dt.datetime.fromtimestamp(int(now), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"now": now, "now_iso": iso, "day": day_of(int(now)), "start_day": self.world.day,
                "speed": clock.speed,
                "clock": clock.state(), "faults": self.faults.snapshot(),
                "counters": self.faults.counts(), "live_tokens": self.auth.live_tokens(),
                "moderator": {"login": self.world.options.moderator_login,
                              "id": self.world.options.moderator_id,
                              "channels": self.world.moderated_logins}}
