"""Who may read the data folder: its owner only.

Viewer logins are personal data, and under the usual umask (022) a new folder is 0755 and a
new file 0644: readable by every user of the machine. So every command that writes the
data folder starts with :func:`secure_data_dir`:

- the process's umask becomes 077, so whatever it (and the Dask workers it starts, which
  inherit it) creates — samples, archives, Parquet parts, the SQLite store and its WAL,
  reports — is 0600, and its folders 0700, whatever umask the command was started with;
- the data folder and its usual subfolders are created 0700 (``os.makedirs`` with a mode,
  then ``chmod``, since the mode given to mkdir is itself masked);
- what an earlier run left open to others is tightened (folders to 0700, files to
  0600), once per process, with one note line in the command's output.

Workers on other machines (``--scheduler``) run under their own umask: their units set
``UMask=0077`` (cluster/systemd/).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tpdask.files import atomic_write

PRIVATE_UMASK = 0o077
SUBFOLDERS = ("samples", "archive", "lake", "quarantine", "tmp", "privacy", "reports")

_tightened: set[str] = set()     # data folders already walked by this process


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and its missing parents) 0700 whatever the umask; a folder that
    exists with group or other permissions is tightened to 0700."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for created in [*missing, path]:
        _chmod_private(created, 0o700)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``path`` atomically, mode 0600 whatever the umask, in a 0700 folder."""
    make_private_dir(path.parent)
    atomic_write(path, data)
    os.chmod(path, 0o600)
    return path


def private_file(path: Path) -> None:
    """Make an existing file (and a SQLite file's -wal and -shm) 0600; best effort."""
    for one in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _chmod_private(one, 0o600)


def _chmod_private(path: Path, mode: int) -> bool:
    """chmod ``path`` to ``mode`` when it grants group or others anything; True if done."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_IMODE(info.st_mode) & 0o077:
            return False
        os.chmod(path, mode)
        return True
    except (FileNotFoundError, PermissionError):
        return False


def tighten(folder: Path) -> tuple[int, int]:
    """Folders under ``folder`` (itself included) made 0700 and files 0600 when they were
    open to group or others; symlinks are not followed. Returns (folders, files) changed."""
    folders = files = 0
    if _chmod_private(folder, 0o700):
        folders += 1
    for root, dirs, names in os.walk(folder):
        for name in dirs:
            folders += _chmod_private(Path(root) / name, 0o700)
        for name in names:
            files += _chmod_private(Path(root) / name, 0o600)
    return folders, files


def secure_data_dir(data_dir: Path, store_file: Path | None = None,
                    log=None) -> tuple[int, int]:
    """Start a writing command: umask 077, the data folder and its subfolders 0700, and
    what is open to others tightened (once per process), saying so in one line.

    ``store_file`` is the SQLite store when it lives outside the data folder. Returns the
    (folders, files) tightened by this call.
    """
    os.umask(PRIVATE_UMASK)
    data_dir = Path(data_dir)
    existed = data_dir.exists()
    make_private_dir(data_dir)
    for name in SUBFOLDERS:
        make_private_dir(data_dir / name)
    key = str(data_dir)
    if key in _tightened or not existed:
        _tightened.add(key)
        return 0, 0
    _tightened.add(key)
    folders, files = tighten(data_dir)
    if store_file is not None and data_dir not in store_file.parents and store_file.exists():
        before = stat.S_IMODE(store_file.stat().st_mode)
        private_file(store_file)
        files += bool(before & 0o077)
    if (folders or files) and log is not None:
        log(f"note: {data_dir} was readable by other users: {folders} folders made 0700 and "
            f"{files} files made 0600 (viewer logins are personal data)")
    return folders, files
