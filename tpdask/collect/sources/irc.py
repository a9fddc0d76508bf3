"""The irc source: one anonymous chat connection (justinfan…) that sees message authors
in any channel, and JOIN/PART membership for chats of at most 1000 users.

A channel's window holds the accounts that sent a message during it — a PRIVMSG, or a
USERNOTICE (sub, resub, gift, raid…) whose author is in its ``login`` tag — plus those
present (joined, not parted) at its end. Messages carry the author's Twitch user id in
their ``user-id`` tag; it is kept, so the window's chatters come with ``chatter_ids``
(None for logins seen only by membership, which carries no id). Twitch allows 20 JOINs
per 10 s and we keep at most 100 channels on the connection. The connection lives in a
background thread and comes back with exponential back-off when it drops.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from tpdask.collect.sources import Channel, Observation, user_id_or_none
from tpdask.errors import ConfigError
from tpdask.log import Log, print_log
from tpdask.samples import LOGIN_RE

MAX_CHANNELS = 100
JOINS_PER_PERIOD, JOIN_PERIOD = 20, 10.0
CAPABILITIES = "twitch.tv/tags twitch.tv/commands twitch.tv/membership"  # commands: USERNOTICE
ANONYMOUS_GIFTER = "ananonymousgifter"  # Twitch's stand-in author of anonymous gifts
_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag(value: str) -> str:
    """An IRCv3 tag value as sent (``\\s`` space, ``\\:`` semicolon, ``\\\\`` backslash,
    ``\\r``, ``\\n``) → its text; another escaped character is itself, a lone final
    backslash is dropped (the spec's rules)."""
    if "\\" not in value:
        return value
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPE.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse_tags(raw: str) -> dict[str, str]:
    """``a=1;b=x\\sy;c`` → {"a": "1", "b": "x y", "c": ""}."""
    tags = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_tag(value)
    return tags


def parse_line(line: str) -> tuple[dict, str, str, list[str]]:
    """IRCv3 line → (tags, prefix nick, command, params); a trailing parameter, even
    empty (``USERNOTICE #c :``), is the last of params, and absent when not sent."""
    tags: dict = {}
    if line.startswith("@"):
        raw, _, line = line[1:].partition(" ")
        tags = parse_tags(raw)
    nick = ""
    if line.startswith(":"):
        prefix, line = line[1:].split(" ", 1) if " " in line else (line[1:], "")
        nick = prefix.split("!", 1)[0]
    trailing = None
    if " :" in line:
        line, trailing = line.split(" :", 1)
    parts = line.split()
    command, params = (parts[0] if parts else ""), parts[1:]
    if trailing is not None:
        params.append(trailing)
    return tags, nick.lower(), command.upper(), params


def message_author(tags: dict, nick: str, command: str) -> tuple[str, str | None] | None:
    """(login, user id or None) of the account that sent a chat message, or None when the
    line is no such message. PRIVMSG: the prefix's nick; USERNOTICE: the ``login`` tag,
    the prefix being the server. Both carry the id in ``user-id``."""
    if command == "PRIVMSG":
        login = nick
    elif command == "USERNOTICE":
        login = tags.get("login", "").strip().lower()
    else:
        return None
    if not LOGIN_RE.fullmatch(login) or login == ANONYMOUS_GIFTER:
        return None
    return login, user_id_or_none(tags.get("user-id"))


class IrcSource:
    name = "irc"

    def __init__(self, irc_url: str, log: Log = print_log, connect_timeout: float = 10.0):
        parts = urlsplit(irc_url)
        if parts.scheme not in ("irc", "tcp") or not parts.hostname:
            raise ConfigError(f"--irc_url must look like irc://host:6667, got {irc_url!r}")
        self.address = (parts.hostname, parts.port or 6667)
        self.log = log
        self.connect_timeout = connect_timeout
        self.lock = threading.Lock()
        self.wanted: list[str] = []
        self.joined: set[str] = set()
        self.present: dict[str, set[str]] = {}
        self.messaged: dict[str, dict[str, str | None]] = {}
        self.join_times: deque[float] = deque()
        self.connections = 0
        self.nick = ""
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="tpdask-irc", daemon=True)
        self.thread.start()

    # ---- what the collector calls ------------------------------------------------------

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        wanted = [c.login for c in channels]
        if len(wanted) > MAX_CHANNELS:
            self.log(f"irc: {len(wanted)} channels tracked, keeping the first {MAX_CHANNELS}")
            wanted = wanted[:MAX_CHANNELS]
        seen = {}
        with self.lock:
            self.wanted = wanted
            for login in wanted:
                if login not in self.joined:
                    continue
                messaged = self.messaged.pop(login, {})
                present = self.present.get(login, set())
                chatters = sorted(set(messaged) | present)
                seen[login] = Observation(
                    chatters=chatters, chatter_ids=[messaged.get(x) for x in chatters],
                    observed_by="messages+membership" if present else "messages")
        return seen

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)

    # ---- the connection thread ---------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                self._session()
                failures = 0
            except OSError as exc:
                failures += 1
                delay = min(60.0, 2 ** failures) * random.uniform(0.5, 1.0)
                self.log(f"irc: connection lost ({type(exc).__name__}); reconnecting in {delay:.1f} s")
                self.stop_event.wait(delay)

    def _session(self) -> None:
        with socket.create_connection(self.address, timeout=self.connect_timeout) as sock:
            sock.settimeout(0.5)
            self.connections += 1
            self.nick = f"justinfan{random.randint(10000, 99999)}"
            sock.sendall(f"CAP REQ :{CAPABILITIES}\r\nPASS SCHMOOPIIE\r\n"
                         f"NICK {self.nick}\r\n".encode())
            with self.lock:
                self.joined.clear()
                self.present.clear()
            buffer = b""
            while not self.stop_event.is_set():
                self._sync_channels(sock)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    raise ConnectionResetError("server closed the connection")
                buffer += data
                *lines, buffer = buffer.split(b"\r\n")
                for line in lines:
                    self._handle(sock, line.decode("utf-8", "replace"))

    def _sync_channels(self, sock: socket.socket) -> None:
        """JOIN wanted channels within 20 per 10 s; PART the ones no longer tracked."""
        now = time.monotonic()
        while self.join_times and now - self.join_times[0] > JOIN_PERIOD:
            self.join_times.popleft()
        with self.lock:
            to_join = [c for c in self.wanted if c not in self.joined]
            to_part = [c for c in self.joined if c not in self.wanted]
            budget = JOINS_PER_PERIOD - len(self.join_times)
            to_join = to_join[:max(0, budget)]
            for login in to_join:
                self.joined.add(login)
                self.join_times.append(now)
            for login in to_part:
                self.joined.discard(login)
                self.present.pop(login, None)
                self.messaged.pop(login, None)
        if to_join:
            sock.sendall(f"JOIN {','.join('#' + c for c in to_join)}\r\n".encode())
        if to_part:
            sock.sendall(f"PART {','.join('#' + c for c in to_part)}\r\n".encode())

    def _handle(self, sock: socket.socket, line: str) -> None:
        if not line:
            return
        tags, nick, command, params = parse_line(line)
        if command == "PING":
            sock.sendall(f"PONG :{params[-1] if params else 'tmi.twitch.tv'}\r\n".encode())
            return
        if command == "RECONNECT":
            raise ConnectionResetError("server asked to reconnect")
        channel = next((p[1:].lower() for p in params if p.startswith("#")), None)
        with self.lock:
            if channel not in self.joined:
                return
            author = message_author(tags, nick, command)
            if author is not None:
                self._messaged(channel, *author)
            elif command == "JOIN" and nick and nick != self.nick:
                self.present.setdefault(channel, set()).add(nick)
            elif command == "PART" and nick:
                self.present.get(channel, set()).discard(nick)
            elif command == "353" and params:
                names = {n.lower() for n in params[-1].split()} - {self.nick}
                self.present.setdefault(channel, set()).update(names)

    def _messaged(self, channel: str, login: str, user_id: str | None) -> None:
        """Record a message author of this window; an id once seen is kept (caller holds
        the lock)."""
        authors = self.messaged.setdefault(channel, {})
        if user_id is not None or login not in authors:
            authors[login] = user_id
