"""The Twitch simulator over real loopback sockets: auth, Helix, tmi, IRC, faults, clock."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tpdask.simulator import SimClock, SimOptions, Simulator
from tpdask.simulator.audience import AudienceConfig
from tpdask.simulator.helix import decode_cursor

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
NOON = 1659355200  # 2022-08-01T12:00:00Z


@contextmanager
def running(scale: float = 0.002, speed: float = 60.0, **options):
    start = options.pop("start", None)
    with Simulator(DAY, AudienceConfig(scale=scale), speed=speed, start=start,
                   options=SimOptions(**options)) as sim:
        yield sim


@pytest.fixture(scope="module")
def sim():
    with running() as s:
        yield s


@pytest.fixture(autouse=True)
def _no_faults_left(request):
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").set_faults(reset=True)


def app_token(sim) -> str:
    r = requests.post(sim.urls["auth_url"] + "/token", data={
        "client_id": sim.client_id, "client_secret": sim.client_secret,
        "grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def helix(sim, path: str, token: str | None = None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or app_token(sim)}", "Client-Id": sim.client_id}
    return requests.get(sim.urls["helix_url"] + path, params=params, headers=headers, timeout=10)


def control(sim, faults: dict | None = None) -> dict:
    if faults is None:
        return requests.get(sim.urls["control_url"] + "/state", timeout=10).json()
    r = requests.post(sim.urls["control_url"] + "/faults", json=faults, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- auth
def test_client_credentials_validate_and_twitch_shaped_errors(sim):
    url = sim.urls["auth_url"]
    bad = requests.post(url + "/token", data={"client_id": sim.client_id, "client_secret": "x",
                                              "grant_type": "client_credentials"})
    assert bad.status_code == 403
    assert bad.json() == {"status": 403, "message": "invalid client secret"}
    assert requests.post(url + "/token", data={"client_id": "nope"}).status_code == 400
    token = app_token(sim)
    v = requests.get(url + "/validate", headers={"Authorization": f"OAuth {token}"}).json()
    assert v["client_id"] == sim.client_id and v["scopes"] == [] and "login" not in v
    assert 0 < v["expires_in"] <= sim.options.app_token_lifetime
    u = requests.get(url + "/validate", headers={"Authorization": f"OAuth {sim.user_token}"}).json()
    assert u["login"] == "tpdask_mod" and u["user_id"] == sim.moderator["id"]
    assert u["scopes"] == ["moderator:read:chatters"]
    nope = requests.get(url + "/validate", headers={"Authorization": "OAuth nope"})
    assert nope.status_code == 401 and nope.json()["message"] == "invalid access token"


def test_helix_needs_bearer_token_and_its_client_id(sim):
    url = sim.urls["helix_url"] + "/streams"
    token = app_token(sim)
    assert requests.get(url).json()["message"] == "OAuth token is missing"
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    r = requests.get(url, headers={"Authorization": f"Bearer {token}", "Client-Id": "other"})
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"


def test_tokens_expire_in_simulated_time_and_the_user_token_refreshes():
    with running(speed=3600, app_token_lifetime=1800, user_token_lifetime=1800) as sim:
        token = app_token(sim)
        assert helix(sim, "/streams", token).status_code == 200
        time.sleep(0.6)  # 36 simulated minutes
        assert helix(sim, "/streams", token).status_code == 401
        assert helix(sim, "/users", sim.user_token).status_code == 401
        r = requests.post(sim.urls["auth_url"] + "/token", data={
            "client_id": sim.client_id, "client_secret": sim.client_secret,
            "grant_type": "refresh_token", "refresh_token": sim.user_refresh_token})
        assert r.status_code == 200 and r.json()["scope"] == ["moderator:read:chatters"]
        me = helix(sim, "/users", r.json()["access_token"]).json()["data"]
        assert [u["login"] for u in me] == ["tpdask_mod"]


# ---------------------------------------------------------------- helix
def test_streams_pages_are_one_instant_in_viewer_order(sim):
    token = app_token(sim)
    pages, after = [], None
    while True:
        params = {"language": "fr", "first": 7, **({"after": after} if after else {})}
        body = helix(sim, "/streams", token, **params).json()
        pages.append(body["data"])
        after = body["pagination"].get("cursor")
        if not after:
            break
        pinned, _ = decode_cursor(after)
    streams = [s for page in pages for s in page]
    assert len(pages) > 2 and all(len(p) == 7 for p in pages[:-1])
    assert [s["user_login"] for s in streams] == [r["user_login"] for r in sim.world.live(pinned)]
    assert len({s["user_id"] for s in streams}) == len(streams)
    counts = [s["viewer_count"] for s in streams]
    assert counts == sorted(counts, reverse=True)
    assert set(streams[0]) == {"id", "user_id", "user_login", "user_name", "game_id", "game_name",
                               "type", "title", "viewer_count", "started_at", "language",
                               "thumbnail_url", "tag_ids", "tags", "is_mature"}
    two = [streams[3]["user_login"], streams[0]["user_login"]]
    only = helix(sim, "/streams", token, user_login=two).json()["data"]
    assert sorted(s["user_login"] for s in only) == sorted(two)
    assert helix(sim, "/streams", token, language="en").json()["data"] == []
    assert helix(sim, "/streams", token, first=101).status_code == 400


def test_chatters_need_a_moderator_token_and_come_by_1000():
    with running(scale=0.1) as sim:
        mod = sim.moderator
        top = sim.world.live(sim.world.now())[0]
        assert top["user_login"] in mod["channels"] and top["chatter_count"] > 1000
        ask = dict(broadcaster_id=top["user_id"], moderator_id=mod["id"])
        first = helix(sim, "/chat/chatters", sim.user_token, first=1000, **ask).json()
        pinned, _ = decode_cursor(first["pagination"]["cursor"])
        logins, body = [], first
        while True:
            logins += [c["user_login"] for c in body["data"]]
            assert len(body["data"]) == 1000 or not body["pagination"]
            if not body["pagination"]:
                break
            body = helix(sim, "/chat/chatters", sim.user_token, first=1000,
                         after=body["pagination"]["cursor"], **ask).json()
        expected = sim.world.chatters(pinned, top["user_login"])
        assert logins == expected and first["total"] == len(expected) > 1000
        assert set(first["data"][0]) == {"user_id", "user_login", "user_name"}
        assert helix(sim, "/chat/chatters", sim.user_token, first=1001, **ask).status_code == 400
        other = next(s for s in sim.world.live(sim.world.now())
                     if s["user_login"] not in mod["channels"])
        r = helix(sim, "/chat/chatters", sim.user_token, broadcaster_id=other["user_id"],
                  moderator_id=mod["id"])
        assert r.status_code == 403 and r.json()["error"] == "Forbidden"
        assert helix(sim, "/chat/chatters", None, **ask).status_code == 401  # app token
        r = helix(sim, "/chat/chatters", sim.user_token, broadcaster_id=top["user_id"],
                  moderator_id="123")
        assert r.status_code == 401


def test_users_renamed_suspended_deleted_are_what_twitch_answers(sim):
    truth = requests.get(sim.urls["control_url"] + "/accounts").json()
    assert truth["renamed"] and truth["suspended"] and truth["deleted"]
    accounts = sim.world.accounts
    old, new = next(iter(truth["renamed"].items()))
    gone = [truth["suspended"][0], truth["deleted"][0]]
    active = next(x for x in sorted(accounts.original) if sim.account_status(x) == "active")
    ids = [accounts.id_of(x) for x in [old, active] + gone]
    token = app_token(sim)
    by_id = helix(sim, "/users", token, id=ids).json()["data"]
    assert [(u["id"], u["login"]) for u in by_id] == [(ids[0], new), (ids[1], active)]
    by_login = helix(sim, "/users", token, login=[old, new, active] + gone).json()["data"]
    assert [u["login"] for u in by_login] == [new, active]
    assert sim.account_status(gone[0]) == "suspended" and sim.account_status(old) == "renamed"
    assert helix(sim, "/users", token, id=[str(i) for i in range(101)]).status_code == 400


def test_tmi_endpoint_shape(sim):
    stream = sim.world.live(sim.world.now())[0]
    body = requests.get(f"{sim.urls['tmi_url']}/group/user/{stream['user_login']}/chatters").json()
    assert set(body) == {"_links", "chatter_count", "chatters"}
    assert set(body["chatters"]) == {"broadcaster", "vips", "moderators", "staff", "admins",
                                     "global_mods", "viewers"}
    assert body["chatters"]["broadcaster"] == [stream["user_login"]]
    assert body["chatter_count"] == sum(len(v) for v in body["chatters"].values())
    offline = requests.get(f"{sim.urls['tmi_url']}/group/user/nobody_here/chatters").json()
    assert offline["chatter_count"] == 0


def test_rate_limit_headers_and_429_past_the_bucket():
    with running(rate_limit=10) as sim:
        token = app_token(sim)
        seen = [helix(sim, "/streams", token) for _ in range(11)]
        assert [r.status_code for r in seen[:10]] == [200] * 10
        assert int(seen[0].headers["Ratelimit-Remaining"]) == 9
        assert seen[0].headers["Ratelimit-Limit"] == "10"
        last = seen[10]
        assert last.status_code == 429 and last.headers["Ratelimit-Remaining"] == "0"
        assert int(last.headers["Ratelimit-Reset"]) >= int(time.time())
        assert control(sim)["counters"]["helix.rate_limited"] == 1


# ---------------------------------------------------------------- faults
def test_each_http_fault_switch(sim):
    token = app_token(sim)
    control(sim, {"rate_limit": 2})
    codes = [helix(sim, "/streams", token).status_code for _ in range(3)]
    assert codes == [429, 429, 200]
    control(sim, {"server_error": 1})
    assert [helix(sim, "/streams", token).status_code for _ in range(2)] == [500, 200]
    control(sim, {"server_error_rate": 1.0})
    assert requests.get(sim.urls["tmi_url"] + "/group/user/x/chatters").status_code == 500
    assert control(sim)["faults"]["server_error_rate"] == 1.0  # control is never faulted
    control(sim, {"server_error_rate": 0, "malformed_json": 1})
    r = helix(sim, "/streams", token)
    with pytest.raises(ValueError):
        r.json()
    control(sim, {"slow": 0.4})
    t0 = time.monotonic()
    assert helix(sim, "/streams", token).status_code == 200 and time.monotonic() - t0 >= 0.4
    control(sim, {"slow": 0, "expire_tokens": True})
    assert helix(sim, "/streams", token).status_code == 401
    assert helix(sim, "/streams").status_code == 200  # a fresh token works
    r = requests.post(sim.urls["control_url"] + "/faults", json={"typo": 1})
    assert r.status_code == 400
    assert control(sim)["counters"]["faults.tokens_expired"] >= 1


def test_a_seeded_random_fault_mix_for_soak_tests():
    def statuses() -> list[int]:
        with running(chaos=0.6) as sim:
            return [requests.get(sim.urls["tmi_url"] + "/group/user/x/chatters").status_code
                    for _ in range(30)]
    first = statuses()
    assert 200 in first and 500 in first
    assert statuses() == first  # same seed, same sequence of faults


# ---------------------------------------------------------------- IRC
class Irc:
    """A bare IRC client: lines in, lines out, with deadlines."""

    def __init__(self, sim, *lines: str):
        host, port = sim.urls["irc_url"].removeprefix("irc://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""
        self.send(*lines)

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(x + "\r\n" for x in lines).encode())

    def read(self, seconds: float, until=None) -> list[str]:
        """Lines received within ``seconds`` (stops early once ``until(line)`` is true);
        raises ConnectionError when the server closed the connection."""
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                raise ConnectionError(out)
            self.buf += data
            *lines, self.buf = self.buf.split(b"\r\n")
            out += [x.decode() for x in lines]
            if until and any(until(x) for x in out):
                break
        return out

    def close(self) -> None:
        self.sock.close()


def anon(sim, caps: bool = True) -> Irc:
    lines = ["CAP REQ :twitch.tv/tags twitch.tv/membership"] if caps else []
    irc = Irc(sim, *lines, "PASS SCHMOOPIIE", "NICK justinfan4242")
    got = irc.read(5, lambda x: " 376 " in x)
    assert any(" 001 justinfan4242 " in x for x in got)
    if caps:
        assert ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/membership" in got
    return irc


def test_irc_join_names_tagged_privmsg_and_membership_lines():
    with running(speed=300, irc_message_gap=60) as sim:
        stream = sim.world.live(sim.world.now())[0]
        chan = stream["user_login"]
        irc = anon(sim)
        irc.send(f"JOIN #{chan}")
        got = irc.read(5, lambda x: " 366 " in x)
        assert f":justinfan4242!justinfan4242@justinfan4242.tmi.twitch.tv JOIN #{chan}" in got
        names = [x for x in got if " 353 justinfan4242 = #" in x]
        assert names and "justinfan4242" in names[0]
        got = irc.read(15, lambda x: " JOIN #" in x and "justinfan" not in x)
        got += irc.read(1.0)
        msgs = [x for x in got if " PRIVMSG #" in x]
        assert msgs, got[:5]
        tags = dict(kv.split("=", 1) for kv in msgs[0][1:].split(" ", 1)[0].split(";"))
        login = msgs[0].split(" :", 1)[1].split("!", 1)[0]
        assert tags["room-id"] == stream["user_id"] and tags["display-name"] == login
        assert tags["user-id"] == sim.world.accounts.id_of(login) and tags["id"]
        assert abs(int(tags["tmi-sent-ts"]) / 1000 - sim.clock.now()) < 3600
        joins = [x for x in got if x.endswith(f" JOIN #{chan}") and "justinfan" not in x]
        assert joins and all(x.startswith(":") and ".tmi.twitch.tv JOIN" in x for x in joins)
        assert not any(" USERNOTICE " in x or "STATE #" in x for x in got)  # no commands cap
        irc.send("PING :tmi.twitch.tv")
        pong = irc.read(3, lambda x: "PONG" in x)
        assert ":tmi.twitch.tv PONG tmi.twitch.tv :tmi.twitch.tv" in pong
        irc.close()


@pytest.mark.slow
def test_irc_commands_bring_room_state_and_usernotices_authored_in_the_login_tag():
    with running(scale=0.03, speed=300, irc_batch=5) as sim:
        chans = [s["user_login"] for s in sim.world.live(sim.world.now())[:10]]
        irc = Irc(sim, "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership",
                  "PASS SCHMOOPIIE", "NICK justinfan4242",
                  "JOIN " + ",".join(f"#{c}" for c in chans))
        got = irc.read(6)
        irc.close()
    for chan in chans:
        assert f":tmi.twitch.tv USERSTATE #{chan}" in " ".join(got)
        room = next(x for x in got if x.endswith(f":tmi.twitch.tv ROOMSTATE #{chan}"))
        assert f"room-id={sim.world.id_of_streamer[chan]};" in room
    notices = [x for x in got if " USERNOTICE #" in x]
    assert len(notices) >= 10
    kinds, endings = set(), set()
    for line in notices:
        raw, rest = line[1:].split(" ", 1)
        tags = dict(kv.split("=", 1) for kv in raw.split(";"))
        assert rest.startswith(":tmi.twitch.tv USERNOTICE #")
        assert tags["user-id"] == sim.world.accounts.id_of(tags["login"])
        assert tags["login"] not in sim.world.bot_logins
        assert "\\s" in tags["system-msg"] and tags["room-id"] in sim.world.login_of_streamer
        kinds.add(tags["msg-id"])
        endings.add("none" if " :" not in rest else "empty" if rest.endswith(" :") else "text")
        if tags["msg-id"] == "subgift":
            recipient = tags["msg-param-recipient-user-name"]
            assert tags["msg-param-recipient-id"] == sim.world.accounts.id_of(recipient)
    assert kinds == {"sub", "resub", "subgift"} and endings == {"none", "empty", "text"}


def test_irc_at_most_20_joins_per_10_seconds_the_rest_ignored(sim):
    irc = anon(sim, caps=False)
    chans = [f"chan_{k}" for k in range(25)]
    irc.send("JOIN " + ",".join(f"#{c}" for c in chans))
    got = irc.read(3, lambda x: f"366 justinfan4242 #{chans[19]} " in x)
    got += irc.read(0.5)
    echoed = [x.rsplit("#", 1)[1] for x in got if " JOIN #" in x]
    assert echoed == chans[:20]
    assert control(sim)["counters"]["irc.joins_ignored"] == 5
    irc.close()


def test_irc_server_pings_and_drops_the_silent(sim):
    with running(irc_ping_real=0.3) as quick:
        irc = anon(quick)
        assert "PING :tmi.twitch.tv" in irc.read(2, lambda x: x.startswith("PING"))
        irc.send("PONG :tmi.twitch.tv")
        assert "PING :tmi.twitch.tv" in irc.read(2, lambda x: x.startswith("PING"))
        with pytest.raises(ConnectionError):
            irc.read(3)  # that PING was not answered
    bad = Irc(sim, "PASS oauth:nope", "NICK someone")
    with pytest.raises(ConnectionError) as closed:
        bad.read(3)
    assert ":tmi.twitch.tv NOTICE * :Login authentication failed" in closed.value.args[0]


def test_irc_drop_fault_closes_and_refuses_connections(sim):
    irc = anon(sim)
    control(sim, {"irc_drop": True})
    with pytest.raises(ConnectionError):
        irc.read(3)
    with pytest.raises(ConnectionError):
        Irc(sim, "NICK justinfan1").read(3)
    control(sim, {"irc_drop": False})
    anon(sim).close()
    assert control(sim)["counters"]["irc.dropped"] >= 1


# ---------------------------------------------------------------- clock
def test_the_clock_is_fast_picklable_and_moves_the_streams():
    clock = SimClock(NOON, 3600)
    copy = pickle.loads(pickle.dumps(clock))
    assert abs(copy.now() - clock.now()) < 5  # seconds of simulated time
    assert clock.sleep_until(clock.now() + 360) and clock.real_seconds_until(NOON) < 0
    with running(speed=36000, start=NOON) as sim:
        before = {s["user_login"] for s in sim.world.live(sim.world.now())}
        time.sleep(0.5)  # 5 simulated hours
        later = control(sim)
        assert later["now"] - NOON >= 5 * 3600
        after = {s["user_login"] for s in helix(sim, "/streams", first=100).json()["data"]}
        assert before != after


def test_simulate_command_prints_credentials_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", "simulate", "--port", "0",
                             "--irc_port", "0", "--day", DAY, "--scale", "0.002"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(11)]
        fields = dict(x.split(None, 1) for x in lines[1:] if x.startswith("  "))
        r = requests.post(fields["auth_url"].strip() + "/token", data={
            "client_id": fields["client_id"].strip(),
            "client_secret": fields["client_secret"].strip(), "grant_type": "client_credentials"})
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()


def test_the_public_surface_is_deliberate():
    import tpdask.simulator as simulator

    assert sorted(simulator.__all__) == ["DEFAULT_START_HOUR", "SimClock", "SimOptions",
                                         "Simulator", "parse_start"]
    assert simulator.parse_start(DAY, "12:00") == NOON and simulator.parse_start(DAY, None) is None


def test_accounts_renamed_or_removed_while_running_answer_as_twitch_would():
    with running() as sim:
        accounts = sim.world.accounts
        actives = [x for x in sorted(accounts.original) if sim.account_status(x) == "active"]
        ann, bob = actives[100], actives[101]
        token = app_token(sim)
        accounts.rename(ann, "ann_renamed")
        accounts.remove(bob, "suspended")
        by_login = helix(sim, "/users", token, login=[ann, "ann_renamed", bob]).json()["data"]
        assert [(u["login"], u["id"]) for u in by_login] == [("ann_renamed", accounts.id_of(ann))]
        by_id = helix(sim, "/users", token, id=[accounts.id_of(bob)]).json()["data"]
        assert by_id == []
        assert sim.account_status(ann) == "renamed" and sim.account_status(bob) == "suspended"
        truth = requests.get(sim.urls["control_url"] + "/accounts").json()
        assert truth["renamed"][ann] == "ann_renamed" and bob in truth["suspended"]
        accounts.rename("ann_renamed", "ann_again")  # renamed twice: the chat login maps on
        assert accounts.summary()["renamed"][ann] == "ann_again"
        with pytest.raises(ValueError):
            accounts.rename("ann_again", actives[102])  # taken
        with pytest.raises(KeyError):
            accounts.remove(bob)  # already gone
