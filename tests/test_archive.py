"""The archiver: verify-then-delete, manifest, late samples, conflicts, corruption, crashes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import py7zr
import pytest

from tests.support import (dead_pid, make_config, make_temp, sample, write_multi_folder_archive,
                           write_samples)
from tpdask.archive.manifest import manifest_path, read_manifest, verify_archive
from tpdask.archive.members import archive_path, list_day, stream_archive
from tpdask.archive.pack import ArchiveReport, archive_day, build_archive
from tpdask.archive.sevenz import default_threads
from tpdask.errors import ArchiveError
from tpdask.files import temps_of
from tpdask.settings import Config

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
T0 = 1659312000          # 2022-08-01T00:00:00Z
QUIET = dict(log=lambda m: None)
STEPS = ("written", "manifest", "verified", "renamed", "deleted-one")


def make_samples(first: int, count: int) -> list[dict]:
    return [sample(T0 + 300 * i, {"s1": [f"v{j}" for j in range(i % 7 + 1)], "s2": ["a", "b"]})
            for i in range(first, first + count)]


def raw(samples: list[dict]) -> dict[str, bytes]:
    return {f"{s['ts']}.json": orjson.dumps(s) for s in samples}


def members(config: Config) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    stream_archive(archive_path(config.archive_dir, DAY), found.__setitem__)
    return found


def loose(config: Config) -> dict[str, bytes]:
    folder = config.samples_dir / DAY
    return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}


def assert_archived_exactly(config: Config, expected: dict[str, bytes]) -> None:
    """The final state: no raw folder, a verified archive holding exactly `expected`."""
    assert not (config.samples_dir / DAY).exists()
    assert members(config) == expected
    verify_archive(archive_path(config.archive_dir, DAY),
                   read_manifest(manifest_path(config.archive_dir, DAY)))
    assert sorted(os.listdir(config.archive_dir)) == [f"{DAY}.7z", f"{DAY}.manifest.json"]


def test_archive_replaces_the_folder_by_a_verified_archive(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 12)
    write_samples(config, DAY, samples)
    report = archive_day(config, DAY, **QUIET)
    expected = raw(samples)
    assert_archived_exactly(config, expected)
    archive = archive_path(config.archive_dir, DAY)
    with py7zr.SevenZipFile(archive, "r") as z:       # the day processor's member names
        assert sorted(i.filename for i in z.list()) == sorted(f"{DAY}/{n}" for n in expected)
    assert list_day(config.samples_dir, config.archive_dir, DAY).count == 12
    assert (report.files_archived, report.members, report.late_files_added) == (12, 12, 0)
    assert report.bytes_raw == sum(map(len, expected.values()))
    assert report.bytes_archived == archive.stat().st_size
    assert "files_archived" in report.text()


def test_the_manifest_describes_the_archive(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 5)
    write_samples(config, DAY, samples)
    archive_day(config, DAY, **QUIET)
    manifest = read_manifest(manifest_path(config.archive_dir, DAY))
    archive = archive_path(config.archive_dir, DAY)
    assert manifest["day"] == DAY and manifest["archive"] == f"{DAY}.7z"
    assert manifest["archive_size"] == archive.stat().st_size
    assert manifest["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["created_at"].endswith("Z")
    assert manifest["files"] == [
        {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        for n, b in sorted(raw(samples).items())]


def test_running_twice_is_harmless(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, make_samples(0, 6))
    archive_day(config, DAY, **QUIET)
    files = {p.name: p.read_bytes() for p in config.archive_dir.iterdir()}
    again = archive_day(config, DAY, **QUIET)
    assert {p.name: p.read_bytes() for p in config.archive_dir.iterdir()} == files
    assert (again.files_archived, again.members, again.conflicts) == (0, 6, ())


def test_a_day_without_samples_is_nothing_to_do(tmp_path):
    config = make_config(tmp_path)
    report = archive_day(config, DAY, **QUIET)
    assert report == ArchiveReport(day=DAY, archive=report.archive, seconds=report.seconds)
    assert not archive_path(config.archive_dir, DAY).exists()


def test_late_samples_are_added_and_loose_copies_removed(tmp_path):
    config = make_config(tmp_path)
    first = make_samples(2, 6)
    write_samples(config, DAY, first)
    archive_day(config, DAY, **QUIET)
    late = make_samples(0, 2) + make_samples(10, 1)     # before and after the archived ones
    write_samples(config, DAY, late + first[:1])        # plus a copy of an archived sample
    report = archive_day(config, DAY, **QUIET)
    assert_archived_exactly(config, raw(first + late))
    assert (report.files_archived, report.late_files_added, report.already_archived) == (3, 3, 1)
    manifest = read_manifest(manifest_path(config.archive_dir, DAY))
    assert [f["name"] for f in manifest["files"]] == sorted(raw(first + late))


def test_a_conflicting_late_sample_is_kept_and_reported(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 4)
    write_samples(config, DAY, samples)
    archive_day(config, DAY, **QUIET)
    other = sample(samples[1]["ts"], {"s1": ["someone_else"]})
    write_samples(config, DAY, [other])
    logged: list[str] = []
    report = archive_day(config, DAY, log=logged.append)
    name = f"{other['ts']}.json"
    assert report.conflicts == (name,)
    assert loose(config) == {name: orjson.dumps(other)}
    assert members(config) == raw(samples)
    assert any("conflict" in line and name in line for line in logged)
    assert f"conflict: {name}" in report.text()


@pytest.mark.parametrize("damage", ["truncated", "byte flipped", "truncated, no manifest"])
def test_a_corrupt_archive_is_detected_and_nothing_deleted(tmp_path, damage):
    config = make_config(tmp_path)
    samples = make_samples(0, 8)
    write_samples(config, DAY, samples)
    archive_day(config, DAY, **QUIET)
    archive = archive_path(config.archive_dir, DAY)
    data = bytearray(archive.read_bytes())
    if damage == "byte flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    archive.write_bytes(bytes(data))
    if "no manifest" in damage:
        manifest_path(config.archive_dir, DAY).unlink()
    write_samples(config, DAY, samples[:3] + make_samples(20, 2))   # loose copies and late ones
    before = loose(config)
    with pytest.raises(ArchiveError, match="no raw file was deleted"):
        archive_day(config, DAY, **QUIET)
    assert loose(config) == before
    assert archive.read_bytes() == bytes(data)


def test_an_archive_without_manifest_gets_one_from_its_members(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 4)
    folder = write_samples(config, DAY, samples)
    build_archive(DAY, sorted(folder.glob("*.json")), archive_path(config.archive_dir, DAY))
    report = archive_day(config, DAY, **QUIET)
    assert report.already_archived == 4
    assert_archived_exactly(config, raw(samples))


def tpdask(config: Config, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
                           *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_the_command_prints_its_report(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, make_samples(0, 3))
    result = tpdask(config, "archive", "--day", "20220801")
    assert result.returncode == 0, result.stderr
    assert "files_archived" in result.stdout and f"{DAY}.7z" in result.stdout
    assert_archived_exactly(config, raw(make_samples(0, 3)))


@pytest.mark.parametrize("blocks", ["one", "several"])
@pytest.mark.parametrize("late", [False, True], ids=["fresh", "late"])
@pytest.mark.parametrize("step", STEPS)
def test_a_crash_after_any_step_loses_nothing(tmp_path, step, late, blocks):
    block_mb = 0.0001 if blocks == "several" else 32       # ~100-byte blocks: one per core
    config = make_config(tmp_path, archive_block_mb=block_mb)
    samples = make_samples(0, 6)
    if late:
        write_samples(config, DAY, samples[:4])
        archive_day(config, DAY, **QUIET)
    write_samples(config, DAY, samples[4:] if late else samples)
    crashed = tpdask(config, "archive", "--day", DAY, env={"TPDASK_FAULT_ARCHIVE_STEP": step,
                                                            "TPDASK_ARCHIVE_BLOCK_MB": str(block_mb)})
    assert crashed.returncode == 137, crashed.stderr

    archive = archive_path(config.archive_dir, DAY)
    archived = {}
    if archive.exists():             # whatever is at the final name is complete and verified
        verify_archive(archive, read_manifest(manifest_path(config.archive_dir, DAY)))
        archived = members(config)
        with py7zr.SevenZipFile(archive, "r") as z:
            folders = z.header.main_streams.unpackinfo.numfolders
        assert folders == (1 if blocks == "one" else min(default_threads(), 6))
    raw_files = loose(config)
    for name, data in raw(samples).items():
        assert raw_files.get(name) == data or archived.get(name) == data, f"{name} was lost"

    archive_day(config, DAY, **QUIET)
    assert_archived_exactly(config, raw(samples))


def test_a_crash_between_the_two_renames_is_finished_by_the_next_run(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 4)
    write_samples(config, DAY, samples)
    crashed = tpdask(config, "archive", "--day", DAY, env={"TPDASK_FAULT_ARCHIVE_STEP": "verified"})
    assert crashed.returncode == 137, crashed.stderr
    archive = archive_path(config.archive_dir, DAY)
    [temp] = temps_of(archive)                 # the dead archiver's `.<name>.<pid>.tmp`
    os.replace(temp, archive)                                         # the first rename only
    logged: list[str] = []
    report = archive_day(config, DAY, log=logged.append)
    assert any("interrupted" in line for line in logged)
    assert report.already_archived == 4
    assert_archived_exactly(config, raw(samples))


@pytest.mark.parametrize("run", range(3))      # the old reader failed differently every run
def test_a_multi_folder_archive_without_manifest_gets_the_right_manifest(tmp_path, run):
    config = make_config(tmp_path)
    old = make_samples(0, 90)
    archive = archive_path(config.archive_dir, DAY)
    write_multi_folder_archive(archive, {f"{DAY}/{n}": b for n, b in raw(old).items()})
    late = make_samples(100, 3)
    write_samples(config, DAY, old[:5] + late)          # loose copies and late samples
    logged: list[str] = []
    report = archive_day(config, DAY, log=logged.append)
    assert any("rebuilding" in line for line in logged)
    assert (report.already_archived, report.late_files_added, report.members) == (5, 3, 93)
    assert_archived_exactly(config, raw(old + late))
    manifest = read_manifest(manifest_path(config.archive_dir, DAY))
    assert manifest["files"] == [
        {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
        for n, b in sorted(raw(old + late).items())]


def test_a_multi_folder_archive_rebuilds_its_manifest_with_every_size(tmp_path):
    config = make_config(tmp_path)
    old = make_samples(0, 60)
    archive = archive_path(config.archive_dir, DAY)
    write_multi_folder_archive(archive, {f"{DAY}/{n}": b for n, b in raw(old).items()})
    before = archive.read_bytes()
    report = archive_day(config, DAY, **QUIET)          # nothing loose: only the manifest
    assert report.members == 60 and archive.read_bytes() == before
    manifest = read_manifest(manifest_path(config.archive_dir, DAY))
    entries = {f["name"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    assert entries == {n: (len(b), hashlib.sha256(b).hexdigest()) for n, b in raw(old).items()}
    assert [f["name"] for f in manifest["files"]] == sorted(entries)
    verify_archive(archive, manifest)


def _rewrite_when_reached(folder: str, names: list[str], ready, out) -> None:
    """A writer process that replaces every other file (names[1], names[3], …) with a new
    version the project's way — temp `.<name>.<pid>.tmp`, fsync, rename, fsync of the folder —
    doing each rename the instant the archiver deleted the file before it, that is, while
    the archiver is checking this one. Sends the final bytes of what it wrote."""
    import time as _time

    from tpdask.files import fsync_dir

    root, staged = Path(folder), []
    for before, name in zip(names[::2], names[1::2]):
        data = orjson.dumps(big_sample(int(name[:-5]), "rewritten"))
        tmp = root / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        staged.append((root / before, tmp, root / name, data))
    ready.set()
    deadline, final = _time.time() + 30, {}
    for before, tmp, path, data in staged:
        while before.exists() and _time.time() < deadline:
            pass
        spin = _time.perf_counter()
        while _time.perf_counter() - spin < 30e-6:    # the archiver is inside its check now
            pass
        os.replace(tmp, path)
        final[path.name] = data
    fsync_dir(root)
    out.put(final)


def big_sample(ts: int, tag: str) -> dict:
    """A 60 kB sample: reading and hashing it takes the archiver some tens of µs."""
    return sample(ts, {"s1": [f"{tag}_viewer_{j}" for j in range(3000)]})


def test_a_sample_rewritten_while_archiving_is_never_lost(tmp_path):
    """A real writer process replaces files (temp + rename: a new inode) while archive_day
    checks and deletes them: each final version ends in the folder or in the archive, byte
    for byte. Before the fix, 6-24 of the 180 rewrites were lost over the 6 rounds."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    lost: list[str] = []
    for round_no in range(6):
        config = make_config(tmp_path / f"round{round_no}")
        samples = [big_sample(T0 + 300 * i, "first") for i in range(60)]
        folder = write_samples(config, DAY, samples)
        ready, out = ctx.Event(), ctx.Queue()
        writer = ctx.Process(target=_rewrite_when_reached,
                             args=(str(folder), sorted(raw(samples)), ready, out))
        writer.start()
        assert ready.wait(30)
        archive_day(config, DAY, **QUIET)
        final = out.get(timeout=60)
        writer.join(timeout=30)
        assert writer.exitcode == 0
        archive_day(config, DAY, **QUIET)          # the next run: conflicts are kept again
        archived, kept = members(config), loose(config)
        assert archived == raw(samples)            # the archived versions are the first ones
        lost += [f"round {round_no}: {name}" for name, data in final.items()
                 if kept.get(name) != data and archived.get(name) != data]
        assert not list(folder.glob(".*")) if folder.exists() else True   # no private names left
    assert lost == [], f"{len(lost)} rewritten samples lost, e.g. {lost[:3]}"


def test_files_with_odd_names_are_quarantined_and_the_rest_archived(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 4)
    folder = write_samples(config, DAY, samples)
    odd = {"a\\b.json": orjson.dumps(make_samples(4, 1)[0]), "notes.txt": b"hello"}
    for name, data in odd.items():
        (folder / name).write_bytes(data)
    fd = os.open(os.fsencode(folder) + b"/\xff\xfe.json", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"{not utf-8 named")
    os.close(fd)
    report = archive_day(config, DAY, **QUIET)
    assert sorted(report.quarantined) == ["%FF%FE.json", "a%5Cb.json", "notes.txt"]
    assert_archived_exactly(config, raw(samples))
    kept = config.quarantine_dir / DAY
    assert (kept / "a%5Cb.json").read_bytes() == odd["a\\b.json"]
    assert (kept / "%FF%FE.json").read_bytes() == b"{not utf-8 named"
    reason = (kept / "%FF%FE.json.reason").read_text()
    assert "not a sample file name" in reason and "\\xff\\xfe.json" in reason
    assert "quarantined: a%5Cb.json" in report.text()
    (folder).mkdir()                                   # the same odd name again, another day
    (folder / "a\\b.json").write_bytes(b"second")
    archive_day(config, DAY, **QUIET)
    assert (kept / "a%5Cb.json.1").read_bytes() == b"second"
    assert (kept / "a%5Cb.json").read_bytes() == odd["a\\b.json"]


def test_a_backslash_name_alone_does_not_block_the_day(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 3)
    folder = write_samples(config, DAY, samples)
    (folder / "a\\b.json").write_bytes(orjson.dumps(make_samples(5, 1)[0]))
    report = archive_day(config, DAY, **QUIET)
    assert report.quarantined == ("a%5Cb.json",) and report.files_archived == 3
    assert_archived_exactly(config, raw(samples))


def test_the_archiver_removes_temps_of_dead_writers_only(tmp_path):
    config = make_config(tmp_path)
    samples = make_samples(0, 3)
    folder = write_samples(config, DAY, samples)
    dead = make_temp(folder, f"{T0 + 900}.json", dead_pid())          # a killed import_tmi's
    live = make_temp(folder, f"{T0 + 1200}.json", os.getpid())        # a writer at work
    report = archive_day(config, DAY, **QUIET)
    assert report.files_archived == 3 and members(config) == raw(samples)
    assert not dead.exists() and live.exists()
    live.unlink()
    archive_day(config, DAY, **QUIET)
    assert_archived_exactly(config, raw(samples))


def test_a_file_a_killed_archiver_set_aside_is_put_back(tmp_path):
    """Between its rename to `.<name>.archiving.<pid>` and the unlink, a killed archiver
    leaves the file under that private name: the next run puts it back, or, when another
    file took its name meanwhile, keeps it in the quarantine."""
    config = make_config(tmp_path)
    samples = make_samples(0, 3)
    folder = write_samples(config, DAY, samples[:1])
    names = sorted(raw(samples))
    (folder / f".{names[1]}.archiving.{dead_pid()}").write_bytes(raw(samples)[names[1]])
    (folder / f".{names[2]}.archiving.{dead_pid()}").write_bytes(b"an older version")
    (folder / names[2]).write_bytes(raw(samples)[names[2]])
    logged: list[str] = []
    report = archive_day(config, DAY, log=logged.append)
    assert report.files_archived == 3
    assert_archived_exactly(config, raw(samples))
    assert any("killed archiver" in line for line in logged)
    [aside] = [p for p in (config.quarantine_dir / DAY).iterdir() if not p.name.endswith(".reason")]
    assert aside.read_bytes() == b"an older version"
