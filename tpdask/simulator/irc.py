"""The chat side: a small Twitch-flavoured IRC server (``irc.chat.twitch.tv`` on loopback).

Why: the IRC source of the collector sees chats Helix cannot list (any channel, no
moderator needed), but partially and with Twitch's quirks; it must be tested against
those quirks over a real socket.  What this server does, like Twitch:

* anonymous login: ``PASS`` anything, ``NICK justinfan<digits>`` (or the moderator's
  ``PASS oauth:<user token>``); welcome 001-004 and the MOTD lines; anything else gets
  ``NOTICE * :Login authentication failed`` and is closed;
* ``CAP REQ :twitch.tv/tags twitch.tv/membership`` -> ``CAP * ACK``;
* ``JOIN #a,#b`` echoes JOIN, then 353/366 NAMES; more than ``irc_join_limit`` JOINs per
  ``irc_join_window`` real seconds on one connection are silently ignored (counted in
  ``/_sim/state`` as ``irc.joins_ignored``); ``PART``; ``PING`` -> ``PONG``;
* with ``twitch.tv/commands``, USERSTATE and ROOMSTATE after the NAMES of a JOIN;
* for joined channels, bursts of JOIN/PART, PRIVMSG and (with ``twitch.tv/commands``)
  USERNOTICE lines (chat.py);
* a ``PING :tmi.twitch.tv`` every ``irc_ping_real`` seconds, drop if unanswered;
* the ``irc_drop`` fault (and chaos) closes connections and refuses new ones.
"""

from __future__ import annotations

import logging
import re
import select
import socketserver
import threading
import time
from collections import deque

from tpdask.simulator.auth import Auth
from tpdask.simulator.chat import ChannelFeed, prefix
from tpdask.simulator.connections import TracksConnections
from tpdask.simulator.faults import Faults
from tpdask.simulator.world import World

HOST = "tmi.twitch.tv"
CAPS = ("twitch.tv/tags", "twitch.tv/commands", "twitch.tv/membership")
_ANON = re.compile(r"^justinfan\d{1,10}$")
_TICK = 0.05  # real seconds between checks of the socket, the clock and the faults
_NAMES_PER_LINE = 40
_MAX_LINE = 8192  # a client sending more than this without a newline is dropped
log = logging.getLogger(__name__)


class _Closed(Exception):
    """The connection is over (client quit, login failed, dropped by fault)."""


class _Connection(socketserver.BaseRequestHandler):
    server: "IrcServer"

    def setup(self) -> None:
        self.nick: str | None = None
        self.password = ""
        self.caps: set[str] = set()
        self.feeds: dict[str, ChannelFeed] = {}
        self.join_times: deque[float] = deque()
        self.inbuf = b""
        self.next_ping = time.monotonic() + self.server.world.options.irc_ping_real
        self.ping_pending = False

    def handle(self) -> None:
        srv = self.server
        srv.track(self.request, True)
        srv.faults.count("irc.connections")
        last = time.monotonic()
        try:
            while not srv.stopping.is_set():
                now = time.monotonic()
                if srv.faults.irc_should_drop(now - last):
                    srv.faults.count("irc.dropped")
                    return
                last = now
                readable, _, _ = select.select([self.request], [], [], _TICK)
                if readable:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    self._receive(data)
                if self.nick:
                    self._emit()
                    self._ping(now)
        except (_Closed, OSError):
            return
        finally:
            srv.track(self.request, False)

    # ------------------------------------------------------------ input
    def _receive(self, data: bytes) -> None:
        self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        if len(self.inbuf) > _MAX_LINE:
            raise _Closed()
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip("\r ")
            if line:
                self._command(line)

    def _command(self, line: str) -> None:
        if line.startswith("@"):  # client tags: ignored
            line = line.partition(" ")[2]
        verb, _, rest = line.partition(" ")
        verb = verb.upper()
        trailing = rest.partition(":")[2] if rest.startswith(":") or " :" in rest else ""
        if verb == "PASS":
            self.password = rest.strip()
        elif verb == "NICK":
            self._login(rest.strip().lower())
        elif verb == "CAP":
            self._cap(rest)
        elif verb == "PING":
            self._send(f":{HOST} PONG {HOST} :{trailing or rest.strip()}")
        elif verb == "PONG":
            self.ping_pending = False
        elif verb == "QUIT":
            raise _Closed()
        elif self.nick is None or verb in ("USER", "PRIVMSG"):
            return  # before login, Twitch answers nothing; anonymous users cannot talk
        elif verb == "JOIN":
            for chan in rest.split(" ")[0].split(","):
                self._join(chan.strip().lstrip("#").lower())
        elif verb == "PART":
            for chan in rest.split(" ")[0].split(","):
                chan = chan.strip().lstrip("#").lower()
                if self.feeds.pop(chan, None) is not None:
                    self._send(f":{prefix(self.nick)} PART #{chan}")
        else:
            self._send(f":{HOST} 421 {self.nick} {verb} :Unknown command")

    def _login(self, nick: str) -> None:
        token = self.server.auth.lookup(self.password.removeprefix("oauth:"))
        if not (_ANON.match(nick) or (token is not None and token.login == nick)):
            self._send(f":{HOST} NOTICE * :Login authentication failed")
            self.server.faults.count("irc.login_failed")
            raise _Closed()
        self.nick = nick
        self._send(f":{HOST} 001 {nick} :Welcome, GLHF!",
                   f":{HOST} 002 {nick} :Your host is {HOST}",
                   f":{HOST} 003 {nick} :This server is rather new",
                   f":{HOST} 004 {nick} :-", f":{HOST} 375 {nick} :-",
                   f":{HOST} 372 {nick} :You are in a maze of twisty passages, all alike.",
                   f":{HOST} 376 {nick} :>")

    def _cap(self, rest: str) -> None:
        sub, _, arg = rest.partition(" ")
        sub, wanted = sub.upper(), arg.lstrip(":").split()
        if sub == "LS":
            self._send(f":{HOST} CAP * LS :{' '.join(CAPS)}")
        elif sub == "REQ":
            if wanted and all(c in CAPS for c in wanted):
                self.caps.update(wanted)
                self._send(f":{HOST} CAP * ACK :{' '.join(wanted)}")
            else:
                self._send(f":{HOST} CAP * NAK :{' '.join(wanted)}")

    def _join(self, chan: str) -> None:
        if not chan:
            return
        o, now = self.server.world.options, time.monotonic()
        while self.join_times and now - self.join_times[0] >= o.irc_join_window:
            self.join_times.popleft()
        if len(self.join_times) >= o.irc_join_limit:
            self.server.faults.count("irc.joins_ignored")  # Twitch drops them silently
            return
        self.join_times.append(now)
        self.server.faults.count("irc.joins")
        if chan in self.feeds:
            return
        feed = ChannelFeed(self.server.world, chan, "twitch.tv/tags" in self.caps,
                           "twitch.tv/membership" in self.caps, self.server.world.seed,
                           commands="twitch.tv/commands" in self.caps)
        self.feeds[chan] = feed
        me, names = self.nick, [self.nick] + feed.names()
        lines = [f":{prefix(me)} JOIN #{chan}"]
        for k in range(0, len(names), _NAMES_PER_LINE):
            chunk = " ".join(names[k:k + _NAMES_PER_LINE])
            lines.append(f":{me}.{HOST} 353 {me} = #{chan} :{chunk}")
        lines.append(f":{me}.{HOST} 366 {me} #{chan} :End of /NAMES list")
        if feed.commands:
            lines += feed.room_state(me)
        self._send(*lines)

    # ------------------------------------------------------------ output
    def _emit(self) -> None:
        now = self.server.world.clock.now()
        for feed in list(self.feeds.values()):
            if feed.due(now):
                lines = feed.burst(now)
                if lines:
                    self.server.faults.count("irc.lines", len(lines))
                    self._send(*lines)

    def _ping(self, now: float) -> None:
        if now < self.next_ping:
            return
        if self.ping_pending:
            self.server.faults.count("irc.ping_timeouts")
            raise _Closed()
        self.ping_pending = True
        self.next_ping = now + self.server.world.options.irc_ping_real
        self._send(f"PING :{HOST}")

    def _send(self, *lines: str) -> None:
        self.request.sendall("".join(x + "\r\n" for x in lines).encode("utf-8"))


class IrcServer(TracksConnections, socketserver.ThreadingTCPServer):
    """One thread per chat connection; ``close_all`` ends them all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], world: World, auth: Auth, faults: Faults):
        super().__init__(address, _Connection)
        self.world, self.auth, self.faults = world, auth, faults
        self.stopping = threading.Event()
        self._init_tracking()

    def verify_request(self, request, client_address) -> bool:
        """Refuse (close at once) new connections while the ``irc_drop`` fault is on."""
        if self.faults.irc_drop:
            self.faults.count("irc.refused")
            return False
        return True

    def handle_error(self, request, client_address) -> None:
        """A failing connection is logged, not printed; the others go on."""
        log.exception("simulator chat connection from %s failed", client_address)

    def close_all(self) -> None:
        self.stopping.set()
        super().close_all()
