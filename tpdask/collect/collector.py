"""The collector: one sample (contract v1) per tick, aligned to wall-clock multiples of
the interval, for months, unattended.

A tick selects the channels (top N live streams of a language plus an always-tracked
list), asks the presence source who was in each chat, and writes the sample atomically,
so a kill at any moment leaves a whole sample or none. A tick that overruns is logged and
the next one still starts on its own boundary; SIGTERM finishes the tick and exits.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import orjson

from tpdask.collect.sources import Channel, Observation, Source
from tpdask.collect.twitch import TwitchClient
from tpdask.days import day_of
from tpdask.errors import TwitchAuthError, TwitchError
from tpdask.files import remove_stale_temps
from tpdask.log import Log, print_log
from tpdask.privacy.policy import ChatterPolicy
from tpdask.samples import write_sample_file

Selector = Callable[[float], list[Channel]]


def helix_selector(client: TwitchClient, language: str, top: int, always: list[str]) -> Selector:
    """Channels of a tick: the top live streams of `language`, plus the always-tracked list."""

    def select(now: float) -> list[Channel]:
        streams = client.top_streams(language, top)
        have = {s.get("user_login", "").lower() for s in streams}
        extra = [login for login in always if login not in have]
        if extra:
            streams += client.streams_of(extra)
        channels, seen = [], set()
        for stream in streams:
            channel = Channel.from_helix(stream)
            if channel.login and channel.login not in seen:
                seen.add(channel.login)
                channels.append(channel)
        return channels

    return select


def build_sample(ts: int, source: str, channels: list[Channel],
                 seen: dict[str, Observation]) -> dict:
    streams = {}
    for c in channels:
        obs = seen.get(c.login)
        if obs is None:
            continue
        stream = {"user_id": c.user_id, "viewer_count": c.viewer_count, "title": c.title,
                  "game_name": c.game_name, "language": c.language, "started_at": c.started_at,
                  "chatters": obs.chatters, "observed_by": obs.observed_by}
        if obs.chatter_ids is not None:
            stream["chatter_ids"] = obs.chatter_ids
        streams[c.login] = stream
    unread = sorted(c.login for c in channels if c.login not in seen)
    return {"version": 1, "ts": ts, "source": source, "streams": streams,
            "unread_channels": unread}


def sample_path(samples_dir: Path, ts: int) -> Path:
    return samples_dir / day_of(ts) / f"{ts}.json"


@dataclass
class TickResult:
    ts: int
    path: Path | None
    channels: int
    chatters: int
    seconds: float
    error: str | None = None


class Collector:
    """Ticks: select the channels, observe them, apply the privacy policy, write the sample.

    ``policy`` (suppression, pseudonymous mode: :mod:`tpdask.privacy.policy`) defaults to
    the one of the data folder holding ``samples_dir`` and the environment, so every way
    of building a collector honours them.
    """

    def __init__(self, samples_dir: Path, select: Selector, source: Source, clock,
                 interval: int = 300, log: Log = print_log,
                 policy: ChatterPolicy | None = None):
        self.samples_dir = samples_dir
        self.select = select
        self.source = source
        self.clock = clock
        self.interval = interval
        self.log = log
        self.stop = threading.Event()
        self.stopped_by: int | None = None      # the signal that stopped `run`, if any
        self.policy = policy if policy is not None else \
            ChatterPolicy.for_data_dir(samples_dir.parent)

    def private(self, ts: int, seen: dict[str, Observation]) -> dict[str, Observation]:
        """The observations under the privacy policy (read again now: an erasure made
        during the tick counts); logs what it left out, never a login."""
        self.policy.refresh(self.samples_dir.parent)
        if self.policy.plain:
            return seen
        filtered = self.policy.apply_all({login: (obs.chatters, obs.chatter_ids)
                                          for login, obs in seen.items()})
        suppressed = sum(f.suppressed for f in filtered.values())
        if suppressed:
            self.log(f"tick {ts}: {suppressed} entries of suppressed (erased) viewers left out")
        for pseudonym in self.policy.collisions:
            self.log(f"tick {ts}: pseudonym collision: {pseudonym} stands for two logins "
                     "(counted as one viewer; see docs/privacy.md)")
        return {login: Observation(chatters=filtered[login].chatters,
                                   chatter_ids=filtered[login].chatter_ids,
                                   observed_by=obs.observed_by, extra=obs.extra)
                for login, obs in seen.items()}

    def tick(self, ts: int) -> TickResult:
        """Collect and write the sample of tick `ts`; a failed tick is logged, not raised."""
        started = time.monotonic()
        try:
            channels = self.select(ts)
            seen = self.private(ts, self.source.observe(channels))
            sample = build_sample(ts, self.source.name, channels, seen)
            sample.update(self.policy.sample_fields())
            path = write_sample_file(sample_path(self.samples_dir, ts), orjson.dumps(sample))
        except TwitchError as exc:
            self.log(f"tick {ts}: no sample ({exc})")
            return TickResult(ts, None, 0, 0, time.monotonic() - started, str(exc))
        except Exception as exc:          # months unattended: log it, keep the next ticks
            why = f"{type(exc).__name__}: {exc}"
            self.log(f"tick {ts}: no sample, unexpected error ({why})")
            return TickResult(ts, None, 0, 0, time.monotonic() - started, why)
        chatters = sum(len(s["chatters"]) for s in sample["streams"].values())
        return TickResult(ts, path, len(sample["streams"]), chatters, time.monotonic() - started)

    def _wait_until(self, ts: float) -> bool:
        """Sleep until the clock reads ts (any clock with now() and speed); True if stopped."""
        while (left := (ts - self.clock.now()) / self.clock.speed) > 0:
            if self.stop.wait(min(left, 1.0)):
                return True
        return self.stop.is_set()

    def remove_partial_files(self) -> int:
        """Temp files dead writers left in the day folders (never a sample: those are renamed
        whole). Only those of dead processes (or over an hour old) go: an import_tmi or
        another collector writing right now keeps its own (files.remove_stale_temps)."""
        if not self.samples_dir.is_dir():
            return 0
        return sum(len(remove_stale_temps(folder)) for folder in self.samples_dir.iterdir()
                   if folder.is_dir())

    def run(self, once: bool = False, ticks: int | None = None,
            first_ts: int | None = None, until_ts: int | None = None) -> list[TickResult]:
        """Tick on every interval boundary until stopped (SIGTERM/SIGINT, `ticks` done, or
        the slot `until_ts` reached).

        The first tick is the next boundary, or the current slot with `once`, or `first_ts`.
        """
        if removed := self.remove_partial_files():
            self.log(f"removed {removed} partial file(s) left by a killed writer")
        results: list[TickResult] = []
        next_ts = (int(self.clock.now()) // self.interval + 1) * self.interval
        if once:
            next_ts -= self.interval          # --once: the current slot, right now
        if first_ts is not None:
            next_ts = first_ts
        while not self.stop.is_set() and (until_ts is None or next_ts < until_ts):
            if not once and self._wait_until(next_ts):
                break
            result = self.tick(next_ts)
            results.append(result)
            self.log(f"tick {next_ts}: {result.channels} channels, {result.chatters} chatters, "
                     f"{result.seconds:.1f} s" + (f" — {result.error}" if result.error else ""))
            if once or (ticks is not None and len(results) >= ticks):
                break
            next_ts += self.interval
            behind = self.clock.now() - next_ts
            if behind > 0:
                slots = int(behind // self.interval)
                self.log(f"tick {next_ts - self.interval} overran by {behind:.0f} s; "
                         + (f"skipping {slots} missed slot(s); " if slots else "")
                         + "the next tick starts now, on its own slot")
                next_ts += slots * self.interval
        if self.stopped_by is not None:
            self.log(f"signal {self.stopped_by}: the current tick finished, stopping")
        return results

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT finish the current tick, then `run` returns.

        The handler only sets the stop event: it runs between two bytecodes of the main
        thread, which may hold the log's write lock at that moment, so logging from it
        deadlocked the collector (seen in CI); `run` says why it stopped instead."""
        def handler(signum, frame):
            self.stopped_by = signum
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def make_collector(config, source: str = "helix", language: str = "fr", top: int = 100,
                   always: list[str] = (), secrets_file: str | None = None,
                   speed: float | None = None, start: float | None = None,
                   sim_clock: str | None = None, log: Log = print_log) -> Collector:
    """Wire a collector from settings: Twitch client, channel selection, source, clock.

    The clock is the wall clock, or a simulated one: `speed`/`start`, or the running
    simulator's own clock read from its state URL (`sim_clock`, .../_sim/state).
    """
    from tpdask.collect.clock import WallClock
    from tpdask.errors import ConfigError
    from tpdask.privacy.modes import secure_data_dir
    from tpdask.settings import sqlite_path
    from tpdask.simulator.clock import SimClock

    if sim_clock:
        clock = SimClock.from_state(_fetch_json(sim_clock)["clock"])
    elif speed:
        clock = SimClock(start if start is not None else time.time(), speed)
    else:
        clock = WallClock()
    always = [a.strip().lower() for a in always if a.strip()]
    if source == "sim":
        from tpdask.collect.sources.sim import SimSource
        from tpdask.simulator.audience import AudienceConfig

        sim = SimSource(AudienceConfig(scale=0.01, interval=config.interval))
        secure_data_dir(config.data_dir, sqlite_path(config.store), log)
        return Collector(config.samples_dir, sim.select(top, always), sim, clock,
                         config.interval, log)
    if source not in ("helix", "irc", "tmi"):
        raise ConfigError(f"unknown source {source!r}: choose helix, irc, tmi or sim")
    from tpdask.collect.credentials import load_credentials

    client = TwitchClient(load_credentials(secrets_file), config.helix_url, config.auth_url,
                          log=log)
    if client.validate(client.app_token()) is None:      # fail at start, not at a tick
        raise TwitchAuthError("Twitch does not accept the app token it just issued")
    if source == "helix":
        from tpdask.collect.sources.helix import HelixSource

        presence = HelixSource(client, log)
    elif source == "irc":
        from tpdask.collect.sources.irc import IrcSource

        presence = IrcSource(config.irc_url, log)
    else:
        from tpdask.collect.sources.tmi import TmiSource

        presence = TmiSource(config.tmi_url, log=log)
    # only once the settings and credentials are known good: a refused command line
    # leaves the data folder as it was
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    return Collector(config.samples_dir, helix_selector(client, language, top, always),
                     presence, clock, config.interval, log)


def _fetch_json(url: str) -> dict:
    import requests

    from tpdask.errors import ConfigError

    try:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ConfigError(f"cannot read the simulator's clock from {url}: {exc}; "
                          "is `tpdask simulate` running there?") from None
