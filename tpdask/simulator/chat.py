"""What an anonymous chat connection sees of one channel: bursts of IRC lines.

Why it is modelled this way: on Twitch, anonymous IRC sees *message authors* in any
chat, and JOIN/PART membership lines only for chats of at most 1000 users, sent in
batches, late.  A collector that samples from IRC must therefore be tested against
partial, bursty observations, not against the full chatter list.  So, per joined
channel and every ``irc_batch`` simulated seconds (a grid shared by all connections):

* membership (with ``twitch.tv/membership``, chats <= ``irc_membership_max`` users):
  PART for who left since the last burst, JOIN for who arrived;
* messages: each present chatter posts with probability 1 - exp(-window / gap)
  (``irc_message_gap``), with ``twitch.tv/tags`` tags when asked (``user-id`` is the
  account's id, the one ``/helix/users`` answers);
* notices (with ``twitch.tv/commands``, as on Twitch): a small share (``NOTICE_SHARE``
  of the message rate) of the present viewers, bots never, send a USERNOTICE — sub,
  resub or subgift — from ``:tmi.twitch.tv``, the author in the ``login`` tag with its
  ``user-id``, escaped tag values (``system-msg=a\\ssubscribed…``), and a trailing
  text, an empty one, or none;

all drawn from a seed of (simulator seed, channel, grid instant), so two connections
served at the same instants see the same lines.
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
NOTICE_SHARE = 0.05
"""A viewer's chance of a USERNOTICE in a burst, relative to its chance of a message."""
_NOTICE_KINDS = ("sub", "resub", "resub", "subgift")
_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})
_COLORS = ("#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500",
           "#2E8B57", "#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "")


def prefix(login: str) -> str:
    """The IRC source of a user: ``login!login@login.tmi.twitch.tv``."""
    return f"{login}!{login}@{login}.tmi.twitch.tv"


def escape_tag(value: str) -> str:
    """An IRCv3 tag value as sent: ``\\`` ``;`` space CR LF escaped."""
    return value.translate(_ESCAPES)


def tag_string(tags: dict[str, object]) -> str:
    """``@k=v;…`` with escaped values, followed by the space before the prefix."""
    return "@" + ";".join(f"{k}={escape_tag(str(v))}" for k, v in tags.items()) + " "


class ChannelFeed:
    """The state of one joined channel on one connection."""

    def __init__(self, world: World, channel: str, tags: bool, membership: bool, seed: int,
                 commands: bool = False):
        self.world, self.channel, self.tags, self.membership = world, channel, tags, membership
        self.seed, self.commands = seed, commands
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

    def room_state(self, nick: str) -> list[str]:
        """USERSTATE and ROOMSTATE, sent after a JOIN with ``twitch.tv/commands``."""
        user, room = "", ""
        if self.tags:
            user = tag_string({"badge-info": "", "badges": "", "color": "", "display-name": nick,
                               "emote-sets": 0, "mod": 0, "subscriber": 0, "user-type": ""})
            room = tag_string({"emote-only": 0, "followers-only": -1, "r9k": 0,
                               "room-id": self.room_id, "slow": 0, "subs-only": 0})
        return [f"{user}:tmi.twitch.tv USERSTATE #{self.channel}",
                f"{room}:tmi.twitch.tv ROOMSTATE #{self.channel}"]

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
        """PRIVMSG (and, with commands, USERNOTICE) lines of one burst, in sent order."""
        if not present:
            return []
        rng = np.random.default_rng([self.seed, 5, zlib.crc32(self.channel.encode()), grid])
        p = 1.0 - math.exp(-window / self.gap)
        authors = np.flatnonzero(rng.random(len(present)) < p)
        start_ms = int((t - window) * 1000)
        timed = self._privmsgs([present[k] for k in authors.tolist()], start_ms, window, rng)
        if self.commands:
            timed += self._notices(present, start_ms, window, p * NOTICE_SHARE, rng)
        return [line for _, line in sorted(timed, key=lambda x: x[0])]

    def _privmsgs(self, authors: list[str], start_ms: int, window: float,
                  rng: np.random.Generator) -> list[tuple[int, str]]:
        if not authors:
            return []
        offsets = np.sort(rng.integers(0, max(1, int(window * 1000)), len(authors)))
        texts = rng.integers(0, len(_TEXTS), len(authors))
        ids = rng.bytes(16 * len(authors))
        bots = set(self.world.bot_logins)
        accounts = self.world.accounts if self.tags else None
        timed = []
        for j, login in enumerate(authors):
            sent_ms = start_ms + int(offsets[j])
            body = f":{prefix(login)} PRIVMSG #{self.channel} :{_TEXTS[texts[j]]}"
            if accounts is not None:
                mid = uuid.UUID(bytes=ids[16 * j: 16 * j + 16], version=4)
                body = self._tags(login, accounts.id_of(login) or "", login in bots,
                                  sent_ms, str(mid)) + " " + body
            timed.append((sent_ms, body))
        return timed

    def _tags(self, login: str, user_id: str, mod: bool, sent_ms: int, msg_id: str) -> str:
        color = _COLORS[zlib.crc32(login.encode()) % len(_COLORS)]
        return (f"@badge-info=;badges={'moderator/1' if mod else ''};color={color};"
                f"display-name={login};emotes=;first-msg=0;flags=;id={msg_id};"
                f"mod={int(mod)};returning-chatter=0;room-id={self.room_id};subscriber=0;"
                f"tmi-sent-ts={sent_ms};turbo=0;user-id={user_id};user-type={'mod' if mod else ''}")

    def _notices(self, present: list[str], start_ms: int, window: float, p: float,
                 rng: np.random.Generator) -> list[tuple[int, str]]:
        """USERNOTICE lines: sub, resub (text, empty text or none) and subgift events."""
        drawn = np.flatnonzero(rng.random(len(present)) < p).tolist()
        bots = set(self.world.bot_logins)
        authors = [present[k] for k in drawn if present[k] not in bots]
        n = len(authors)
        if not n:
            return []
        offsets = rng.integers(0, max(1, int(window * 1000)), n)
        kinds, months = rng.integers(0, len(_NOTICE_KINDS), n), rng.integers(2, 37, n)
        gifted = rng.integers(0, len(present), n)
        texts = rng.integers(-2, len(_TEXTS), n)  # -2: no trailing parameter, -1: empty
        ids = rng.bytes(16 * n)
        timed = []
        for j, login in enumerate(authors):
            kind, recipient = _NOTICE_KINDS[kinds[j]], present[gifted[j]]
            if kind == "subgift" and recipient in (login, *bots):
                kind = "sub"
            sent_ms = start_ms + int(offsets[j])
            tags = self._notice_tags(login, kind, int(months[j]), recipient) | {
                "id": str(uuid.UUID(bytes=ids[16 * j: 16 * j + 16], version=4)),
                "tmi-sent-ts": sent_ms}
            head = tag_string(tags) if self.tags else ""
            line = f"{head}:tmi.twitch.tv USERNOTICE #{self.channel}"
            timed.append((sent_ms, line + _trailing(kind, int(texts[j]))))
        return timed

    def _notice_tags(self, login: str, kind: str, months: int, recipient: str) -> dict:
        """The tags of one USERNOTICE, as Twitch sends them (values unescaped)."""
        accounts = self.world.accounts
        plan = {"msg-param-sub-plan": "1000",
                "msg-param-sub-plan-name": f"Channel Subscription ({self.channel})"}
        if kind in ("sub", "resub"):
            tenure = months if kind == "resub" else 1
            params = {"msg-param-cumulative-months": tenure, "msg-param-months": 0,
                      "msg-param-should-share-streak": 0}
            system = f"{login} subscribed at Tier 1." + (
                f" They've subscribed for {months} months!" if kind == "resub" else "")
        else:
            params = {"msg-param-gift-months": 1, "msg-param-months": months,
                      "msg-param-recipient-display-name": recipient,
                      "msg-param-recipient-id": accounts.id_of(recipient) or "",
                      "msg-param-recipient-user-name": recipient}
            system = f"{login} gifted a Tier 1 sub to {recipient}!"
        return {"badge-info": f"subscriber/{months if kind == 'resub' else 1}",
                "badges": "subscriber/0",
                "color": _COLORS[zlib.crc32(login.encode()) % len(_COLORS)],
                "display-name": login, "emotes": "", "flags": "", "login": login, "mod": 0,
                "msg-id": kind, **params, **plan, "room-id": self.room_id, "subscriber": 1,
                "system-msg": system, "turbo": 0, "user-id": accounts.id_of(login) or "",
                "user-type": "", "vip": 0}


def _trailing(kind: str, text: int) -> str:
    """A USERNOTICE's trailing parameter: a resub's shared text (``text`` >= 0), an
    empty one (-1), or none at all (-2, and subs and gifts): clients must take all three."""
    if text == -1:
        return " :"
    return f" :{_TEXTS[text]}" if text >= 0 and kind == "resub" else ""
