"""Which jobs of a data folder are running now, and where their Dask dashboard is.

A job on Dask announces itself with a small JSON file ``<data_dir>/tmp/running/<pid>.json``
(job, dashboard link, pid, start) for as long as its cluster runs, and removes it at the
end. The website reads these files to link the dashboard of a job *of its own data
folder* — probing a port would also find another folder's job, or any other program
there, and miss a cluster whose dashboard moved to another port. A file whose process is
gone (a job killed with SIGKILL) is ignored and removed by the next announcement.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from tpdask.files import atomic_write, pid_alive


def new_run_id(started: float) -> str:
    """A job run's id, ``<unix start>-<pid>-<random>``: sorted by start, and unique even for
    two runs started in one second by one process (a local run, then at once a Dask run)."""
    return f"{int(started)}-{os.getpid()}-{secrets.token_hex(3)}"


def running_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tmp" / "running"


@contextmanager
def announce(folder: Path, job: str, dashboard: str | None) -> Iterator[None]:
    """Mark ``job`` as running (with its dashboard link) in ``folder`` while the block runs."""
    folder.mkdir(parents=True, exist_ok=True)
    _remove_dead(folder)
    path = atomic_write(folder / f"{os.getpid()}.json",
                        orjson.dumps({"job": job, "dashboard": dashboard, "pid": os.getpid(),
                                      "started_at": time.time()}), durable=False)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def running_jobs(folder: Path) -> list[dict[str, Any]]:
    """The announced jobs whose process is alive, oldest first."""
    jobs = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            entry = orjson.loads(path.read_bytes())
            alive = pid_alive(int(entry["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written or removed right now, or not ours
        if alive:
            jobs.append(entry)
    return sorted(jobs, key=lambda e: e.get("started_at", 0))


def _remove_dead(folder: Path) -> None:
    for path in folder.glob("*.json"):
        stem = path.stem
        if stem.isdigit() and not pid_alive(int(stem)):
            path.unlink(missing_ok=True)
