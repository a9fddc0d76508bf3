"""The collector against the Twitch simulator, over real HTTP and IRC sockets: every
source produces correct samples, and every injected fault is survived."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest
import requests

from tpdask.collect.collector import Collector, helix_selector
from tpdask.collect.credentials import Credentials
from tpdask.collect.sources import Channel, user_id_or_none
from tpdask.collect.sources.helix import HelixSource
from tpdask.collect.sources.irc import IrcSource, message_author, parse_line, unescape_tag
from tpdask.collect.sources.tmi import TmiSource, chatters_of
from tpdask.collect.twitch import TwitchClient
from tpdask.simulator import SimOptions, Simulator
from tpdask.simulator.audience import AudienceConfig

DAY = "2022-08-01"
T0 = 1659312000
QUIET = lambda message: None  # noqa: E731


@pytest.fixture
def sim():
    options = SimOptions(mod_top=5, rate_limit=100000, irc_batch=5, irc_message_gap=60)
    with Simulator(DAY, AudienceConfig(scale=0.003), speed=120, start=T0 + 15 * 3600,
                   options=options) as simulator:
        yield simulator


def client_for(sim: Simulator, **kw) -> TwitchClient:
    creds = Credentials(sim.client_id, sim.client_secret, sim.user_token, sim.user_refresh_token)
    return TwitchClient(creds, sim.urls["helix_url"], sim.urls["auth_url"], log=QUIET,
                        backoff_cap=0.2, timeout=kw.pop("timeout", 5.0), **kw)


def collector(sim: Simulator, source, tmp_path: Path, top: int = 20) -> Collector:
    client = client_for(sim)
    return Collector(tmp_path / "samples", helix_selector(client, "fr", top, []), source,
                     sim.clock, interval=300, log=QUIET)


def hurried(run: Collector, sim: Simulator, ticks: int) -> list:
    """``run.run(ticks=ticks)`` without the idle time between ticks: before each tick the
    simulator's clock is moved on to one simulated second before the next slot, so the
    collector waits ~10 ms instead of the rest of the slot; each tick itself runs at the
    simulator's speed, and a tick that overran its slot still makes the next one skip a
    slot (the next slot is counted from where the clock is). Only for sources that read
    Helix or tmi: the chat server's bursts follow the clock while a connection is open."""
    results = []
    for _ in range(ticks):
        slot = (int(sim.clock.now()) // run.interval + 1) * run.interval
        sim.clock.reanchor(slot - 1)
        results += run.run(ticks=1)
    return results


def read(result) -> dict:
    return orjson.loads(result.path.read_bytes())


def similar(a: list[str], b: list[str]) -> float:
    a, b = set(a), set(b)
    return len(a & b) / max(1, len(a | b))


def faults(sim: Simulator, **switches) -> None:
    requests.post(f"{sim.urls['control_url']}/faults", json=switches, timeout=5).raise_for_status()


def test_helix_source_reads_every_moderated_chat_in_full(sim, tmp_path):
    client = client_for(sim)
    results = hurried(collector(sim, HelixSource(client, QUIET), tmp_path), sim, ticks=2)
    for result in results:
        sample = read(result)
        assert sample["source"] == "helix" and sample["version"] == 1
        moderated = set(sim.moderator["channels"])
        assert set(sample["streams"]) <= moderated and sample["streams"]
        for login, stream in sample["streams"].items():
            assert stream["observed_by"] == "chatters"
            ids = [sim.world.accounts.id_of(x) for x in stream["chatters"]]
            assert stream["chatter_ids"] == ids
            assert similar(stream["chatters"], sim.world.chatters(result.ts, login)) > 0.9
        assert len(sample["unread_channels"]) == 20 - len(sample["streams"])


def test_tmi_source_gives_the_union_of_the_role_lists(sim, tmp_path):
    [result] = hurried(collector(sim, TmiSource(sim.urls["tmi_url"], log=QUIET), tmp_path), sim,
                       ticks=1)
    sample = read(result)
    assert sample["source"] == "tmi" and len(sample["streams"]) == 20
    login, stream = max(sample["streams"].items(), key=lambda item: len(item[1]["chatters"]))
    assert login in stream["chatters"]                           # the broadcaster role
    assert similar(stream["chatters"], sim.world.chatters(result.ts, login) + [login]) > 0.9


def test_tmi_role_lists_are_merged_in_order_duplicates_once():
    dump = {"chatter_count": 5, "chatters": {"broadcaster": ["b"], "moderators": ["m", "b"],
                                             "viewers": ["v1", "m", "v2"]}}   # no vips etc.
    assert chatters_of(dump) == ["b", "m", "v1", "v2"]


@pytest.mark.slow
def test_irc_source_sees_message_authors_and_membership(sim, tmp_path):
    source = IrcSource(sim.urls["irc_url"], log=QUIET)
    try:
        results = collector(sim, source, tmp_path).run(ticks=3)
    finally:
        source.close()
    last = read(results[-1])
    assert last["source"] == "irc" and last["streams"]
    assert sum(len(s["chatters"]) for s in last["streams"].values()) > 0
    assert {s["observed_by"] for s in last["streams"].values()} <= {"messages", "messages+membership"}
    assert any(s["observed_by"] == "messages+membership" for s in last["streams"].values())
    pairs = [(login, uid) for stream in last["streams"].values()
             for login, uid in zip(stream["chatters"], stream["chatter_ids"], strict=True)]
    assert any(uid is None for _, uid in pairs)                    # seen by membership only
    assert [uid for login, uid in pairs if uid is not None] == [
        sim.world.accounts.id_of(login) for login, uid in pairs if uid is not None]


# ---- the irc source's parsing of Twitch lines ---------------------------------------------

def test_irc_tag_values_are_unescaped():
    assert unescape_tag(r"a\sb\:c\\d") == "a b;c\\d"
    assert unescape_tag(r"line\rbreak\n") == "line\rbreak\n"
    assert unescape_tag(r"\x\\s") == "x\\s"      # an unknown escape: the character itself
    assert unescape_tag("end\\") == "end"        # a lone final backslash is dropped
    tags, *_ = parse_line(r"@system-msg=bob\ssubscribed\:\sTier\s1;flags;emotes= :tmi.twitch.tv "
                          "USERNOTICE #chan")
    assert tags == {"system-msg": "bob subscribed; Tier 1", "flags": "", "emotes": ""}


def test_irc_trailing_parameter_absent_empty_or_with_spaces_and_colons():
    head = "@login=bob;user-id=42 :tmi.twitch.tv USERNOTICE #chan"
    assert parse_line(head) == ({"login": "bob", "user-id": "42"}, "tmi.twitch.tv",
                                "USERNOTICE", ["#chan"])
    assert parse_line(head + " :")[3] == ["#chan", ""]
    assert parse_line(head + " :gg wp :)")[3] == ["#chan", "gg wp :)"]
    assert parse_line("PING :tmi.twitch.tv") == ({}, "", "PING", ["tmi.twitch.tv"])
    assert parse_line("@a=1")[2] == ""              # a cut line is no command


def test_irc_message_authors_and_their_ids():
    privmsg = parse_line("@user-id=713936733;display-name=Abc :abc!abc@abc.tmi.twitch.tv "
                         "PRIVMSG #xyz :HeyGuys")
    assert message_author(privmsg[0], privmsg[1], privmsg[2]) == ("abc", "713936733")
    notice = parse_line("@login=Twitch_UserName;user-id=1337;msg-id=resub :tmi.twitch.tv "
                        "USERNOTICE #channel")
    assert message_author(*notice[:3]) == ("twitch_username", "1337")
    for bad in ("", "12a", "-1", "١٢", " 12", "1" * 21):
        assert message_author({"login": "bob", "user-id": bad}, "", "USERNOTICE") == ("bob", None)
    assert message_author({"user-id": "1"}, "", "USERNOTICE") is None          # no author
    assert message_author({"login": "ananonymousgifter", "user-id": "274598607"}, "",
                          "USERNOTICE") is None                                 # anonymous gift
    assert message_author({"user-id": "1"}, "bob", "JOIN") is None
    assert message_author({}, "bob", "PRIVMSG") == ("bob", None)
    assert [user_id_or_none(x) for x in ("0042", 42, True, None, 4.2)] == ["0042", "42",
                                                                            None, None, None]


# ---- the irc source against the simulator, through a relay that records every line -----

class Relay:
    """A TCP relay between the irc source and the simulator's chat server: it records
    every line the server sends, with the real time it passed, and can add lines."""

    def __init__(self, sim: Simulator):
        host, port = sim.urls["irc_url"].removeprefix("irc://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"irc://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lines: list[tuple[float, str]] = []
        self.extra: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
        try:
            self._down(server, client)
        except OSError:
            pass                                      # the source closed its connection
        finally:
            client.close()
            server.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        buffer = b""
        while data := server.recv(65536):
            *lines, buffer = (buffer + data).split(b"\r\n")
            with self.lock:
                lines += [x.encode() for x in self.extra]
                self.extra.clear()
                self.lines += [(time.monotonic(), x.decode()) for x in lines]
            client.sendall(b"".join(x + b"\r\n" for x in lines))

    def add(self, *lines: str) -> None:
        with self.lock:
            self.extra += lines

    def between(self, start: float, end: float) -> list[str]:
        with self.lock:
            return [line for at, line in self.lines if start <= at <= end]


AUTHOR = re.compile(r"^@\S*?\buser-id=(\d+)\S* :(?:(\w+)!\S+ PRIVMSG|tmi\.twitch\.tv "
                    r"USERNOTICE) #(\w+)")


def authors(lines: list[str], command: str) -> set[tuple[str, str, str]]:
    """(channel, login, id) of the simulator's tagged PRIVMSG or USERNOTICE lines."""
    out = set()
    for line in lines:
        match = AUTHOR.match(line)
        if match and f" {command} #" in line:
            login = match[2] or re.search(r"\blogin=(\w+)", line)[1]
            out.add((match[3], login, match[1]))
    return out


def members_of(line: str) -> list[str]:
    """Logins a JOIN or NAMES (353) line says are in a chat."""
    if " JOIN #" in line:
        return [line[1:].split("!", 1)[0]]
    return line.rsplit(" :", 1)[1].split() if " 353 " in line else []


def wait_for(check, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_irc_source_keeps_the_ids_of_message_and_usernotice_authors():
    options = SimOptions(irc_batch=5)                     # messages every 600 s a chatter
    with Simulator(DAY, AudienceConfig(scale=0.03), speed=60, start=T0 + 15 * 3600,
                   options=options) as sim:
        relay = Relay(sim)
        source = IrcSource(relay.url, log=QUIET)
        try:
            channels = [Channel.from_helix(s) for s in sim.world.live(sim.world.now())[:20]]
            source.observe(channels)                      # asks for the JOINs
            wait_for(lambda: sum(" 366 " in x for _, x in relay.lines) == len(channels))
            start = time.monotonic()
            source.observe(channels)                      # the window opens in this call
            start = (start, time.monotonic())
            chan = channels[0].login
            relay.add(f"@user-id=4242 :zed_one!zed_one@zed_one.tmi.twitch.tv PRIVMSG #{chan} :hi",
                      f":zed_one!zed_one@zed_one.tmi.twitch.tv PRIVMSG #{chan} :untagged",
                      f"@login=zed_two;user-id=12x;msg-id=sub :tmi.twitch.tv USERNOTICE #{chan}",
                      f"@login=ananonymousgifter;user-id=274598607;msg-id=subgift "
                      f":tmi.twitch.tv USERNOTICE #{chan}",
                      f"@login=zed_three;user-id=77;msg-id=raid "
                      f":tmi.twitch.tv USERNOTICE #{chan} :")
            # until the window holds twice the sub notices check_window needs, then a
            # second more, its margin for the source's reader (a fixed 8 s before)
            wait_for(lambda: enough_notices(relay.between(start[1] + 1.0, time.monotonic())),
                     seconds=60)
            time.sleep(1.0)
            end = time.monotonic()
            seen = source.observe(channels)               # ... and closes in this one
            end = (end, time.monotonic())
        finally:
            source.close()
        check_window(sim, relay, seen, start, end)
        ids = dict(zip(seen[chan].chatters, seen[chan].chatter_ids))
        assert (ids["zed_one"], ids["zed_two"], ids["zed_three"]) == ("4242", None, "77")
        assert "ananonymousgifter" not in ids


def enough_notices(lines: list[str]) -> bool:
    """Twice what check_window asks of a window: 20 USERNOTICEs, 10 of authors who did not
    post in it."""
    notices = authors(lines, "USERNOTICE")
    posted = {(c, login) for c, login, _ in authors(lines, "PRIVMSG")}
    return len(notices) >= 20 and len({(c, x) for c, x, _ in notices} - posted) >= 10


def check_window(sim: Simulator, relay: Relay, seen: dict, start: tuple[float, float],
                 end: tuple[float, float]) -> None:
    """What the source kept of one window agrees with the lines relayed during it.

    ``start`` and ``end`` bracket the calls that opened and closed the window; the margin
    of a second covers the source's reader lagging behind the socket on a loaded machine
    (0.3 s failed at load 10)."""
    inside = relay.between(start[1] + 1.0, end[0] - 1.0)    # surely inside the window
    around = relay.between(start[0] - 1.0, end[1] + 1.0)
    notices, messages = authors(inside, "USERNOTICE"), authors(inside, "PRIVMSG")
    posted = {(c, login) for c, login, _ in authors(around, "PRIVMSG")}
    assert len(notices) >= 10 and len({(c, x) for c, x, _ in notices} - posted) >= 5
    for chan, login, uid in notices | messages:
        assert dict(zip(seen[chan].chatters, seen[chan].chatter_ids))[login] == uid
    accounts, nulls = sim.world.accounts, 0
    for obs in seen.values():
        assert len(obs.chatter_ids) == len(obs.chatters)
        for login, uid in zip(obs.chatters, obs.chatter_ids):
            nulls += uid is None
            assert uid is None or uid == accounts.id_of(login) or login.startswith("zed_")
    assert nulls > 0
    said = {(c, x) for c, x, _ in authors(inside, "PRIVMSG") | authors(inside, "USERNOTICE")}
    members = {(line.split(" #")[1].split(" ")[0], name) for line in relay.between(0, end[1] + 1.0)
               for name in members_of(line)}
    for chan, obs in seen.items():
        for login, uid in zip(obs.chatters, obs.chatter_ids):
            if uid is None and not login.startswith("zed_"):
                assert (chan, login) in members and (chan, login) not in said


@pytest.mark.parametrize("fault", [
    {"rate_limit": 3}, {"server_error": 4}, {"malformed_json": 3}, {"slow": 0.5},
    {"expire_tokens": True},
])
@pytest.mark.slow
def test_each_http_fault_is_survived_without_losing_a_tick(sim, tmp_path, fault):
    client = client_for(sim)
    run = collector(sim, HelixSource(client, QUIET), tmp_path)
    faults(sim, **fault)
    results = hurried(run, sim, ticks=3)
    faults(sim, reset=True)
    assert [r.error for r in results] == [None, None, None]
    assert all(read(r)["streams"] for r in results)
    assert not list((tmp_path / "samples").glob("*/.*.tmp"))


@pytest.mark.slow
def test_a_dropped_chat_connection_comes_back(sim, tmp_path):
    source = IrcSource(sim.urls["irc_url"], log=QUIET)
    try:
        run = collector(sim, source, tmp_path)
        run.run(ticks=1)
        faults(sim, irc_drop=True)
        run.run(ticks=1)
        faults(sim, irc_drop=False)
        results = []                      # reconnects with back-off, then joins again:
        while len(results) < 8:           # ticks until then, 8 at most
            results += run.run(ticks=1)
            if source.connections >= 2 and results[-1].path and read(results[-1])["streams"]:
                break
    finally:
        source.close()
    assert source.connections >= 2
    assert all(r.path for r in results)               # a sample for every tick meanwhile
    assert read(results[-1])["streams"]


def test_thirty_simulated_minutes_at_60x_with_faults_on_lose_no_tick(tmp_path):
    options = SimOptions(mod_top=5, chaos=0.1)             # 500s, 429s, cut bodies, delays
    with Simulator(DAY, AudienceConfig(scale=0.003), speed=60, start=T0 + 18 * 3600,
                   options=options) as sim:
        client = client_for(sim)
        # six 5-minute slots at 60x, each tick within its slot (or the next is skipped and
        # the ts below differ), without the idle rest of each slot (30 s in all before)
        results = hurried(collector(sim, HelixSource(client, QUIET), tmp_path), sim, ticks=6)
        state = requests.get(f"{sim.urls['control_url']}/state", timeout=5).json()
    assert [r.ts for r in results] == [T0 + 18 * 3600 + 300 * i for i in range(1, 7)]
    assert all(r.error is None and r.path for r in results)
    assert client.retries > 0 and sum(v for k, v in state["counters"].items()
                                      if k.startswith("faults.")) > 0
    assert not list((tmp_path / "samples").glob("*/.*.tmp"))


def test_tpdask_collect_once_against_the_simulator_from_the_command_line(sim, tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TPDASK_CLIENT_ID": sim.client_id,
           "TPDASK_CLIENT_SECRET": sim.client_secret, "TPDASK_USER_TOKEN": sim.user_token,
           "TPDASK_REFRESH_TOKEN": sim.user_refresh_token}
    urls = sim.urls
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(tmp_path), "--helix_url",
         urls["helix_url"], "--auth_url", urls["auth_url"], "collect", "--source", "helix",
         "--once", "--top", "10", "--sim_clock", f"{urls['control_url']}/state"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "collected 1 samples" in result.stdout
    assert sim.client_secret not in result.stdout + result.stderr
    assert sim.user_token not in result.stdout + result.stderr
    [path] = tmp_path.glob("samples/*/*.json")
    sample = orjson.loads(path.read_bytes())
    assert sample["streams"]
    assert abs(sample["ts"] - sim.clock.now()) <= 300 + 120 * 5   # the simulator's time
