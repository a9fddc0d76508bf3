"""The Twitch simulator: everything tpdask's collector talks to, on loopback sockets.

Why: the collector, the verifier and the end-to-end tests must run against something
that behaves like Twitch — tokens, pagination, rate limits, moderator-only chatter
lists, anonymous IRC with partial membership, accounts that disappear, and failures —
without Twitch.  The simulator serves all of it from the seeded audience model at a
simulated instant given by a clock that may run faster than real time (``speed``), so a
day of collection fits in minutes and every answer is reproducible from the seed.

Usage::

    with Simulator("2022-08-01", AudienceConfig(scale=0.01), speed=60) as sim:
        sim.urls["helix_url"]   # http://127.0.0.1:PORT/helix
        sim.client_id, sim.client_secret, sim.user_token, sim.user_refresh_token

Reads nothing but its seed; writes nothing (``audience.write_day`` writes a generated
day's samples for tests and benchmarks). Pieces: audience.py (the seeded audience model
it serves), clock.py (simulated time), world.py (model queries), auth.py, helix.py,
tmi.py, control.py (``/_sim/``), faults.py, ratelimit.py, server.py (HTTP), chat.py +
irc.py (IRC).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from tpdask.days import day_bounds, parse_day
from tpdask.errors import ConfigError
from tpdask.simulator.audience import AudienceConfig
from tpdask.simulator.auth import Auth
from tpdask.simulator.clock import SimClock
from tpdask.simulator.control import Control
from tpdask.simulator.faults import Faults
from tpdask.simulator.irc import IrcServer
from tpdask.simulator.options import SimOptions
from tpdask.simulator.server import App, HttpServer
from tpdask.simulator.world import World

__all__ = ["Simulator", "SimClock", "SimOptions", "DEFAULT_START_HOUR", "parse_start"]

DEFAULT_START_HOUR = 15
"""Without ``start``, the clock starts at 15:00 UTC of ``day``: most streams are live."""


def parse_start(day: str, value: object) -> int | None:
    """A start given as ``HH:MM`` (UTC, on ``day``) or unix seconds; None stays None."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    hours, sep, minutes = text.partition(":")
    if sep and hours.isdigit() and minutes.isdigit() and int(hours) < 48 and int(minutes) < 60:
        return day_bounds(parse_day(day))[0] + int(hours) * 3600 + int(minutes) * 60
    raise ConfigError(f"start must be HH:MM (UTC) or unix seconds, got {value!r}")


class Simulator:
    """Helix, OAuth, tmi, IRC and control endpoints over one audience model and clock."""

    def __init__(self, day: str, config: AudienceConfig | None = None, speed: float = 1.0,
                 start: int | None = None, seed: int | None = None,
                 options: SimOptions | None = None):
        """``day``: the simulated UTC day (the clock may run into the next ones);
        ``config``: the audience model; ``speed``: simulated seconds per real second;
        ``start``: simulated unix time at start (default: ``day`` at 15:00 UTC);
        ``seed``: credentials, account churn, chat messages, chaos (default: config.seed)."""
        self.day = parse_day(day)
        self.config = config or AudienceConfig()
        if not speed > 0:
            raise ConfigError(f"simulator speed must be > 0, got {speed!r}")
        first, _ = day_bounds(self.day)
        start = first + DEFAULT_START_HOUR * 3600 if start is None else int(start)
        if start < first:
            raise ConfigError(f"start {start} is before the simulated day {self.day}")
        self.seed = self.config.seed if seed is None else int(seed)
        self.options = options or SimOptions()
        self.clock = SimClock(start, speed)
        self.world = World(self.config, self.day, self.clock, self.options, self.seed)
        self.faults = Faults(self.options.chaos, self.seed)
        self.auth = Auth(self.clock, self.options, self.seed)
        self._http: HttpServer | None = None
        self._irc: IrcServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    # ------------------------------------------------------------ credentials
    @property
    def client_id(self) -> str:
        return self.auth.client_id

    @property
    def client_secret(self) -> str:
        return self.auth.client_secret

    @property
    def user_token(self) -> str:
        """The moderator's initial user token (scope ``moderator:read:chatters``)."""
        return self.auth.user_token

    @property
    def user_refresh_token(self) -> str:
        """Refresh token of the moderator (``grant_type=refresh_token``); never expires."""
        return self.auth.refresh_token

    @property
    def moderator(self) -> dict[str, Any]:
        """The moderator user: login, id, and the channels it moderates."""
        return {"login": self.options.moderator_login, "id": self.options.moderator_id,
                "channels": list(self.world.moderated_logins)}

    # ------------------------------------------------------------ running
    def start(self, host: str = "127.0.0.1", http_port: int = 0, irc_port: int = 0) -> "Simulator":
        """Listen (port 0: any free port) and serve in background threads."""
        if self._http is not None:
            raise ConfigError("the simulator is already started")
        try:
            self._http = HttpServer((host, http_port), App(self.world, self.auth, self.faults))
            self._irc = IrcServer((host, irc_port), self.world, self.auth, self.faults)
        except OSError as exc:
            if self._http is not None:
                self._http.server_close()
            self._http = None
            raise ConfigError(f"cannot listen on {host} (http {http_port}, irc {irc_port}): {exc}")
        for name, server in (("http", self._http), ("irc", self._irc)):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"tpdask-sim-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def urls(self) -> dict[str, str]:
        """helix_url, auth_url, irc_url, tmi_url (base of /group/user/...), control_url."""
        if self._http is None or self._irc is None:
            raise ConfigError("the simulator is not started")
        host, port = self._http.server_address[:2]
        irc_host, irc_port = self._irc.server_address[:2]
        base = f"http://{host}:{port}"
        return {"helix_url": f"{base}/helix", "auth_url": f"{base}/oauth2",
                "irc_url": f"irc://{irc_host}:{irc_port}", "tmi_url": base,
                "control_url": f"{base}/_sim"}

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        for server in (self._http, self._irc):
            if server is not None:
                server.close_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._stopped.set()

    def stop_on_sigterm(self) -> None:
        """Make SIGTERM end :meth:`serve_forever` cleanly (main thread only).

        Call it before telling anyone the simulator is up: a SIGTERM that arrives before
        the handler is in place kills the process instead.
        """
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self._stopped.set())

    def serve_forever(self, handle_signals: bool = True) -> None:
        """Serve (starting on default ports if needed) until ``stop()``, Ctrl-C or SIGTERM."""
        if self._http is None:
            self.start()
        if handle_signals:
            self.stop_on_sigterm()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> "Simulator":
        return self.start() if self._http is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ inspecting
    def state(self) -> dict[str, Any]:
        """What ``GET /_sim/state`` answers: now, clock, faults, counters."""
        return Control(self.world, self.auth, self.faults).state()

    def set_faults(self, **changes: Any) -> None:
        """Same as ``POST /_sim/faults`` with ``changes`` as JSON."""
        if "expire_tokens" in self.faults.update(changes):
            self.faults.count("faults.tokens_expired", self.auth.expire_all())

    def account_status(self, login: str) -> str:
        """active / renamed / suspended / deleted, for a login as seen in the chats."""
        return self.world.accounts.status_of(login)
