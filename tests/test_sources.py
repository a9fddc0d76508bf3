"""The collector against the Twitch simulator, over real HTTP and IRC sockets: every
source produces correct samples, and every injected fault is survived."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import requests

from tpdask.audience import AudienceConfig
from tpdask.collector import Collector, helix_selector
from tpdask.secrets import Credentials
from tpdask.simulator import Simulator, SimOptions
from tpdask.sources.helix import HelixSource
from tpdask.sources.irc import IrcSource
from tpdask.sources.tmi import TmiSource, chatters_of
from tpdask.twitch import TwitchClient

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


def read(result) -> dict:
    return orjson.loads(result.path.read_bytes())


def similar(a: list[str], b: list[str]) -> float:
    a, b = set(a), set(b)
    return len(a & b) / max(1, len(a | b))


def faults(sim: Simulator, **switches) -> None:
    requests.post(f"{sim.urls['control_url']}/faults", json=switches, timeout=5).raise_for_status()


def test_helix_source_reads_every_moderated_chat_in_full(sim, tmp_path):
    client = client_for(sim)
    results = collector(sim, HelixSource(client, QUIET), tmp_path).run(ticks=2)
    for result in results:
        sample = read(result)
        assert sample["source"] == "helix" and sample["version"] == 1
        moderated = set(sim.moderator["channels"])
        assert set(sample["streams"]) <= moderated and sample["streams"]
        for login, stream in sample["streams"].items():
            assert stream["observed_by"] == "chatters"
            assert len(stream["chatter_ids"]) == len(stream["chatters"])
            assert similar(stream["chatters"], sim.world.chatters(result.ts, login)) > 0.9
        assert len(sample["unread_channels"]) == 20 - len(sample["streams"])


def test_tmi_source_gives_the_union_of_the_role_lists(sim, tmp_path):
    [result] = collector(sim, TmiSource(sim.urls["tmi_url"], log=QUIET), tmp_path).run(ticks=1)
    sample = read(result)
    assert sample["source"] == "tmi" and len(sample["streams"]) == 20
    login, stream = max(sample["streams"].items(), key=lambda item: len(item[1]["chatters"]))
    assert login in stream["chatters"]                           # the broadcaster role
    assert similar(stream["chatters"], sim.world.chatters(result.ts, login) + [login]) > 0.9


def test_tmi_role_lists_are_merged_in_order_duplicates_once():
    dump = {"chatter_count": 5, "chatters": {"broadcaster": ["b"], "moderators": ["m", "b"],
                                             "viewers": ["v1", "m", "v2"]}}   # no vips etc.
    assert chatters_of(dump) == ["b", "m", "v1", "v2"]


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


@pytest.mark.parametrize("fault", [
    {"rate_limit": 3}, {"server_error": 4}, {"malformed_json": 3}, {"slow": 0.5},
    {"expire_tokens": True},
])
def test_each_http_fault_is_survived_without_losing_a_tick(sim, tmp_path, fault):
    client = client_for(sim)
    run = collector(sim, HelixSource(client, QUIET), tmp_path)
    faults(sim, **fault)
    results = run.run(ticks=3)
    faults(sim, reset=True)
    assert [r.error for r in results] == [None, None, None]
    assert all(read(r)["streams"] for r in results)
    assert not list((tmp_path / "samples").glob("*/.*.tmp"))


def test_a_dropped_chat_connection_comes_back(sim, tmp_path):
    source = IrcSource(sim.urls["irc_url"], log=QUIET)
    try:
        run = collector(sim, source, tmp_path)
        run.run(ticks=1)
        faults(sim, irc_drop=True)
        run.run(ticks=1)
        faults(sim, irc_drop=False)
        results = run.run(ticks=8)        # reconnects with back-off, then joins again
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
        results = collector(sim, HelixSource(client, QUIET), tmp_path).run(ticks=6)
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
