"""Archives compressed in blocks on several threads (tpdask.archive.sevenz): read back whole
by py7zr and by 7-Zip itself, whatever the cuts; archive_day's guarantees with several
blocks (the crash tests of test_archive.py run with one block and with several)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import orjson
import py7zr
import pytest

from tests.support import make_config, sample, write_samples
from tpdask.archive.manifest import manifest_path, read_manifest, verify_archive
from tpdask.archive.members import archive_path, stream_archive
from tpdask.archive.pack import FILTERS, archive_day, build_archive
from tpdask.archive.sevenz import ParallelWriter, _number, block_count, lzma2_dict_byte

DAY = "2022-08-01"
T0 = 1659312000
SEVEN_ZIPS = [tool for tool in ("7zz", "7z") if shutil.which(tool)]


def members_of(count: int, empty: tuple[int, ...] = ()) -> dict[str, bytes]:
    """Sample-like members, some repeated, those at `empty` of 0 bytes."""
    out = {}
    for i in range(count):
        data = orjson.dumps(sample(T0 + 300 * i, {"s1": [f"v{j}" for j in range(i * 13 % 97)]}))
        out[f"{DAY}/{T0 + 300 * i}.json"] = b"" if i in empty else data
    return out


def write(path: Path, members: dict[str, bytes], threads: int, min_block: int,
          as_files: Path | None = None) -> int:
    """Members into `path` with a ParallelWriter; half of them given as files when
    `as_files` is a folder. The number of 7z folders written."""
    total = sum(map(len, members.values()))
    with open(path, "wb") as fp, ParallelWriter(fp, FILTERS, total, threads, min_block) as w:
        for i, (name, data) in enumerate(members.items()):
            if as_files is not None and i % 2:
                file = as_files / name.replace("/", "_")
                file.write_bytes(data)
                w.add(name, file, 1659312000.5, len(data))
            else:
                w.add(name, data, 1659312000.5)
        written = w.close()
    assert [(x.name, x.size, x.sha256) for x in written] == [
        (n, len(d), hashlib.sha256(d).hexdigest()) for n, d in members.items()]
    with py7zr.SevenZipFile(path, "r") as z:
        assert z.testzip() is None
        main = z.header.main_streams
        return main.unpackinfo.numfolders if main is not None else 0


def read_back(path: Path) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    stream_archive(path, lambda name, data: got.__setitem__(f"{DAY}/{name}", data))
    return got


@pytest.mark.parametrize("count, threads, min_block, empty, folders", [
    (30, 1, 1 << 25, (), 1),
    (30, 4, 1, (), 4),
    (30, 3, 1000, (0, 7, 29), 3),
    (2, 8, 1, (), 2),                    # fewer members than threads
    (6, 3, 1, (0, 1, 2, 3), 2),          # empty members are 0-byte streams of their block
    (3, 2, 1, (0, 1, 2), 1),             # nothing but empty members: one empty folder
])
def test_every_cut_reads_back_whole(tmp_path, count, threads, min_block, empty, folders):
    members = members_of(count, empty)
    assert write(tmp_path / "a.7z", members, threads, min_block, as_files=tmp_path) == folders
    assert read_back(tmp_path / "a.7z") == members


@pytest.mark.skipif(not SEVEN_ZIPS and os.environ.get("CI") != "true",
                    reason="7-Zip is not installed (apt-get install 7zip; make test does)")
@pytest.mark.parametrize("tool", SEVEN_ZIPS or ["7z"])    # under CI: a missing 7z fails
def test_7zip_itself_reads_the_archive(tmp_path, tool):
    members = members_of(40, empty=(5,))
    archive = tmp_path / "a.7z"
    assert write(archive, members, threads=3, min_block=1) == 3
    tested = subprocess.run([tool, "t", str(archive)], capture_output=True, text=True)
    assert tested.returncode == 0 and "Everything is Ok" in tested.stdout, tested.stdout
    listed = subprocess.run([tool, "l", "-slt", str(archive)], capture_output=True, text=True)
    assert "Method = LZMA2:23" in listed.stdout and "Blocks = 3" in listed.stdout
    assert "Modified = 2022-08-01 00:00:00.5" in listed.stdout
    out = tmp_path / "x"
    subprocess.run([tool, "x", "-y", f"-o{out}", str(archive)], check=True, capture_output=True)
    assert {f"{DAY}/{p.name}": p.read_bytes() for p in (out / DAY).iterdir()} == members


def test_a_member_that_cannot_be_read_stops_every_block(tmp_path):
    with pytest.raises(FileNotFoundError):
        with open(tmp_path / "a.7z", "wb") as fp, \
                ParallelWriter(fp, FILTERS, 3000, threads=3, min_block=1) as w:
            w.add("a", b"x" * 1000, 0.0)
            w.add("b", tmp_path / "missing", 0.0, 1000)
            w.add("c", b"z" * 1000, 0.0)
            w.close()


def test_numbers_and_dictionary_codes_are_7zips():
    from py7zr.archiveinfo import write_uint64

    for value in (0, 127, 128, 0x3FFF, 0x4000, 2**21, 2**35 + 7, 2**56 - 1, 2**56, 2**64 - 1):
        buf = io.BytesIO()
        write_uint64(buf, value)
        assert _number(value) == buf.getvalue(), value
    assert [lzma2_dict_byte(s) for s in (4096, 1 << 20, 3 << 20, 8 << 20, (8 << 20) + 1)] == \
        [0, 16, 19, 22, 23]
    assert block_count(300 << 20, threads=2) == 2 and block_count(10 << 20, threads=8) == 1


def test_archive_day_cuts_a_day_into_blocks_and_adds_late_samples(tmp_path):
    config = make_config(tmp_path, archive_block_mb=0.001)       # ~1 kB blocks
    first = [sample(T0 + 300 * i, {"s1": [f"v{j}" for j in range(i * 7 % 50)]}) for i in range(40)]
    write_samples(config, DAY, first[::2])
    archive_day(config, DAY, log=lambda m: None)
    archive = archive_path(config.archive_dir, DAY)
    with py7zr.SevenZipFile(archive, "r") as z:
        assert z.header.main_streams.unpackinfo.numfolders > 1
    write_samples(config, DAY, first[1::2])                       # late, between the others
    report = archive_day(config, DAY, log=lambda m: None)
    assert report.late_files_added == 20 and report.members == 40
    expected = {f"{s['ts']}.json": orjson.dumps(s) for s in first}
    got: dict[str, bytes] = {}
    stream_archive(archive, got.__setitem__)
    assert got == expected and not (config.samples_dir / DAY).exists()
    verify_archive(archive, read_manifest(manifest_path(config.archive_dir, DAY)))


def test_build_archive_keeps_the_files_modification_times(tmp_path):
    import os

    folder = tmp_path / DAY
    folder.mkdir()
    for i in range(3):
        (folder / f"{T0 + i}.json").write_bytes(b"{}")
        os.utime(folder / f"{T0 + i}.json", (T0 + i, T0 + i))
    target = build_archive(DAY, sorted(folder.glob("*.json")), tmp_path / "a.7z")
    with py7zr.SevenZipFile(target, "r") as z:
        assert [int(i.creationtime.timestamp()) for i in z.list()] == [T0, T0 + 1, T0 + 2]
