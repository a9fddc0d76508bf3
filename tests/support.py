"""Helpers shared by the tests: write sample files, run the day job, read results back."""

from __future__ import annotations

from pathlib import Path

import orjson

from tpdask.settings import Config, resolve
from tpdask.stores import open_store


def make_config(tmp_path: Path, store: str | None = None, **extra) -> Config:
    data = tmp_path / "data"
    return resolve(data_dir=str(data), store=store or f"sqlite:///{data}/tpdask.sqlite", **extra)


def sample(ts: int, streams: dict[str, list], source: str = "sim") -> dict:
    """A contract-v1 sample; streams maps streamer login → chatters list."""
    return {"version": 1, "ts": ts, "source": source,
            "streams": {s: {"user_id": str(i + 1), "viewer_count": len(c) * 3, "title": "t",
                            "game_name": "g", "language": "fr",
                            "started_at": "2022-08-01T00:00:00Z", "chatters": c}
                        for i, (s, c) in enumerate(streams.items())}}


def write_samples(config: Config, day: str, samples: list[dict]) -> Path:
    folder = config.samples_dir / day
    folder.mkdir(parents=True, exist_ok=True)
    for s in samples:
        (folder / f"{s['ts']}.json").write_bytes(orjson.dumps(s))
    return folder


def error_line(result) -> str:
    """The one `error: …` line a failed command printed: the last line of its stderr (progress
    lines may come before it), and no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors and errors == [result.stderr.splitlines()[-1]], result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return errors[0]


def stored_records(config: Config, day: str) -> dict[str, dict]:
    with open_store(config.store) as store:
        return {r["viewer"]: r for r in store.iter_viewer_days(day)}


def stop_processes(procs: list) -> None:
    """Terminate, then kill what has not exited after 10 s (a dask worker whose scheduler
    is gone may keep trying to reconnect)."""
    import subprocess

    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def write_multi_folder_archive(path: Path, members: dict[str, bytes], opens: int = 4) -> Path:
    """A .7z with `opens` 7z folders, as other tools leave them: py7zr mode "w", then "a"
    (opens - 1) times, each open adding every opens-th member (names are archive paths)."""
    import py7zr

    names = sorted(members)
    path.parent.mkdir(parents=True, exist_ok=True)
    for k in range(opens):
        with py7zr.SevenZipFile(path, "w" if k == 0 else "a") as z:
            for name in names[k::opens]:
                z.writestr(members[name], name)
    with py7zr.SevenZipFile(path, "r") as z:
        assert z.header.main_streams.unpackinfo.numfolders == opens
        assert z.testzip() is None
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): nobody has it now."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def make_temp(folder: Path, name: str, pid: int, age: float = 120.0) -> Path:
    """A writer's temp file as tpdask.files.atomic_write names it, `age` seconds old."""
    import os
    import time

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.{pid}.tmp"
    path.write_bytes(b'{"partial')
    then = time.time() - age
    os.utime(path, (then, then))
    return path


class TempHolder:
    """A real second process in the middle of an atomic write: it has written its temp
    `.<name>.<pid>.tmp` in `folder` (120 s old) and renames it to `name` on `finish()`."""

    SCRIPT = """
import os, sys, time
folder, name = sys.argv[1], sys.argv[2]
os.makedirs(folder, exist_ok=True)
tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
with open(tmp, "wb") as f:
    f.write(b'{"held": true}')
os.utime(tmp, (time.time() - 120, time.time() - 120))
print(tmp, flush=True)
sys.stdin.readline()
os.replace(tmp, os.path.join(folder, name))
print("renamed", flush=True)
"""

    def __init__(self, folder: Path, name: str):
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(folder), name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.temp = Path(self.proc.stdout.readline().strip())
        self.final = folder / name

    def finish(self) -> tuple[int, str]:
        """Let it rename its temp; its exit code (0: the temp was still there) and stderr."""
        out, err = self.proc.communicate("go\n", timeout=30)
        return self.proc.returncode, err
