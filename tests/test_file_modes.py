"""The data folder is its owner's alone (issue 19, item 6): started under umask 022, the
commands create the data folder, its subfolders and the SQLite store 0700/0600 and every
file in them 0600; a folder an earlier version left readable is tightened by the next run,
with one note line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"


def tpdask(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(data), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=600, preexec_fn=lambda: os.umask(0o022))


def open_to_others(folder: Path) -> list[str]:
    found = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if mode & 0o077 or (path.is_dir() and mode != 0o700) or (path.is_file() and mode != 0o600):
            found.append(f"{path} {oct(mode)}")
    return found


def test_every_stage_creates_what_only_its_owner_may_read(tmp_path):
    data = tmp_path / "data"
    for args in (["collect", "--source", "sim", "--speed", "6000", "--start", "1659348000",
                  "--ticks", "3"],
                 ["archive", "--day", DAY], ["process", "--day", DAY, "--local"],
                 ["analyse", "--day", DAY, "--local"],
                 ["export", "viewer_days", "--day", DAY, "--out", str(data / "x.jsonl")]):
        result = tpdask(data, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "readable by other users" not in result.stderr
    assert (data / "tpdask.sqlite").exists() and list(data.rglob("*.parquet"))
    assert list(data.rglob("*.7z")) and open_to_others(data) == []


def test_an_open_folder_is_tightened_by_the_next_run_with_a_note(tmp_path):
    data = tmp_path / "data"
    folder = data / "samples" / DAY
    folder.mkdir(parents=True)
    (folder / "1659348000.json").write_text('{"version": 1, "ts": 1659348000, "streams": {}}')
    for path in (data, data / "samples", folder):
        path.chmod(0o755)
    (folder / "1659348000.json").chmod(0o644)
    result = tpdask(data, "archive", "--day", DAY)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "readable by other users" in line]
    assert len(notes) == 1 and "0700" in notes[0] and "0600" in notes[0]
    assert open_to_others(data) == []
    again = tpdask(data, "archive", "--day", DAY)
    assert "readable by other users" not in again.stderr
