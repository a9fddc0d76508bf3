"""The seeded audience model: determinism, contract v1 shape, bots, gaps, dirt, scaling."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.support import day_digest
from tpdask.errors import ConfigError
from tpdask.simulator.audience import AudienceConfig, AudienceModel, viewer_logins, write_day

DAY = "2024-03-10"
DAY_START = int(dt.datetime(2024, 3, 10, tzinfo=dt.timezone.utc).timestamp())
VALID = re.compile(r"^[a-z0-9_]{1,25}$")
ACCOUNT = re.compile(r"^[a-z0-9_]{4,25}$")
STARTED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SMALL = 0.002


@pytest.fixture(scope="module")
def clean() -> AudienceModel:
    return AudienceModel(AudienceConfig(scale=SMALL), DAY)


@pytest.fixture(scope="module")
def clean_samples(clean) -> list[dict]:
    return list(clean.samples())


@pytest.fixture(scope="module")
def dirty() -> AudienceModel:
    return AudienceModel(AudienceConfig(scale=SMALL, gaps=True, dirty=True, with_ids=True), DAY)


@pytest.fixture(scope="module")
def dirty_samples(dirty) -> list[dict]:
    return list(dirty.samples())


def check_contract(sample: dict, with_ids: bool) -> None:
    assert set(sample) == {"version", "ts", "source", "streams"}
    assert sample["version"] == 1 and sample["source"] == "sim"
    assert isinstance(sample["ts"], int) and isinstance(sample["streams"], dict)
    for login, st in sample["streams"].items():
        assert ACCOUNT.match(login)
        assert st["user_id"].isdigit() and isinstance(st["viewer_count"], int)
        assert isinstance(st["title"], str) and isinstance(st["game_name"], str)
        assert st["language"] == "fr" and STARTED.match(st["started_at"])
        assert all(isinstance(c, str) for c in st["chatters"])
        assert st["viewer_count"] >= 2 * len(st["chatters"]) - 20
        if with_ids:
            assert len(st["chatter_ids"]) == len(st["chatters"])
            assert all(i.isdigit() for i in st["chatter_ids"])
        else:
            assert "chatter_ids" not in st


def test_config_defaults_and_validation():
    c = AudienceConfig()
    assert (c.seed, c.scale, c.n_streamers, c.interval, c.language, c.n_bots) == \
        (1, 1.0, 100, 300, "fr", 3)
    assert not (c.gaps or c.dirty or c.with_ids)
    for bad in ({"scale": 0}, {"seed": -1}, {"interval": 7}, {"interval": 301}, {"n_streamers": 0}):
        with pytest.raises(ConfigError):
            AudienceConfig(**bad)
    with pytest.raises(ConfigError):
        AudienceModel(AudienceConfig(scale=SMALL), "2024-3-10")


def test_determinism(clean):
    again = AudienceModel(AudienceConfig(scale=SMALL), DAY)
    assert day_digest(again) == day_digest(clean)
    assert day_digest(AudienceModel(AudienceConfig(scale=SMALL, seed=2), DAY)) != day_digest(clean)
    assert day_digest(AudienceModel(AudienceConfig(scale=SMALL), "2024-03-11")) != day_digest(clean)


def test_determinism_across_processes(clean):
    code = ("from tpdask.simulator.audience import *; from tests.support import day_digest; "
            f"print(day_digest(AudienceModel(AudienceConfig(scale={SMALL}), {DAY!r})))")
    env = dict(os.environ, PYTHONHASHSEED="12345",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == day_digest(clean)


def test_contract_shape(clean_samples, dirty_samples):
    for s in clean_samples:
        check_contract(s, with_ids=False)
    for s in dirty_samples:
        check_contract(s, with_ids=True)
    assert orjson.loads(orjson.dumps(clean_samples[100])) == clean_samples[100]


def test_timestamps_within_day_sorted_jittered(clean, clean_samples):
    ts = clean.timestamps()
    assert len(ts) == 288 and ts == sorted(ts) == [s["ts"] for s in clean_samples]
    assert all(DAY_START <= t < DAY_START + 86400 for t in ts)
    assert all(0 <= t - DAY_START - i * 300 <= 5 for i, t in enumerate(ts))
    assert len({t - DAY_START - i * 300 for i, t in enumerate(ts)}) > 1
    with pytest.raises(ConfigError):
        clean.sample_at(DAY_START + 86400)


def test_bots_in_every_live_chat(clean, clean_samples):
    assert len(clean.bot_logins) == 3
    live_counts = [len(s["streams"]) for s in clean_samples]
    assert min(live_counts) >= 1 and max(live_counts) >= 20
    for s in clean_samples:
        for st in s["streams"].values():
            assert set(clean.bot_logins) <= set(st["chatters"])


def test_streams_zipf_and_overnight(clean, clean_samples):
    peak = Counter()
    for s in clean_samples:
        for login, st in s["streams"].items():
            peak[login] = max(peak[login], len(st["chatters"]) - 3)
    top = clean.streamer_logins[0]
    assert peak[top] == max(peak.values())
    assert peak[top] > 3 * sorted(peak.values())[len(peak) // 2]
    first = clean_samples[0]["streams"].values()  # 00:00: streams started yesterday
    assert any(st["started_at"] < DAY for st in first)


def test_lists_sorted_distinct_and_accounts(clean, clean_samples):
    users = clean.users()
    assert len(users) == clean.n_viewers + len(clean.streamer_logins) + 3  # no collisions
    assert all(ACCOUNT.match(u) for u in users)
    assert len(set(users.values())) == len(users) and all(i.isdigit() for i in users.values())
    for s in clean_samples[::20]:
        for st in s["streams"].values():
            assert st["chatters"] == sorted(set(st["chatters"]))
            assert all(c in users for c in st["chatters"])
    logins, ids = viewer_logins(200_000)
    assert len(set(logins.tolist())) == len(set(ids.tolist())) == 200_000
    assert viewer_logins(10)[0].tolist() == logins[:10].tolist()  # scale-independent


def test_gaps_remove_ticks(clean, dirty):
    full, gapped = clean.timestamps(), dirty.timestamps()
    assert set(gapped) < set(full) and gapped == sorted(gapped)
    missing = sorted(set(full) - set(gapped))
    assert 4 + 2 <= len(missing) <= 12 + 2
    idx = [full.index(t) for t in missing]
    runs = Counter()
    start = idx[0]
    for a, b in zip(idx, idx[1:] + [None]):
        if b != a + 1:
            runs[a - start + 1] += 1
            start = b
    assert max(runs) >= 4 and runs[1] >= 1  # one 20-60 min outage, single missed ticks
    assert not any(s["ts"] in missing for s in dirty.samples())


def test_dirty_only_when_dirty_and_recoverable(clean_samples, dirty_samples):
    assert all(VALID.match(c) for s in clean_samples for st in s["streams"].values()
               for c in st["chatters"])
    by_ts = {s["ts"]: s for s in clean_samples}
    kinds = Counter()
    for s in dirty_samples:
        for login, st in s["streams"].items():
            chat = st["chatters"]
            for c in chat:
                norm = c.strip().lower()
                if not VALID.match(norm):
                    kinds["invalid"] += 1
                elif c != norm:
                    kinds["upper" if c.strip() == c else "padded"] += 1
            kinds["duplicate"] += len(chat) - len(set(chat))
            recovered = sorted({n for n in (c.strip().lower() for c in chat) if VALID.match(n)})
            assert recovered == by_ts[s["ts"]]["streams"][login]["chatters"]
    assert all(kinds[k] > 0 for k in ("invalid", "upper", "padded", "duplicate")), kinds


def test_scaling_is_roughly_linear():
    def viewer_observations(scale):
        m = AudienceModel(AudienceConfig(scale=scale), DAY)
        bots = set(m.bot_logins)
        return sum(len(set(st["chatters"]) - bots)
                   for s in m.samples() for st in s["streams"].values())

    small, big = viewer_observations(0.002), viewer_observations(0.004)
    assert 1.7 < big / small < 2.3
    assert 10 < small / (0.002 * 900_000) < 40  # ~22 samples per viewer at any scale
    tiny = AudienceModel(AudienceConfig(scale=0.001), DAY)
    assert tiny.n_viewers == 900 and len(tiny.timestamps()) == 288


def test_two_chats_at_once_and_heavy_tailed_stays(clean, clean_samples):
    bots = set(clean.bot_logins)
    doubles = 0
    last, runs, sessions = {}, Counter(), []  # sessions: lengths of consecutive-tick runs
    for k, s in enumerate(clean_samples):
        seen = Counter()
        for login, st in s["streams"].items():
            for c in set(st["chatters"]) - bots:
                seen[c] += 1
                if last.get((c, login)) != k - 1 and (c, login) in runs:
                    sessions.append(runs.pop((c, login)))
                last[c, login] = k
                runs[c, login] += 1
        doubles += sum(1 for n in seen.values() if n > 1)
    assert doubles > 0
    sessions = sorted(sessions + list(runs.values()))
    assert sessions[len(sessions) // 2] <= 6  # median stay: half an hour at most
    assert sum(n >= 36 for n in sessions) >= 0.01 * len(sessions)  # some last 3 hours +
    assert len({v for v, _ in last}) >= 0.95 * clean.n_viewers


def test_simulator_queries(clean, clean_samples):
    ts = clean.timestamps()[240]
    sample = clean_samples[240]
    live = clean.live_streams(ts)
    assert [r["user_login"] for r in live] == list(sample["streams"])
    counts = [r["viewer_count"] for r in live]
    assert counts == sorted(counts, reverse=True)
    for r in live:
        assert clean.chatters(ts, r["user_login"]) == sample["streams"][r["user_login"]]["chatters"]
        assert r["chatter_count"] == len(sample["streams"][r["user_login"]]["chatters"])
    off = next(s for s in clean.streamer_logins if s not in sample["streams"])
    assert clean.chatters(ts, off) == [] and clean.chatters(ts, "nobody") == []
    mid = ts + 137  # any second works, not only ticks
    assert clean.live_streams(mid) and clean.chatters(mid, live[0]["user_login"])


def test_write_day(tmp_path):
    config = AudienceConfig(scale=0.001, gaps=True)
    paths = write_day(tmp_path, DAY, config)
    model = AudienceModel(config, DAY)
    assert [p.name for p in paths] == [f"{t}.json" for t in model.timestamps()]
    assert sorted(os.listdir(tmp_path / DAY)) == sorted(p.name for p in paths)  # no temp left
    first = paths[0].read_bytes()
    assert orjson.loads(first) == model.sample_at(model.timestamps()[0])
    write_day(tmp_path, DAY, config)  # idempotent
    assert paths[0].read_bytes() == first
