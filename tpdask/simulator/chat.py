"""What an anonymous chat connection sees of one channel: bursts of IRC lines.

Why it is modelled this way: on Twitch, anonymous IRC sees *message authors* in any
chat, and JOIN/PART membership lines only for chats of at most 1000 users, sent in
batches, late.  A collector that samples from IRC must therefore be tested against
partial, bursty observations, not against the full chatter list.  So, per joined
channel and every ``irc_batch`` simulated seconds (a grid shared by all connections):

* membership (with ``twitch.tv/membership``, chats <= ``irc_membership_max`` users):
  PART for who left since the last burst, JOIN for who arrived;
* messages: each present chatter posts with probability 1 - exp(-window / gap)
  (``irc_message_gap``), with ``twitch.tv/tags`` tags when asked; drawn from a seed of
  (simulator seed, channel, grid instant), so two connections see the same messages.
"""

from __future__ import annotations

import math
import uuid
import zlib

import numpy as np

from tpdask.simulator.world import World

_TEXTS = ("salut le chat", "GG", "mdr", "LUL", "ahah trop fort", "bonsoir à tous",
          "Kappa", "c'est quoi le build ?", "let's go", "PogChamp", "gg wp", "ptdr",
          "il est chaud ce soir", "first time ici", "<3", "ça stream jusqu'à quand ?",
          "KEKW", "bien joué !", "o7", "on y croit")
_COLORS = ("#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500",
           "#2E8B57", "#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "")


def prefix(login: str) -> str:
    """The IRC source of a user: ``login!login@login.tmi.twitch.tv``."""
    return f"{login}!{login}@{login}.tmi.twitch.tv"


class ChannelFeed:
    """The state of one joined channel on one connection."""

    def __init__(self, world: World, channel: str, tags: bool, membership: bool, seed: int):
        self.world, self.channel, self.tags, self.membership = world, channel, tags, membership
        self.seed = seed
        self.room_id = world.id_of_streamer.get(channel, "")
        o = world.options
        self.batch, self.gap = o.irc_batch, o.irc_message_gap
        self.max_members = o.irc_membership_max
        t = world.now()
        self.grid = int(t // self.batch)
        present = world.chatters(t, channel)
        small = membership and len(present) <= self.max_members
        self.members: set[str] | None = set(present) if small else None

    def names(self) -> list[str]:
        """Users listed in the NAMES reply on join (only for small chats, with membership)."""
        return sorted(self.members) if self.members is not None else []

    def due(self, now: float) -> bool:
        return int(now // self.batch) > self.grid

    def burst(self, now: float) -> list[str]:
        """IRC lines since the last burst (merged into one window when far behind)."""
        grid = int(now // self.batch)
        behind, self.grid = grid - self.grid, grid
        if behind <= 0:
            return []
        t = int(grid * self.batch)
        present = self.world.chatters(t, self.channel)
        lines = self._membership(present) if self.membership else []
        lines += self._messages(present, t, behind * self.batch, grid)
        return lines

    def _membership(self, present: list[str]) -> list[str]:
        if len(present) > self.max_members:
            self.members = None  # too big: Twitch sends no JOIN/PART at all
            return []
        now_set = set(present)
        before, self.members = self.members, now_set
        if before is None:
            return []
        chan = self.channel
        return ([f":{prefix(x)} PART #{chan}" for x in sorted(before - now_set)]
                + [f":{prefix(x)} JOIN #{chan}" for x in sorted(now_set - before)])

    def _messages(self, present: list[str], t: int, window: float, grid: int) -> list[str]:
        if not present:
            return []
        rng = np.random.default_rng([self.seed, 5, zlib.crc32(self.channel.encode()), grid])
        p = 1.0 - math.exp(-window / self.gap)
        authors = np.flatnonzero(rng.random(len(present)) < p)
        if not len(authors):
            return []
        offsets = np.sort(rng.integers(0, max(1, int(window * 1000)), len(authors)))
        texts = rng.integers(0, len(_TEXTS), len(authors))
        ids = rng.bytes(16 * len(authors))
        bots = set(self.world.bot_logins)
        accounts = self.world.accounts if self.tags else None
        lines = []
        for j, k in enumerate(authors.tolist()):
            login = present[k]
            body = f":{prefix(login)} PRIVMSG #{self.channel} :{_TEXTS[texts[j]]}"
            if accounts is not None:
                sent_ms = int((t - window) * 1000) + int(offsets[j])
                mid = uuid.UUID(bytes=ids[16 * j: 16 * j + 16], version=4)
                body = self._tags(login, accounts.id_of(login) or "", login in bots,
                                  sent_ms, str(mid)) + " " + body
            lines.append(body)
        return lines

    def _tags(self, login: str, user_id: str, mod: bool, sent_ms: int, msg_id: str) -> str:
        color = _COLORS[zlib.crc32(login.encode()) % len(_COLORS)]
        return (f"@badge-info=;badges={'moderator/1' if mod else ''};color={color};"
                f"display-name={login};emotes=;first-msg=0;flags=;id={msg_id};"
                f"mod={int(mod)};returning-chatter=0;room-id={self.room_id};subscriber=0;"
                f"tmi-sent-ts={sent_ms};turbo=0;user-id={user_id};user-type={'mod' if mod else ''}")
