"""The loose sample files of a day's folder, around archiving: tidying the folder before
(what killed writers and archivers left, names that are not sample names), and deleting
a raw file only when the verified manifest holds its very bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable

from tpdask.archive.manifest import file_sha256
from tpdask.files import fsync_dir, remove_stale_temps
from tpdask.log import Log
from tpdask.samples import is_sample_name, quarantine_file, safe_file_name

DELETED, DIFFERS, CHANGED, GONE = "deleted", "differs", "changed", "gone"


def delete_archived(folder: Path, loose: list[str], manifest: dict, quarantine_dir: Path,
                    day: str, log: Log, on_first_delete: Callable[[], None] = lambda: None
                    ) -> dict[str, str]:
    """Delete each loose file whose exact bytes the verified manifest holds.

    Returns what became of each loose name: deleted, differs (a conflict), changed (rewritten
    while being checked: kept for the next run), gone (someone else removed it).
    """
    archived = {f["name"]: f["sha256"] for f in manifest["files"]}
    outcome: dict[str, str] = {}
    first = True
    for name in loose:
        outcome[name] = _delete_if_archived(folder / name, archived.get(name),
                                            quarantine_dir, day, log)
        if outcome[name] == DELETED and first:
            first = False
            on_first_delete()
    if folder.is_dir():
        fsync_dir(folder)
        remove_if_empty(folder)
    return outcome


def _delete_if_archived(path: Path, sha256: str | None, quarantine_dir: Path, day: str,
                        log: Log) -> str:
    """Delete `path` only if the bytes under that name now are the archived ones.

    Writers replace a sample by renaming a new file over it (a new inode), or rewrite it in
    place (a new mtime). So the file is opened once, hashed from that descriptor and
    fstat'ed; then it is renamed to a private name, `.<name>.archiving.<pid>`, which no
    writer uses, and unlinked only if that is still the very file that was hashed (same
    device, inode, size and mtime_ns). If a writer replaced it in between, the private file
    is the newer version: it is put back under its name with os.link, which fails rather
    than overwrite a yet newer one; then the private file goes to the quarantine, nothing
    lost. A crash in between leaves the private name; the next run puts it back
    (`tidy_folder`).
    """
    if sha256 is None:
        return DIFFERS
    try:
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            after = os.fstat(f.fileno())
    except FileNotFoundError:
        return GONE
    if _identity(before) != _identity(after):
        return CHANGED                       # written to while it was being read
    if digest != sha256:
        return DIFFERS
    private = _private_name(path)
    try:
        os.rename(path, private)
    except FileNotFoundError:
        return GONE
    if _identity(os.stat(private)) == _identity(before):
        os.unlink(private)
        return DELETED
    _put_back(private, path, quarantine_dir, day, log)
    return CHANGED


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


PRIVATE_NAME = re.compile(r"\.(.+)\.archiving\.([0-9]+)")


def _private_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.archiving.{os.getpid()}")


def _put_back(private: Path, path: Path, quarantine_dir: Path, day: str, log: Log) -> None:
    """Give `private` its name `path` back, unless another file took the name meanwhile:
    then `private` is deleted if it holds the same bytes, else kept in the quarantine."""
    try:
        os.link(private, path, follow_symlinks=False)   # never over an existing file
    except FileExistsError:
        if _same_bytes(private, path):
            os.unlink(private)
            return
        kept = quarantine_file(quarantine_dir, day, private,
                               f"a version of {path.name} the archiver had set aside (it was "
                               f"rewritten while being checked, or the archiver was killed) "
                               f"while another file took its name in samples/{day}/. Compare "
                               f"the two and keep the right one there")
        log(f"{path} was replaced while the archiver held an older version, which is kept "
            f"as {kept}")
        return
    except OSError:                           # a file system without hard links
        if path.exists():
            raise
        os.rename(private, path)
        return
    os.unlink(private)


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return file_sha256(a) == file_sha256(b)
    except FileNotFoundError:
        return False


def tidy_folder(folder: Path, quarantine_dir: Path, day: str, log: Log) -> tuple[str, ...]:
    """Before archiving: put back what a killed archiver left under a private name, remove
    temp files of dead writers, and quarantine files whose names are not sample names.

    Returns the (safe, printable) names of the files quarantined.
    """
    if not folder.is_dir():
        return ()
    if removed := remove_stale_temps(folder):
        log(f"removed {len(removed)} temp file(s) a killed writer left in {folder}")
    quarantined: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name, path = entry.name, folder / entry.name
        if match := PRIVATE_NAME.fullmatch(name):
            # only an archiver holds that name, and this one holds the lock: a dead one's
            log(f"{name} was left by a killed archiver: putting it back as {match.group(1)}")
            _put_back(path, folder / match.group(1), quarantine_dir, day, log)
        elif name.startswith(".") or not entry.is_file():
            continue                          # a writer's temp file, or not a file at all
        elif not is_sample_name(name):
            shown = safe_file_name(name)
            quarantine_file(
                quarantine_dir, day, path,
                f"{name!r} is not a sample file name (<unix ts>.json, as the collector and "
                f"import_tmi write them), so it cannot be archived; moved here so that the "
                f"rest of {day} could be. If it is a sample, give it its <ts>.json name and "
                f"put it back in samples/{day}/, then run `tpdask archive --day {day}`")
            log(f"quarantined {shown}: not a sample file name")
            quarantined.append(shown)
    return tuple(quarantined)


def remove_if_empty(folder: Path) -> None:
    """Remove the day folder once empty; a writer may be putting a file in it right now."""
    try:
        folder.rmdir()
    except OSError:                           # not empty, or already gone
        return
    fsync_dir(folder.parent)


def loose_names(folder: Path) -> list[str]:
    """The day's raw sample files: `<ts>.json` files (`tidy_folder` moved the others away)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_sample_name(p.name) and p.is_file())



