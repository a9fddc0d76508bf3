"""Which jobs of a data folder are running now, and where their Dask dashboard is.

A job on Dask announces itself with a small JSON file ``<data_dir>/tmp/running/<pid>.json``
(job, dashboard link, pid, start) for as long as its cluster runs, and removes it at the
end. The website reads these files to link the dashboard of a job *of its own data
folder* — probing a port would also find another folder's job, or any other program
there, and miss a cluster whose dashboard moved to another port. A file whose process is
gone (a job killed with SIGKILL) is ignored and removed by the next announcement.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson

from tpdask.errors import JobError
from tpdask.files import atomic_write, pid_alive, try_lock


def new_run_id(started: float) -> str:
    """A job run's id, ``<unix start>-<pid>-<random>``: sorted by start, and unique even for
    two runs started in one second by one process (a local run, then at once a Dask run)."""
    return f"{int(started)}-{os.getpid()}-{secrets.token_hex(3)}"


#: What each job that holds a day is doing to it, for the message the next one gets.
_DOING = {"process": "processed by {pid}", "analyse": "analysed by {pid}",
          "nightly": "run through `tpdask nightly` ({pid})",
          "erase": "cleaned by `tpdask erase` ({pid})", "prune": "pruned by {pid}"}

#: Jobs whose stages run inside them: a day such a job holds in this thread is held for
#: the stages it runs too (they would otherwise refuse the job's own lock).
_CHAINS = ("nightly",)
_held_by_chain: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "tpdask_days_held_by_chain", default=frozenset())


def day_lock_path(scratch_dir: Path, day: str) -> Path:
    return Path(scratch_dir) / f"process-{day}.lock"


@contextmanager
def hold_days(scratch_dir: Path, days: Iterable[str], job: str) -> Iterator[None]:
    """Hold each of ``days`` for ``job`` (process, analyse) while the block runs.

    A day's lock is an flock on ``tmp/process-<day>.lock`` (:func:`tpdask.files.try_lock`):
    the kernel drops it when its holder dies, so a killed job never leaves it behind. A day
    another job holds is refused at once with a JobError naming that job and its pid.
    """
    chain = _held_by_chain.get()
    with ExitStack() as stack:
        for day in sorted(set(days)):
            path = str(day_lock_path(scratch_dir, day))
            if path in chain:
                continue                   # the chain this stage runs in holds it already
            f = stack.enter_context(try_lock(day_lock_path(scratch_dir, day)))
            if f is None:
                raise JobError(f"day {day} is being {_holder(scratch_dir, day)}; wait for it "
                               f"to finish (or stop it) and run {job} again")
            f.seek(0)
            f.truncate()
            f.write(f"{job}\npid {os.getpid()}\n")
            f.flush()
            if job in _CHAINS:
                chain = chain | {path}
        token = _held_by_chain.set(chain)
        try:
            yield
        finally:
            _held_by_chain.reset(token)


def _holder(scratch_dir: Path, day: str) -> str:
    """"processed by pid 12" (what the lock file says), as best it can be read."""
    try:
        lines = day_lock_path(scratch_dir, day).read_text().split("\n")
    except OSError:
        lines = []
    job = lines[0].strip() if lines else ""
    pid = next((line.strip() for line in lines if line.startswith("pid ")), "")
    return _DOING.get(job, "used by {pid}").format(pid=pid or "another process")


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
