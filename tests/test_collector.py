"""The collector's tick loop, secrets handling and kill safety (no network: sim source).
The Twitch-facing sources are tested against the simulator in tests/test_sources.py."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.support import TempHolder, dead_pid, make_config, make_temp
from tpdask.collect.collector import make_collector
from tpdask.collect.credentials import load_credentials
from tpdask.collect.sources.irc import parse_line
from tpdask.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
T0 = 1659312000          # 2022-08-01T00:00:00Z


def collect_cmd(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tpdask", "--data_dir", str(data), "collect", *args]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_ticks_are_aligned_to_the_interval_and_samples_follow_the_contract(tmp_path):
    config = make_config(tmp_path)
    collector = make_collector(config, source="sim", top=10, speed=600, start=T0 + 7,
                               log=lambda m: None)
    results = collector.run(ticks=3)
    assert [r.ts for r in results] == [T0 + 300, T0 + 600, T0 + 900]
    for r in results:
        sample = orjson.loads(r.path.read_bytes())
        assert sample["version"] == 1 and sample["ts"] == r.ts and sample["source"] == "sim"
        assert r.path == config.samples_dir / "2022-08-01" / f"{r.ts}.json"
        assert 0 < len(sample["streams"]) <= 10
        for stream in sample["streams"].values():
            assert isinstance(stream["chatters"], list) and stream["user_id"]


def test_sigterm_finishes_the_tick_and_exits_zero(tmp_path):
    proc = subprocess.Popen(collect_cmd(tmp_path, "--source", "sim", "--speed", "300",
                                        "--start", str(T0 + 290)),
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not list(tmp_path.glob("samples/*/*.json")):
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"collected" in out


def written_since(folder: Path, started_ns: int) -> int:
    """Sample files under folder written (renamed into place) at or after started_ns."""
    count = 0
    for path in folder.glob("samples/*/*.json"):
        with contextlib.suppress(FileNotFoundError):      # replaced while we look
            count += path.stat().st_mtime_ns >= started_ns
    return count


def test_a_collector_killed_mid_write_never_leaves_a_broken_sample(tmp_path):
    """Four collectors (a tick every 50 ms), each SIGKILLed once it has written 5 to 10
    samples: in the middle of its next ones."""
    rng = random.Random(7)
    for _ in range(4):
        started = time.time_ns()
        proc = subprocess.Popen(collect_cmd(tmp_path, "--source", "sim", "--speed", "6000",
                                            "--start", str(T0)),
                                env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wanted, deadline = rng.randint(5, 10), time.monotonic() + 60
        while written_since(tmp_path, started) < wanted:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, f"fewer than {wanted} samples in 60 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    samples = list(tmp_path.glob("samples/*/*.json"))
    assert len(samples) > 4
    for path in samples:
        sample = orjson.loads(path.read_bytes())      # every file whole and valid
        assert sample["ts"] == int(path.stem)


def test_credentials_come_from_the_environment_or_a_0600_file(tmp_path, monkeypatch):
    for name in ("TPDASK_CLIENT_ID", "TPDASK_CLIENT_SECRET", "TPDASK_USER_TOKEN",
                 "TPDASK_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="no Twitch credentials"):
        load_credentials()
    secrets = tmp_path / "twitch.env"
    secrets.write_text("TPDASK_CLIENT_ID=abc\nTPDASK_CLIENT_SECRET=s3cret\n")
    secrets.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_credentials(str(secrets))
    secrets.chmod(0o600)
    creds = load_credentials(str(secrets))
    assert (creds.client_id, creds.client_secret) == ("abc", "s3cret")
    assert "s3cret" not in repr(creds)
    monkeypatch.setenv("TPDASK_CLIENT_SECRET", "from-env")
    assert load_credentials(str(secrets)).client_secret == "from-env"


def test_irc_lines_are_parsed_with_tags_prefix_and_trailing():
    tags, nick, command, params = parse_line(
        "@badge-info=;display-name=Foo;user-id=42 :foo!foo@foo.tmi.twitch.tv PRIVMSG #chan :hi there")
    assert (tags["user-id"], nick, command, params) == ("42", "foo", "PRIVMSG", ["#chan", "hi there"])
    assert parse_line(":bar!bar@bar.tmi.twitch.tv JOIN #chan")[1:] == ("bar", "JOIN", ["#chan"])
    assert parse_line("PING :tmi.twitch.tv")[2:] == ("PING", ["tmi.twitch.tv"])


def test_a_tick_that_cannot_write_is_reported_and_the_next_ticks_go_on(tmp_path):
    config = make_config(tmp_path)
    config.samples_dir.mkdir(parents=True)
    (config.samples_dir / "2022-08-01").write_text("not a folder")   # the day cannot be written
    messages = []
    collector = make_collector(config, source="sim", top=5, speed=600, start=T0 + 86400 - 310,
                               log=messages.append)
    first, second = collector.run(ticks=2)
    assert first.path is None and "Error" in first.error          # 23:55 of 2022-08-01
    assert second.path is not None and second.error is None       # 00:00 of the next day
    assert any("no sample, unexpected error" in m for m in messages)


def test_a_starting_collector_removes_only_temps_of_dead_writers(tmp_path):
    config = make_config(tmp_path)
    day = config.samples_dir / "2022-07-31"
    holder = TempHolder(day, "1659225600.json")        # an import_tmi in the middle of a write
    dead = make_temp(day, "1659225900.json", dead_pid())                  # a killed writer's
    fresh_dead = make_temp(day, "1659226200.json", dead_pid(), age=1)     # may be another host's
    ancient = make_temp(day, "1659226500.json", holder.proc.pid, age=7200)  # pid reused since
    messages: list[str] = []
    collector = make_collector(config, source="sim", top=5, speed=600, start=T0 + 7,
                               log=messages.append)
    result, = collector.run(once=True)
    assert result.path is not None and result.error is None
    assert holder.temp.exists() and fresh_dead.exists()
    assert not dead.exists() and not ancient.exists()
    assert any("removed 2 partial file(s)" in m for m in messages)
    code, err = holder.finish()
    assert code == 0, err                                # its rename found its temp
    assert holder.final.read_bytes() == b'{"held": true}'


def test_a_signal_while_the_log_is_being_written_stops_without_a_deadlock(tmp_path):
    """The handler runs in the main thread between two bytecodes; if the main thread is
    writing a log line then, the log's lock is held: a handler that logged waited for it
    for ever (a collector hung in CI after SIGTERM). It only sets the stop event now."""
    from tpdask.collect.collector import Collector
    from tpdask.collect.sources.sim import SimSource
    from tpdask.log import print_log
    from tpdask.progress import _write_lock
    from tpdask.simulator.audience import AudienceConfig
    from tpdask.simulator.clock import SimClock

    sim = SimSource(AudienceConfig(scale=0.001))
    collector = Collector(tmp_path / "samples", sim.select(5, []), sim, SimClock(T0, 300),
                          300, log=print_log)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        collector.stop_on_signals()
        with _write_lock:                     # as while the main thread writes a line
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)                   # the handler runs here
        assert collector.stop.is_set() and collector.stopped_by == signal.SIGTERM
        assert collector.run() == []          # stopped: no tick, and says why
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
