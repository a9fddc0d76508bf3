"""import_tmi: old tmi chatters dumps → samples, then through the real day job."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from jobs.process_day import process_day
from tests.support import (TempHolder, dead_pid, make_config, make_temp, sample, stored_records,
                           write_samples)
from tpdask.collect.import_tmi import import_tmi
from tpdask.errors import ConfigError
from tpdask.executor import LocalExecutor
from tpdask.settings import Config

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
T0 = 1659312000          # 2022-08-01T00:00:00Z
QUIET = dict(log=lambda m: None)


def write_dump(root: Path, channel: str, name: str, roles: dict | None = None,
               count: int | None = None, raw: bytes | None = None) -> Path:
    path = root / channel / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is None:
        roles = roles if roles is not None else {"viewers": ["someone"]}
        total = count if count is not None else sum(map(len, roles.values()))
        raw = orjson.dumps({"_links": {}, "chatter_count": total, "chatters": roles})
    path.write_bytes(raw)
    return path


def read_sample(config: Config, ts: int) -> dict:
    day = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")
    return orjson.loads((config.samples_dir / day / f"{ts}.json").read_bytes())


def all_samples(config: Config) -> dict[str, bytes]:
    return {str(p.relative_to(config.samples_dir)): p.read_bytes()
            for p in sorted(config.samples_dir.rglob("*.json"))}


def local_ts(text: str, zone: str) -> int:
    from zoneinfo import ZoneInfo

    return int(dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone))
               .timestamp())


def test_both_layouts_in_one_slot_become_one_sample(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    write_dump(dumps, " Chan_A ", f"{T0 + 10}.json", {"viewers": ["x", "y"]}, count=7)
    write_dump(dumps, "chan_b", "2022-08-01-00-04_dump.json",
               {"moderators": ["m"], "viewers": ["x"]})
    report = import_tmi(config, dumps, **QUIET)
    assert read_sample(config, T0) == {
        "version": 1, "ts": T0, "source": "tmi",
        "streams": {"chan_a": {"chatters": ["x", "y"], "chatter_count": 7},
                    "chan_b": {"chatters": ["m", "x"], "chatter_count": 2}}}
    assert (report.dumps_read, report.samples_written) == (2, 1)
    assert report.channels == ("chan_a", "chan_b") and report.days == (DAY,)


def test_unpadded_dates_and_slots(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    write_dump(dumps, "c", "2022-1-9-05-33_dump.json")
    write_dump(dumps, "c", "2022-1-9-5-36_dump.json")
    import_tmi(config, dumps, **QUIET)
    start = local_ts("2022-01-09 05:30", "UTC")
    assert all_samples(config).keys() == {f"2022-01-09/{start}.json",
                                          f"2022-01-09/{start + 300}.json"}


@pytest.mark.parametrize("name, utc", [
    ("2022-07-01-14-00_dump.json", "2022-07-01 12:00"),    # summer, UTC+2
    ("2022-1-10-14-00_dump.json", "2022-01-10 13:00"),     # winter, UTC+1
    ("2022-7-2-01-00_dump.json", "2022-07-01 23:00"),      # local day after the UTC day
    ("2022-10-30-02-30_dump.json", "2022-10-30 00:30"),    # repeated hour: first one (fold=0)
])
def test_local_file_names_are_read_in_the_given_zone(tmp_path, name, utc):
    config = make_config(tmp_path)
    write_dump(tmp_path / "dumps", "c", name)
    import_tmi(config, tmp_path / "dumps", tz="Europe/Paris", **QUIET)
    assert read_sample(config, local_ts(utc, "UTC"))["streams"]["c"]["chatters"] == ["someone"]


def test_an_unknown_zone_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="Europe/Paris"):
        import_tmi(make_config(tmp_path), tmp_path, tz="Mars/Olympus", **QUIET)


def test_the_same_channel_twice_in_a_slot_is_one_union(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    write_dump(dumps, "c", f"{T0 + 200}.json", {"viewers": ["b", "c"]}, count=9)
    write_dump(dumps, "c", f"{T0 + 20}.json", {"viewers": ["a", "b"]}, count=4)
    import_tmi(config, dumps, **QUIET)
    assert read_sample(config, T0)["streams"] == {"c": {"chatters": ["a", "b", "c"],
                                                        "chatter_count": 9}}


def test_role_lists_in_contract_order_missing_ones_and_duplicates(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    roles = {"viewers": ["v1", "mod", "v2", "v1"], "moderators": ["mod", "bro"],
             "broadcaster": ["bro"], "vips": []}          # no staff, admins, global_mods
    write_dump(dumps, "bro", f"{T0}.json", roles)
    import_tmi(config, dumps, **QUIET)
    assert read_sample(config, T0)["streams"]["bro"]["chatters"] == ["bro", "mod", "v1", "v2"]


def test_bad_dumps_are_quarantined_and_the_import_goes_on(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    bad = {
        ("c", f"{T0 + 300}.json"): b"{not json",
        ("c", f"{T0 + 600}.json"): orjson.dumps({"chatter_count": 1, "chatters": ["x"]}),
        ("c", f"{T0 + 900}.json"): orjson.dumps({"chatters": {"viewers": "x"}}),
        ("c", "notes.txt"): b"hello",
        ("c", "2022-13-01-00-00_dump.json"): b"{}",
        ("not a channel!", f"{T0}.json"): orjson.dumps({"chatters": {"viewers": ["x"]}}),
    }
    for (channel, name), data in bad.items():
        write_dump(dumps, channel, name, raw=data)
    write_dump(dumps, "c", f"{T0}.json", {"viewers": ["ok"]})
    report = import_tmi(config, dumps, **QUIET)
    assert (report.dumps_read, report.dumps_quarantined, report.samples_written) == (1, 6, 1)
    for (channel, name), data in bad.items():
        kept = config.quarantine_dir / "import_tmi" / channel / name
        assert kept.read_bytes() == data and (dumps / channel / name).exists()
        assert kept.with_name(name + ".reason").read_text().strip()
    assert all_samples(config).keys() == {f"{DAY}/{T0}.json"}


def test_a_rerun_changes_nothing_and_existing_samples_are_merged(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, [sample(T0, {"live": ["z"]}, source="helix")])
    dumps = tmp_path / "dumps"
    for i in range(4):
        write_dump(dumps, "c", f"{T0 + 300 * i + 5}.json", {"viewers": [f"v{i}", "w"]})
        write_dump(dumps, "d", f"{T0 + 300 * i + 9}.json", {"viewers": ["w"]})
    first = import_tmi(config, dumps, **QUIET)
    files = all_samples(config)
    again = import_tmi(config, dumps, **QUIET)
    assert all_samples(config) == files
    assert (first.samples_written, again.samples_written, again.samples_unchanged) == (4, 0, 4)
    merged = read_sample(config, T0)
    assert merged["source"] == "helix" and list(merged["streams"]) == ["live", "c", "d"]
    assert merged["streams"]["live"]["user_id"] == "1"


def test_an_imported_day_processes_to_the_expected_viewers(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    for i in range(6):             # alice on c for 6 slots; bob on c, then d, with a gap
        write_dump(dumps, "c", f"{T0 + 300 * i + 30}.json",
                   {"moderators": ["Alice"], "viewers": ["alice"] + (["bob"] if i < 2 else [])})
        if i >= 4:
            write_dump(dumps, "d", f"2022-8-1-02-{5 * i + 1:02d}_dump.json", {"viewers": ["bob"]})
    import_tmi(config, dumps, tz="Europe/Paris", **QUIET)
    process_day(config, DAY, LocalExecutor(log=lambda m: None), log=lambda m: None)
    records = stored_records(config, DAY)
    assert set(records) == {"alice", "bob"}
    assert records["alice"]["minutes"] == 30
    assert records["alice"]["streamers"]["c"]["sessions"] == [[T0, T0 + 1500]]
    bob = records["bob"]
    assert bob["samples"] == 4 and bob["first_ts"] == T0 and bob["last_ts"] == T0 + 1500
    assert bob["streamers"]["d"]["sessions"] == [[T0 + 1200, T0 + 1500]]


def test_the_command_uses_the_global_interval(tmp_path):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps"
    write_dump(dumps, "c", f"{T0 + 400}.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "import_tmi",
         str(dumps), "--tz", "Europe/Paris", "--interval", "600"],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dumps_read" in result.stdout
    assert all_samples(config).keys() == {f"{DAY}/{T0}.json"}


def test_an_import_removes_what_a_killed_import_left_and_keeps_live_temps(tmp_path):
    config = make_config(tmp_path)
    folder = config.samples_dir / DAY
    leftover = make_temp(folder, f"{T0 + 300}.json", dead_pid())     # a killed import_tmi's
    holder = TempHolder(folder, f"{T0 + 600}.json")                  # a collector writing now
    dumps = tmp_path / "dumps"
    write_dump(dumps, "c", f"{T0 + 310}.json", {"viewers": ["x"]})
    logged: list[str] = []
    report = import_tmi(config, dumps, log=logged.append)
    assert report.samples_written == 1
    assert not leftover.exists() and holder.temp.exists()
    assert any("removed 1 temp file(s)" in line for line in logged)
    code, err = holder.finish()
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == [f"{T0 + 300}.json", f"{T0 + 600}.json"]
