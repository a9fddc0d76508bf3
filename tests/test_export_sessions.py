"""`tpdask export sessions` (issue 19, item 4) against a plain reading of the privacy
contract: CSV without header, `user_id,stream_id,streamer_username,time_start,time_stop`,
one row per session of a non-bot viewer with another streamer's channel, user and stream
ids consecutive from 0 (a stream = streamer + started_at), times in interval steps from
D1 00:00 UTC, time_stop the step after the session's last sample; `--format parquet` the
same columns typed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from jobs.process_day import process_command
from tests.support import make_config
from tpdask.days import day_bounds
from tpdask.export import export_viewer_days
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day

ROOT = Path(__file__).resolve().parent.parent
DAYS = ["2022-08-01", "2022-08-02"]
QUIET = dict(log=lambda m: None)


def edge_samples(config: Config) -> None:
    """A hand-made third day: a stream without started_at, one restarted (a session over
    the restart is one row, of the first broadcast),
    a streamer in its own chat and in another, a known bot, a session over midnight."""
    day = "2022-08-03"
    start = day_bounds(day)[0]
    folder = config.samples_dir / day
    folder.mkdir(parents=True)
    for k in range(12):
        ts = start + 300 * k
        streams = {
            "alpha": {"started_at": "2022-08-03T00:00:00Z" if k < 6 else "2022-08-03T00:30:00Z",
                      "viewer_count": 50, "chatters": ["u_one", "alpha", "nightbot", "beta"]
                      + (["u_three"] if k >= 6 else [])},
            "beta": {"started_at": None, "viewer_count": 10,
                     "chatters": ["u_two", "beta"] + (["u_one"] if k % 3 else [])},
        }
        (folder / f"{ts}.json").write_bytes(orjson.dumps(
            {"version": 1, "ts": ts, "source": "sim", "streams": streams}))


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    config = make_config(tmp_path_factory.mktemp("sessions"))
    for day, seed in zip(DAYS, (3, 3)):
        write_day(config.samples_dir, day, AudienceConfig(seed=seed, scale=0.002))
    edge_samples(config)
    for day in [*DAYS, "2022-08-03"]:
        process_command(config, day, local=True, **QUIET)
    return config


def reference(config: Config, since: str, until: str, bots: bool) -> list[tuple]:
    """(viewer, streamer, started_at, time_start, time_stop) of every session the contract
    asks for, from the viewer_days export and the streams table, in plain Python."""
    rules = config.bot_rules()
    origin = day_bounds(since)[0]
    rows, flagged = [], set()
    for day in lake.processed_days(config.lake_dir):
        if not since <= day <= until:
            continue
        times = lake.read_times(config.lake_dir, day).to_pylist()
        started = {}
        for part in sorted(lake.day_dir(config.lake_dir, "streams", day).glob("*.parquet")):
            for r in pq.read_table(part).to_pylist():
                started.setdefault((r["ts"], r["streamer"]), r["started_at"])
        path = config.data_dir.parent / f"vd-{day}.jsonl"
        export_viewer_days(config, day, str(path))
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            at = Counter()
            for s in record["streamers"].values():
                for a, b in s["sessions"]:
                    at.update(t for t in times if a <= t <= b)
            if (record["samples"] * config.interval >= rules.hours * 3600
                    or max(at.values(), default=0) > rules.concurrent
                    or record["viewer"] in rules.known):
                flagged.add(record["viewer"])
            for streamer, s in record["streamers"].items():
                if streamer == record["viewer"]:
                    continue
                for a, b in s["sessions"]:
                    rows.append((record["viewer"], streamer, started[(a, streamer)],
                                 (a - origin) // config.interval,
                                 (b - origin) // config.interval + 1))
    return sorted(r for r in rows if bots or r[0] not in flagged)


def export(config: Config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
                           "export", "sessions", *args], capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def check_against(rows: list[list], expected: list[tuple]) -> dict[int, str]:
    """The export's rows are the reference's up to the numbering: returns user → viewer."""
    users = sorted({r[0] for r in rows})
    streams = sorted({r[1] for r in rows})
    assert users == list(range(len(users))) and streams == list(range(len(streams)))
    by_user = defaultdict(list)
    for user, stream, streamer, start, stop in rows:
        by_user[user].append((streamer, start, stop))
    by_viewer = defaultdict(list)
    for viewer, streamer, _, start, stop in expected:
        by_viewer[viewer].append((streamer, start, stop))
    signature = {tuple(sorted(v)): viewer for viewer, v in by_viewer.items()}
    assert Counter(tuple(sorted(v)) for v in by_user.values()) == \
        Counter(tuple(sorted(v)) for v in by_viewer.values())
    who = {user: signature[tuple(sorted(v))] for user, v in by_user.items()}
    stream_of = {}
    for user, stream, streamer, start, stop in rows:
        started = {e[2] for e in expected if e[0] == who[user] and e[1] == streamer
                   and e[3] == start and e[4] == stop}
        assert len(started) == 1
        assert stream_of.setdefault(stream, (streamer, started.pop())) == stream_of[stream]
    assert len(set(stream_of.values())) == len(stream_of)       # one id per stream
    assert rows == sorted(rows, key=lambda r: (r[0], r[3], r[4], r[1]))
    return who


@pytest.mark.parametrize("bots", [False, True])
def test_the_rappaz_layout_holds_every_session_of_the_contract(config, bots):
    flags = ["--since", DAYS[0], "--until", "2022-08-03", "--format", "rappaz"]
    result = export(config, *flags, *(["--bots"] if bots else []))
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    lines = text.splitlines()
    assert lines and all(len(line.split(",")) == 5 for line in lines)
    assert '"' not in text and not lines[0].startswith("user_id")
    rows = [[int(a), int(b), c, int(d), int(e)] for a, b, c, d, e in csv.reader(lines)]
    expected = reference(config, DAYS[0], "2022-08-03", bots)
    assert len(rows) == len(expected)
    who = check_against(rows, expected)
    assert ("nightbot" in who.values()) == bots
    assert sorted(who.values()) != [who[u] for u in sorted(who)]        # not by login
    assert all(r[2] != who[r[0]] for r in rows)                        # own channel out
    alpha = [r for r in rows if r[2] == "alpha" and who[r[0]] in ("u_one", "u_three")]
    assert len(alpha) == 2 and alpha[0][1] != alpha[1][1]    # a stream: streamer + started_at
    beta = {r[1] for r in rows if r[2] == "beta" and who[r[0]] in ("u_one", "u_two")}
    assert len(beta) == 1                                     # no started_at: one stream


def test_parquet_is_the_same_table_typed_and_the_numbering_is_stable(config, tmp_path):
    args = ["--since", DAYS[0], "--until", DAYS[1]]
    csv_rows = export(config, *args, "--format", "rappaz").stdout.decode().splitlines()
    out = tmp_path / "sessions.parquet"
    assert export(config, *args, "--format", "parquet", "--out", str(out)).returncode == 0
    table = pq.read_table(out)
    assert [(f.name, str(f.type)) for f in table.schema] == [
        ("user_id", "int64"), ("stream_id", "int64"), ("streamer_username", "string"),
        ("time_start", "int64"), ("time_stop", "int64")]
    assert [",".join(map(str, r.values())) for r in table.to_pylist()] == csv_rows
    again = export(config, *args, "--format", "rappaz").stdout.decode().splitlines()
    assert again == csv_rows
    assert max(int(line.split(",")[4]) for line in csv_rows) <= 2 * 288


def test_the_command_line_checks_its_flags(config):
    assert export(config, "--since", DAYS[0], "--until", DAYS[0]).returncode == 2
    assert export(config, "--since", DAYS[0], "--until", DAYS[0], "--format", "xml").returncode == 2
    assert export(config, "--day", DAYS[0], "--format", "rappaz").returncode == 2
    assert export(config, "--since", "2021-01-01", "--until", "2021-01-02",
                  "--format", "rappaz").returncode == 3
