"""What each stored result was computed from (its basis), and whether it is still current.

The contract: every export equals analysing all processed days at once under the current
settings. A result depends on the lake runs of the days it reads and on the settings:

- ``bots`` of day D: D's run, the bot settings;
- ``streamer_days`` of D: D's run, the runs of every earlier processed day (a viewer is new
  to a streamer when no earlier day has the pair), the bot settings;
- ``profiles``: every processed day's run, the bot settings;
- ``overlap`` (and ``communities``) of a period: the runs of its days, the bot settings,
  ``min_minutes`` and ``bots``;
- ``broadcast_days``, ``broadcast_curves``, ``game_days`` of D: the runs of D, D-1 and D+1,
  the bot settings.

The analyser records each (kind, scope)'s basis when it publishes it; a reader compares it
with the basis the lake and settings give now. A basis is a small JSON object of digests
(settings, the day's own run, the other runs), so that a stale result can say why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from tpdask.errors import StaleResultsError
from tpdask.settings import BotRules, Config
from tpdask.stores.base import Store


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def settings_digest(rules: BotRules, interval: int) -> str:
    """The settings every result depends on: the bot rules and the sampling interval."""
    return _digest({"concurrent": rules.concurrent, "hours": rules.hours,
                    "known": sorted(rules.known), "interval": interval})


@dataclass(frozen=True)
class Inputs:
    """What results are computed from now: each processed day's lake run, the settings."""

    runs: dict[str, str]          # processed day → the run that wrote it
    settings: str                 # settings_digest

    def bots(self, day: str) -> str:
        return _basis(settings=self.settings, day=self.runs.get(day))

    def streamer_days(self, day: str) -> str:
        earlier = {d: r for d, r in self.runs.items() if d < day}
        return _basis(settings=self.settings, day=self.runs.get(day), earlier=_digest(earlier))

    def profiles(self) -> str:
        return _basis(settings=self.settings, runs=_digest(self.runs))

    def overlap(self, since: str, until: str, min_minutes: float, bots: bool) -> str:
        period = {d: r for d, r in self.runs.items() if since <= d <= until}
        return _basis(settings=self.settings, runs=_digest(period),
                      min_minutes=float(min_minutes), bots=bool(bots))

    def insight(self, since: str, until: str, **extra: object) -> str:
        """Broadcasts (``health``, ``statuses``) or flows (``within``) of a period."""
        period = {d: r for d, r in self.runs.items() if since <= d <= until}
        return _basis(settings=self.settings, runs=_digest(period), **extra)

    def broadcast_days(self, day: str) -> str:
        """A day's ``broadcast_days``, ``broadcast_curves`` and ``game_days``
        (:mod:`tpdask.analysis.broadcast_days`): the runs of the day and of the days
        before and after it (broadcasts end, and chats arrive, across midnight)."""
        from tpdask.analysis.broadcast_days import GAME_MIN_MINUTES, WITHIN

        before, after = neighbours(day)
        return _basis(settings=self.settings, day=self.runs.get(day),
                      before=self.runs.get(before), after=self.runs.get(after),
                      within=WITHIN, game_min_minutes=GAME_MIN_MINUTES)

    def day_bases(self, day: str) -> dict[tuple[str, str], str]:
        return {("bots", day): self.bots(day), ("streamer_days", day): self.streamer_days(day)}


def neighbours(day: str) -> tuple[str, str]:
    """The calendar days before and after ``day``."""
    import datetime

    date = datetime.date.fromisoformat(day)
    return ((date - datetime.timedelta(days=1)).isoformat(),
            (date + datetime.timedelta(days=1)).isoformat())


def _basis(**parts: object) -> str:
    return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS).decode()


def inputs_of(config: Config, runs: dict[str, str]) -> Inputs:
    return Inputs(runs=dict(sorted(runs.items())),
                  settings=settings_digest(config.bot_rules(plain=True), config.interval))


_WHY = {
    "settings": "the bot settings (or the interval) changed",
    "day": "the day was processed again (or a viewer erased from it)",
    "earlier": "an earlier day was processed (or processed again, or a viewer erased from it)",
    "runs": "days were processed (or processed again, or a viewer erased from them)",
    "health": "the stream health settings changed",
    "statuses": "the verifier ran since (account statuses changed)",
    "before": "the day before was processed (or processed again)",
    "after": "the day after was processed (or processed again)",
    "min_minutes": "", "bots": "", "within": "", "game_min_minutes": "",
}


def why_stale(stored: str | None, current: str) -> str:
    """In words, what changed between a stored basis and the current one."""
    if stored is None:
        return "they were published before tpdask recorded what results are computed from"
    try:
        old = orjson.loads(stored)
    except orjson.JSONDecodeError:
        old = {}
    new = orjson.loads(current)
    reasons = [_WHY[k] for k in new if old.get(k) != new[k] and _WHY.get(k)]
    return " and ".join(reasons) or "their inputs changed"


def check_unfinished(store: Store, retry: str) -> None:
    """Raise StaleResultsError when a publication is half-applied (MongoDB)."""
    unfinished = store.unfinished_publication()
    if unfinished is not None:
        raise StaleResultsError(
            f"the analysis results are half-published (analyse run {unfinished['run']}): an "
            f"analyse is publishing them right now, or was stopped while doing so; wait for "
            f"it to finish, or run `{retry}` again")


def check_current(store: Store, kind: str, scope: str, current: str, what: str,
                  retry: str) -> None:
    """Raise StaleResultsError (exit 3) unless (kind, scope) was computed from ``current``.

    ``what`` names the results in the message; ``retry`` is the command that brings them
    up to date.
    """
    check_unfinished(store, retry)
    stored = store.result_bases(kind).get(scope)
    if stored != current:
        raise StaleResultsError(f"{what} are out of date: {why_stale(stored, current)} since "
                                f"they were analysed; run `{retry}` to bring them up to date")
