"""Writing files so that a crash at any moment leaves the whole file or none of it.

Every file tpdask writes in place goes through :func:`atomic_file` (or
:func:`atomic_write` for bytes at hand): it is written under one temp name,
``.<name>.<pid>.tmp`` in the same folder, then renamed over its final name. One naming
scheme means one cleanup: :func:`remove_stale_temps` recognises the temps of dead writers
wherever they are, and no reader's glob (``*.json``, ``part-*.parquet``, ``*.arrow``)
ever matches a temp.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TEMP_NAME = re.compile(r"\.(.+)\.([0-9]{1,10})\.tmp")  # atomic_write's `.<name>.<pid>.tmp`
STALE_TEMP_SECONDS = 3600       # a temp this old is a dead writer's, whatever its pid says
TEMP_GRACE_SECONDS = 60         # a younger one is left alone even when its pid looks dead


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def temp_path(path: Path) -> Path:
    """The name `path` is written under before it is renamed into place: ``.<name>.<pid>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def temps_of(path: Path) -> list[Path]:
    """The temps of `path` any writer left (:func:`temp_path`, whatever its pid)."""
    if not path.parent.is_dir():
        return []
    found = ((p, TEMP_NAME.fullmatch(p.name)) for p in path.parent.glob(f".{path.name}.*.tmp"))
    return sorted(p for p, match in found if match is not None and match.group(1) == path.name)


@contextmanager
def atomic_file(path: Path, durable: bool = True, parents: bool = True) -> Iterator[Path]:
    """Yield the temp path to write `path` under; when the block ends, rename it over `path`.

    ``durable``: fsync the file before the rename and the folder after, so that a power cut
    leaves the old file or the new one (scratch files of a run, discarded with it after a
    crash, skip both). ``parents``: make the missing folders of `path` first; without it a
    missing folder is an error (an export's ``--out`` must name a folder that exists). If
    the block raises, the temp is removed and nothing is renamed.
    """
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.unlink(missing_ok=True)              # left by a killed writer with this pid
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> Path:
    """Write `data` to `path` through :func:`atomic_file`."""
    with atomic_file(path, durable) as tmp:
        tmp.write_bytes(data)
    return path


@contextmanager
def try_lock(path: Path) -> Iterator[IO[str] | None]:
    """Hold an exclusive flock on ``path`` (created if missing), or yield None when another
    process holds it. The kernel drops the lock when its holder dies, so a killed run never
    leaves it behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield f


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (zombies count as alive)."""
    if pid <= 0:
        return True                 # 0 and negatives name process groups: never "dead"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temps(folder: Path, now: float | None = None) -> list[str]:
    """Remove the temp files that dead writers left in `folder`; return their names.

    A temp is `.<name>.<pid>.tmp` (tpdask.files.atomic_write). It is stale when its
    writer is gone — no process has its pid — and it is more than TEMP_GRACE_SECONDS old
    (a writer on another machine sharing the folder would have another pid space), or
    when it is more than STALE_TEMP_SECONDS old whatever its pid says (the pid was
    reused), or an older `.<…>.tmp` without a pid that old. A temp of a live writer is
    never touched, so a collector, import_tmi and the archiver may start at any time
    while the others write.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue                                  # renamed into place meanwhile
        if not stat.S_ISREG(info.st_mode):
            continue
        age = now - info.st_mtime
        match = TEMP_NAME.fullmatch(name)
        dead = match is not None and not pid_alive(int(match.group(2)))
        if age > STALE_TEMP_SECONDS or (dead and age > TEMP_GRACE_SECONDS):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed
