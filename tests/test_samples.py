"""Reading samples from a day folder and from a .7z archive, and quarantining bad files."""

from __future__ import annotations

import orjson
import py7zr
import pytest

from jobs.process_day import process_day
from tests.support import (make_config, sample, stored_records, write_multi_folder_archive,
                           write_samples)
from tpdask.archive.members import list_day, stream_archive
from tpdask.errors import SampleError
from tpdask.executor import LocalExecutor
from tpdask.process.reference import reference_viewer_days
from tpdask.samples import parse_sample

DAY = "2022-08-01"
T0 = 1659312000
QUIET = dict(log=lambda m: None)


def process(config):
    return process_day(config, DAY, LocalExecutor(**QUIET), **QUIET)


def write_archive(config, samples, extra: dict[str, bytes] | None = None):
    config.archive_dir.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(config.archive_dir / f"{DAY}.7z", "w") as z:
        for s in samples:
            z.writestr(orjson.dumps(s), f"{DAY}/{s['ts']}.json")
        for name, raw in (extra or {}).items():
            z.writestr(raw, f"{DAY}/{name}")


SAMPLES = [sample(T0 + i * 300, {"a": [f"u{j}" for j in range(i, i + 5)], "b": ["u1", "U2 "]})
           for i in range(12)]


def test_the_archive_is_read_without_extracting_it(tmp_path):
    config = make_config(tmp_path)
    write_archive(config, SAMPLES)
    report = process(config)
    assert report["samples_read"] == 12
    assert stored_records(config, DAY) == reference_viewer_days(SAMPLES, DAY)
    assert not (config.samples_dir / DAY).exists()


def test_archive_and_late_loose_samples_are_read_together(tmp_path):
    config = make_config(tmp_path)
    write_archive(config, SAMPLES[:8])
    write_samples(config, DAY, SAMPLES[6:])           # two overlap by name, four arrive late
    files = list_day(config.samples_dir, config.archive_dir, DAY)
    assert (len(files.archive_members), len(files.folder_files)) == (8, 4)
    process(config)
    assert stored_records(config, DAY) == reference_viewer_days(SAMPLES, DAY)


BAD_FILES = {
    "not_json": (b"{not json", "not JSON"),
    "wrong_version": (orjson.dumps({**sample(T0, {"a": ["x"]}), "version": 2}), "wrong version"),
    "ts_outside_day": (orjson.dumps(sample(T0 - 60, {"a": ["x"]})), "outside the day"),
    "ts_not_a_number": (orjson.dumps({**sample(T0, {"a": ["x"]}), "ts": "noon"}), "wrong shape"),
    "streams_not_object": (orjson.dumps({"version": 1, "ts": T0, "streams": []}), "wrong shape"),
    "no_chatters": (orjson.dumps({"version": 1, "ts": T0, "streams": {"a": {}}}), "wrong shape"),
    "top_level_list": (b"[1, 2]", "wrong shape"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_loose_file_is_moved_to_quarantine_with_its_reason(tmp_path, kind):
    raw, reason = BAD_FILES[kind]
    config = make_config(tmp_path)
    folder = write_samples(config, DAY, SAMPLES[:3])
    (folder / f"{T0 + 7}.json").write_bytes(raw)
    report = process(config)
    assert report["files_quarantined"] == 1 and report["samples_read"] == 3
    kept = config.quarantine_dir / DAY / f"{T0 + 7}.json"
    assert kept.read_bytes() == raw and not (folder / kept.name).exists()
    assert reason in (config.quarantine_dir / DAY / f"{kept.name}.reason").read_text()
    assert stored_records(config, DAY) == reference_viewer_days(SAMPLES[:3], DAY)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_archive_member_is_copied_to_quarantine(tmp_path, kind):
    raw, reason = BAD_FILES[kind]
    config = make_config(tmp_path)
    write_archive(config, SAMPLES[:3], {"bad.json": raw})
    report = process(config)
    assert report["files_quarantined"] == 1 and report["samples_read"] == 3
    assert (config.quarantine_dir / DAY / "bad.json").read_bytes() == raw
    assert reason in (config.quarantine_dir / DAY / "bad.json.reason").read_text()


def test_parse_sample_says_what_is_wrong():
    with pytest.raises(SampleError, match="wrong version: 2"):
        parse_sample("x.json", orjson.dumps({"version": 2, "ts": T0, "streams": {}}), DAY)
    assert parse_sample("x.json", orjson.dumps(sample(T0, {"A ": []})), DAY).streams == [("a", [])]


def test_an_unreadable_archive_is_a_clear_error(tmp_path):
    from tpdask.errors import ArchiveError

    config = make_config(tmp_path)
    config.archive_dir.mkdir(parents=True)
    (config.archive_dir / f"{DAY}.7z").write_bytes(b"not an archive")
    with pytest.raises(ArchiveError, match="cannot read archive"):
        process(config)


def test_a_missing_day_is_a_clear_error(tmp_path):
    from tpdask.errors import ConfigError

    with pytest.raises(ConfigError, match="no samples for 2022-08-01"):
        process(make_config(tmp_path))


def test_a_task_run_again_after_a_crash_counts_the_file_it_already_quarantined(tmp_path):
    from tpdask.process.partition import PartitionTask, partition

    config = make_config(tmp_path)
    folder = write_samples(config, DAY, SAMPLES[:2])
    (folder / "bad.json").write_bytes(b"{oops")
    task = PartitionTask(day=DAY, task_id=0, n_buckets=4, scratch=str(tmp_path / "scratch"),
                         quarantine_dir=str(config.quarantine_dir), folder=str(folder),
                         folder_files=("bad.json", *sorted(p.name for p in folder.glob("1*"))))
    first, again = partition(task), partition(task)        # as Dask re-runs a task
    assert first.quarantined == again.quarantined == [("bad.json", first.quarantined[0][1])]
    assert "not JSON" in first.quarantined[0][1]
    assert again.samples == first.samples and again.observations == first.observations


def multi_folder_members(count: int) -> dict[str, bytes]:
    """Members of distinct sizes and contents, some empty (an empty member has no stream)."""
    members = {}
    for i in range(count):
        chatters = [f"viewer_{i}_{j}" for j in range(i % 37 * 11)]
        members[f"{DAY}/{T0 + 300 * i}.json"] = orjson.dumps(sample(T0 + 300 * i, {"a": chatters}))
    members[f"{DAY}/empty.json"] = b""
    return members


def test_every_member_of_a_multi_folder_archive_is_read_whole(tmp_path):
    config = make_config(tmp_path)
    members = multi_folder_members(160)
    archive = write_multi_folder_archive(config.archive_dir / f"{DAY}.7z", members)
    expected = {name.split("/")[1]: data for name, data in members.items()}
    for _ in range(6):                    # the old reader failed differently on every run
        got: dict[str, bytes] = {}
        stream_archive(archive, got.__setitem__)
        assert got.keys() == expected.keys()
        wrong = sorted(name for name in expected if got[name] != expected[name])
        assert wrong == [], f"{len(wrong)} members read wrong, e.g. {wrong[:3]}"
    some = {f"{T0 + 300 * i}.json" for i in (0, 1, 2, 77, 159)}
    chosen: dict[str, bytes] = {}
    stream_archive(archive, chosen.__setitem__, names=some)
    assert chosen == {name: expected[name] for name in some}
    files = list_day(config.samples_dir, config.archive_dir, DAY)
    assert files.archive_members == tuple(sorted((n, len(b)) for n, b in expected.items()))


def test_a_multi_folder_archive_is_processed_whole(tmp_path):
    config = make_config(tmp_path)
    samples = [sample(T0 + 300 * i, {"a": [f"u{j}" for j in range(i % 13 * 40)], "b": ["u1"]})
               for i in range(40)]
    write_multi_folder_archive(config.archive_dir / f"{DAY}.7z",
                               {f"{DAY}/{s['ts']}.json": orjson.dumps(s) for s in samples})
    report = process(config)
    assert (report["samples_read"], report["files_quarantined"]) == (40, 0)
    assert stored_records(config, DAY) == reference_viewer_days(samples, DAY)
