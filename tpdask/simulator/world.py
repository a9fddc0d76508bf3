"""The simulated Twitch world: who streams and who sits in which chat, at any instant.

Why a layer over ``AudienceModel``: the model knows one UTC day and is not thread-safe
(it caches its last snapshot), while the simulator answers many threads at once and its
clock may run past midnight.  ``World`` builds the model of each day on demand (same
config, so the same viewers and streamers), serialises queries with a lock, caches the
last answers (a chatters listing is read page by page at one pinned instant), and holds
what the model does not: the account directory and the moderator's channels.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from tpdask.days import day_of
from tpdask.simulator.accounts import Accounts
from tpdask.simulator.audience import AudienceConfig, AudienceModel
from tpdask.simulator.clock import SimClock
from tpdask.simulator.options import SimOptions

_KEEP_MODELS = 2  # today and tomorrow: a model at scale 1 is a few hundred MB
_KEEP_ANSWERS = 64


class _Lru(OrderedDict):
    """A tiny least-recently-used cache; callers hold the world's lock."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, make: Callable):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class World:
    """Thread-safe queries of the audience model at simulated instants."""

    def __init__(self, config: AudienceConfig, day: str, clock: SimClock, options: SimOptions,
                 seed: int):
        self.config, self.clock, self.options, self.seed = config, clock, options, seed
        self.day = day
        self._lock = threading.RLock()
        self._models: _Lru = _Lru(_KEEP_MODELS)
        self._answers: _Lru = _Lru(_KEEP_ANSWERS)
        first = self.model(day)
        self.streamer_logins: list[str] = list(first.streamer_logins)
        self.streamer_ids: list[str] = list(first.streamer_ids)
        self.bot_logins: list[str] = list(first.bot_logins)
        self.login_of_streamer = dict(zip(self.streamer_ids, self.streamer_logins))
        self.id_of_streamer = dict(zip(self.streamer_logins, self.streamer_ids))
        top = self.streamer_logins[: options.mod_top]
        self.moderated_logins: list[str] = list(dict.fromkeys(top + list(options.mod_extra)))
        self._accounts: Accounts | None = None

    # ------------------------------------------------------------ the model
    def model(self, day: str) -> AudienceModel:
        """The audience model of ``day`` (built on first use; the last two are kept)."""
        with self._lock:
            return self._models.get_or(day, lambda: AudienceModel(self.config, day))

    def live(self, ts: int) -> list[dict]:
        """Model stream records live at ``ts``, most viewers first."""
        ts = int(ts)
        with self._lock:
            return self._answers.get_or(("live", ts),
                                        lambda: self.model(day_of(ts)).live_streams(ts))

    def chatters(self, ts: int, login: str) -> list[str]:
        """Sorted logins in ``login``'s chat at ``ts`` ([] if offline or unknown)."""
        ts = int(ts)
        if login not in self.id_of_streamer:
            return []
        with self._lock:
            return self._answers.get_or(("chat", ts, login),
                                        lambda: self.model(day_of(ts)).chatters(ts, login))

    def now(self) -> int:
        """The simulated now, whole seconds."""
        return self.clock.now_int()

    # ------------------------------------------------------------ accounts
    @property
    def accounts(self) -> Accounts:
        """The account directory (built on first use: at scale 1 it holds ~900k logins)."""
        with self._lock:
            if self._accounts is None:
                users = self.model(self.day).users()
                protected = {x: "partner" for x in self.streamer_logins}
                protected.update({x: "bot" for x in self.bot_logins})
                protected[self.options.moderator_login] = "moderator"
                users[self.options.moderator_login] = self.options.moderator_id
                o = self.options
                self._accounts = Accounts(users, protected, self.seed,
                                          (o.renamed, o.suspended, o.deleted))
            return self._accounts

    def moderates(self, user_id: str, broadcaster_id: str) -> bool:
        """Whether ``user_id`` may list ``broadcaster_id``'s chatters (its moderator or itself)."""
        if user_id == broadcaster_id:
            return True
        login = self.login_of_streamer.get(broadcaster_id)
        return user_id == self.options.moderator_id and login in self.moderated_logins
