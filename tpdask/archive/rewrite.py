"""Rewriting a day's archive: the one exception to "raw stays raw", for an erasure.

With the archiver's care (:mod:`tpdask.archive.pack`): the archive is first read through
and checked against its manifest, noting the members to change (most days of a viewer's
history hold none: then nothing is written). Otherwise every member is streamed again,
checked again, edited or copied as it is (keeping its time) into a new archive written as
the archiver writes one (a 7z folder per block, :func:`tpdask.archive.pack.archive_writer`)
under the archive's temp name,
with a new manifest under the manifest's temp name; both are fsynced, the new archive is
read back and checked member by member against the new manifest, and only then are both
renamed over the old ones. A crash at any moment leaves the old archive with its manifest,
or the new pair, or the new archive with the new manifest still under its temp name,
which :func:`tpdask.archive.pack.recover` (run first by the archiver and by this) renames
into place. One writer at a time: the archiver's lock on the archive folder is held.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import py7zr

from tpdask.archive.manifest import (DISCARDED, MemberCheck, check_file, dump, new_manifest,
                                     read_manifest, stream_checked, verify_archive)
from tpdask.archive.pack import (ArchivePaths, archive_lock, archive_writer, current_manifest,
                                 member_mtimes, recover)
from tpdask.errors import ArchiveError
from tpdask.files import fsync_dir, fsync_file
from tpdask.log import Log

#: What to do with one member: its new bytes (None: leave it out) and how many entries
#: were removed from it.
Edit = Callable[[str, bytes], tuple[bytes | None, int]]


@dataclass(frozen=True)
class RewriteReport:
    """What one rewrite did to a day's archive."""

    day: str
    rewritten: bool = False      # a new archive and manifest replaced the old ones
    members: int = 0             # members of the archive now
    changed: int = 0             # members edited
    dropped: int = 0             # members left out (unreadable, and holding what is erased)
    removed: int = 0             # entries removed from the edited members


def rewrite_archive(archive_dir: Path, day: str, wanted: Callable[[bytes], bool], edit: Edit,
                    log: Log) -> RewriteReport:
    """Rewrite ``archive/<day>.7z`` with ``edit`` applied to each member ``wanted`` says
    holds something to change; verified against a new manifest before it is swapped in."""
    paths = ArchivePaths.of(archive_dir, day)
    if not paths.archive.exists():
        return RewriteReport(day)
    try:
        with archive_lock(archive_dir):
            try:
                return _rewrite(paths, day, wanted, edit, log)
            finally:
                if paths.tmp_archive.exists():     # not renamed into place: both are waste
                    paths.tmp_archive.unlink()
                    paths.tmp_manifest.unlink(missing_ok=True)
    except (OSError, py7zr.exceptions.ArchiveError) as exc:
        raise ArchiveError(f"cannot rewrite {paths.archive}: {exc}; the archive is as it was: "
                           "fix the cause (disk space) and run the command again") from None


def _rewrite(paths: ArchivePaths, day: str, wanted: Callable[[bytes], bool], edit: Edit,
             log: Log) -> RewriteReport:
    recover(paths, log)
    old = current_manifest(paths, day, log)
    check_file(paths.archive, old)
    hits: set[str] = set()
    check = MemberCheck(paths.archive, old)

    def scan(name: str, data: bytes) -> None:
        check(name, data)
        if wanted(data):
            hits.add(name)

    stream_checked(paths.archive, scan)
    check.finish()
    if not hits:
        return RewriteReport(day, members=len(old["files"]))
    counts = {"changed": 0, "dropped": 0, "removed": 0}
    again = MemberCheck(paths.archive, old)
    mtimes = member_mtimes(paths.archive)
    total = sum(f["size"] for f in old["files"])
    with archive_writer(paths.tmp_archive, total) as writer:
        def copy(name: str, data: bytes) -> None:
            again(name, data)
            if name in hits:
                new, removed = edit(name, data)
                counts["removed"] += removed
                if new is None:
                    counts["dropped"] += 1
                    return
                if new != data:
                    counts["changed"] += 1
                data = new
            writer.add(f"{day}/{name}", data, mtimes.get(name, time.time()))

        stream_checked(paths.archive, copy)
        again.finish()
        files = [{"name": Path(w.name).name, "size": w.size, "sha256": w.sha256}
                 for w in writer.close()]
    fsync_file(paths.tmp_archive)
    manifest = new_manifest(day, paths.tmp_archive, files)
    paths.tmp_manifest.write_bytes(dump(manifest))
    fsync_file(paths.tmp_manifest)
    verify_archive(paths.tmp_archive, read_manifest(paths.tmp_manifest), DISCARDED)
    os.replace(paths.tmp_archive, paths.archive)
    os.replace(paths.tmp_manifest, paths.manifest)
    fsync_dir(paths.archive.parent)
    return RewriteReport(day, rewritten=True, members=len(files), **counts)
