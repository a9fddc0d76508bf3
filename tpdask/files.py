"""Writing files so that a crash at any moment leaves the whole file or none of it."""

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


def atomic_write(path: Path, data: bytes, sync_dir: bool = True) -> Path:
    """Write to a temp name in the same folder, fsync, rename over `path`, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)
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
