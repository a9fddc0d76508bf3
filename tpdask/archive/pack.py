"""Day archives: data/archive/<day>.7z, the immutable raw record of a day, and the archiver.

Members are `<day>/<ts>.json`, sorted by name, compressed with :data:`FILTERS` (LZMA2) in
one block per core, each block a 7z folder compressed on its own thread
(:mod:`tpdask.archive.sevenz`): a scale-1 day (298 MB of JSON) packs to ~13 % and is read
back in ~2 CPU-s by the day job (docs/benchmarks.md).

Why the archiver is careful: the raw samples are the only record of a day that cannot be
re-collected, and `archive_day` deletes them. So the archive and its manifest
(`<day>.manifest.json`: every member's size and sha256) are written under temporary
names, fsynced, read back and checked member by member, and only then renamed into
place; a raw file is deleted only when the verified manifest holds its exact bytes (same
name, same sha256), and only the very file whose bytes were hashed: one replaced or
rewritten by a writer meanwhile is kept for the next run (`_delete_if_archived`). A
crash at any moment leaves the raw files, a verified archive, or both, and the next run
finishes the job; running it again is harmless. Files whose names are not sample names
(`<ts>.json`) are moved to quarantine/<day>/ first, and temp files of dead writers removed. Late samples
(loose files of an archived day) go into a new archive holding the old members plus them,
which replaces the old one the same way. A loose file whose name is archived with other
bytes is a conflict: kept and reported, never archived over the original.

Test hook: with TPDASK_FAULT_ARCHIVE_STEP=<step> in the environment the process exits
with `os._exit(137)` right after that step, to test crash safety. Steps, in order:
"written" (temp archive fsynced), "manifest" (temp manifest fsynced), "verified" (temp
archive checked against it), "renamed" (both at their final names) and "deleted-one"
(the first raw file deleted).
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import py7zr

from tpdask.archive.loose import (CHANGED, DELETED, DIFFERS, delete_archived, loose_names,
                                  remove_if_empty, tidy_folder)
from tpdask.archive.manifest import (DISCARDED, MemberCheck, check_file, dump, manifest_path,
                                     member_entry, new_manifest, read_manifest, stream_checked,
                                     verify_archive)
from tpdask.archive.members import archive_path
from tpdask.archive.sevenz import MIN_BLOCK_BYTES, ParallelWriter
from tpdask.errors import ArchiveError
from tpdask.files import atomic_file, atomic_write, fsync_dir, fsync_file, temp_path, temps_of
from tpdask.log import Log, count_row, print_log, progress
from tpdask.privacy.modes import secure_data_dir
from tpdask.settings import Config, sqlite_path

#: LZMA2, fast mode, hash-chain match finder walking up to 24 candidates, 8 MiB dictionary.
#: Consecutive samples of a channel list mostly the same logins, one sample (up to ~3 MB at
#: the peak) apart. A binary tree (bt4, the settings before) finds those repeats best but
#: updates its tree at every byte, also inside the long matches it skips; a hash chain
#: only inserts a hash there, and must walk back through every other channel's logins of
#: the same first bytes to reach the previous sample's. Whole scale-1 day, one stream,
#: measured in one batch (docs/benchmarks.md): bt4 normal 23.4 MB in 96 CPU-s, read in
#: 1.3 CPU-s; these 38.3 MB in 51, read in 1.9; depth 48 (nice_len 273) 28.9 MB in 77;
#: preset 1 96 MB, read in 7.5. The archiver runs before the day job in the nightly chain
#: (≤ 120 s on 2 cores for all of it), so its CPU-seconds count; the day is cut into one
#: block per core (archive_block_mb). Any 7-Zip reads it: only the dictionary size is
#: stored, the rest is how the encoder searches.
FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 1, "mode": lzma.MODE_FAST, "mf": lzma.MF_HC4,
            "nice_len": 128, "depth": 24, "dict_size": 8 << 20}]
FAULT_ENV = "TPDASK_FAULT_ARCHIVE_STEP"


def filters_tag() -> str:
    """A short name of :data:`FILTERS`: benchmarks cache their archives under it, so a
    change of settings builds them again."""
    return hashlib.sha256(repr(FILTERS).encode()).hexdigest()[:8]


def build_archive(day: str, files: list[Path], target: Path, threads: int | None = None,
                  min_block: int = MIN_BLOCK_BYTES) -> Path:
    """Write `files` into a new archive at `target`, atomically (temp name, fsync, rename),
    with :data:`FILTERS`, on `threads` threads (default: every core), in blocks of at least
    `min_block` bytes (as :func:`archive_day` writes its archives)."""
    files = sorted(files, key=lambda p: p.name)
    total = sum(p.stat().st_size for p in files)
    try:
        with atomic_file(target) as tmp, archive_writer(tmp, total, threads, min_block) as writer:
            for path in files:
                writer.add(f"{day}/{path.name}", path, *_mtime_size(path))
            writer.close()
    except (OSError, lzma.LZMAError) as exc:
        raise ArchiveError(f"cannot write archive {target}: {exc}") from None
    return target


@contextmanager
def archive_writer(path: Path, total_bytes: int, threads: int | None = None,
                   min_block: int = MIN_BLOCK_BYTES) -> Iterator[ParallelWriter]:
    """A :class:`ParallelWriter` with the archive's settings into a new file at `path`."""
    with open(path, "wb") as fp, ParallelWriter(fp, FILTERS, total_bytes, threads,
                                                min_block) as writer:
        yield writer


def _mtime_size(path: Path) -> tuple[float, int]:
    st = path.stat()
    return st.st_mtime, st.st_size


@dataclass(frozen=True)
class ArchiveReport:
    """What one `archive_day` run did."""

    day: str
    archive: str
    files_archived: int = 0        # raw files written into the archive by this run
    late_files_added: int = 0      # of those, files added to an archive that already existed
    already_archived: int = 0      # loose copies of archived members (same sha256), deleted
    conflicts: tuple[str, ...] = ()    # loose files archived under their name with other bytes
    changed: tuple[str, ...] = ()      # loose files rewritten while this run checked them: kept
    quarantined: tuple[str, ...] = ()  # loose files moved to quarantine/<day>/ (odd names)
    members: int = 0               # members in the archive now
    bytes_raw: int = 0             # size of the raw files archived by this run
    bytes_archived: int = 0        # size of the archive now
    seconds: float = 0.0

    def text(self) -> str:
        if not self.members:
            return "\n".join([f"day {self.day}: no samples to archive"] + self._kept_lines())
        lines = [f"day {self.day}: {self.archive} holds {self.members} samples "
                 f"({self.bytes_archived:,} bytes), done in {self.seconds} s"]
        for key in ("files_archived", "late_files_added", "already_archived", "bytes_raw"):
            lines.append(count_row(key, getattr(self, key)))
        lines.append(count_row("conflicts", len(self.conflicts)))
        lines += [f"  conflict: {name} is archived with other bytes; kept in samples/{self.day}/"
                  for name in self.conflicts]
        return "\n".join(lines + self._kept_lines())

    def _kept_lines(self) -> list[str]:
        lines = [f"  changed: {name} was rewritten while being archived; kept for the next run"
                 for name in self.changed]
        if self.quarantined:
            lines.append(count_row("quarantined", len(self.quarantined)))
        lines += [f"  quarantined: {name} is not a sample file name; moved to "
                  f"quarantine/{self.day}/ with its reason" for name in self.quarantined]
        return lines


@dataclass(frozen=True)
class ArchivePaths:
    archive: Path
    manifest: Path
    tmp_archive: Path
    tmp_manifest: Path

    @classmethod
    def of(cls, archive_dir: Path, day: str) -> "ArchivePaths":
        final = archive_path(archive_dir, day)
        manifest = manifest_path(archive_dir, day)
        return cls(final, manifest, temp_path(final), temp_path(manifest))


def archive_day(config: Config, day: str, log: Log = print_log) -> ArchiveReport:
    """Move the day's loose samples into archive/<day>.7z, verified before any raw file goes."""
    started = time.time()
    folder = config.samples_dir / day
    paths = ArchivePaths.of(config.archive_dir, day)
    try:
        secure_data_dir(config.data_dir, sqlite_path(config.store), log)
        config.archive_dir.mkdir(parents=True, exist_ok=True)
        with archive_lock(config.archive_dir):
            try:
                report = _archive(paths, day, folder, config, log)
            finally:
                if paths.tmp_archive.exists():    # not renamed into place: both temps are waste
                    paths.tmp_archive.unlink()
                    paths.tmp_manifest.unlink(missing_ok=True)
    except (OSError, py7zr.exceptions.ArchiveError) as exc:
        raise ArchiveError(f"cannot archive {day}: {exc}; the raw samples in {folder} are kept: "
                           f"fix the cause (disk space, permissions) and run "
                           f"`tpdask archive --day {day}` again") from None
    return replace(report, seconds=round(time.time() - started, 2))


def _archive(paths: ArchivePaths, day: str, folder: Path, config: Config,
             log: Log) -> ArchiveReport:
    quarantine_dir = config.quarantine_dir
    recover(paths, log)
    quarantined = tidy_folder(folder, quarantine_dir, day, log)
    loose = loose_names(folder)
    old = current_manifest(paths, day, log) if paths.archive.exists() else None
    archived = {f["name"] for f in old["files"]} if old is not None else set()
    new = [name for name in loose if name not in archived]
    manifest = old
    if new:
        log(f"archiving {len(new)} new sample files of {day} into {paths.archive}")
        manifest = _write_verified(paths, day, folder, new, old, config.archive_block_mb, log)
    elif loose and old:
        with _checking(log, paths.archive, old) as bar:   # before deleting its loose copies
            verify_archive(paths.archive, old, bar=bar)
    if manifest is None:
        log(f"no samples of {day} to archive in {folder}")
        remove_if_empty(folder)
        return ArchiveReport(day=day, archive=str(paths.archive), quarantined=quarantined)
    outcome = delete_archived(folder, loose, manifest, quarantine_dir, day, log,
                              on_first_delete=lambda: _step("deleted-one"))
    deleted = {name for name, what in outcome.items() if what == DELETED}
    conflicts = tuple(name for name, what in outcome.items() if what == DIFFERS)
    changed = tuple(name for name, what in outcome.items() if what == CHANGED)
    for name in conflicts:
        log(f"conflict: {folder / name} differs from the archived member of the same name; "
            "kept: compare the two and delete the wrong one")
    for name in changed:
        log(f"{folder / name} was rewritten while being archived: kept for the next run")
    added = set(new)
    return ArchiveReport(
        day=day, archive=str(paths.archive), files_archived=len(new),
        late_files_added=len(new) if old is not None else 0, already_archived=len(deleted - added),
        conflicts=conflicts, changed=changed, quarantined=quarantined,
        members=len(manifest["files"]),
        bytes_raw=sum(f["size"] for f in manifest["files"] if f["name"] in added),
        bytes_archived=manifest["archive_size"])


def current_manifest(paths: ArchivePaths, day: str, log: Log) -> dict:
    """The archive's manifest; rebuilt from the archive itself when it has none."""
    if paths.manifest.exists():
        manifest = read_manifest(paths.manifest)
        if paths.archive.stat().st_size != manifest.get("archive_size"):
            check_file(paths.archive, manifest)     # raises with the operator's options
        return manifest
    log(f"{paths.archive} has no manifest: rebuilding it from the archive's members")
    files: list[dict] = []
    stream_checked(paths.archive, lambda name, data: files.append(member_entry(name, data)))
    manifest = new_manifest(day, paths.archive, files)
    atomic_write(paths.manifest, dump(manifest))
    return manifest


# ---- the steps ----------------------------------------------------------------------------

def recover(paths: ArchivePaths, log: Log) -> None:
    """Finish or undo what a crashed run left: temp files, or a manifest not yet renamed.

    A dead archiver's temps carry its pid; this one holds the archive lock, so every
    temp of the archive or its manifest is a dead run's.
    """
    for pending in temps_of(paths.manifest):
        if not paths.archive.exists():
            break
        try:
            check_file(paths.archive, read_manifest(pending))
        except ArchiveError:
            continue                                   # describes a temp archive: stale
        os.replace(pending, paths.manifest)
        log(f"finished an interrupted run: {paths.manifest} renamed into place")
    for tmp in temps_of(paths.archive) + temps_of(paths.manifest):
        tmp.unlink(missing_ok=True)
    fsync_dir(paths.archive.parent)


def _write_verified(paths: ArchivePaths, day: str, folder: Path, new: list[str],
                    old: dict | None, block_mb: float, log: Log) -> dict:
    """Old members (streamed, checked) plus the new files, sorted by name, into the archive.

    Progress: the bytes handed to the writer, then the bytes read back and checked."""
    pending = iter(sorted(new))
    next_new = next(pending, None)
    sizes = {name: _mtime_size(folder / name) for name in new}
    total = sum(size for _, size in sizes.values())
    if old is not None:
        check_file(paths.archive, old)
        mtimes = member_mtimes(paths.archive)
        total += sum(f["size"] for f in old["files"])
    with archive_writer(paths.tmp_archive, total, min_block=int(block_mb * 2**20)) as writer, \
            progress(log, f"write {paths.archive.name}", total, "B") as bar:
        def add_new_before(name: str | None) -> None:
            nonlocal next_new
            while next_new is not None and (name is None or next_new < name):
                writer.add(f"{day}/{next_new}", folder / next_new, *sizes[next_new])
                bar.update(sizes[next_new][1])
                next_new = next(pending, None)

        if old is not None:
            check = MemberCheck(paths.archive, old)

            def copy(name: str, data: bytes) -> None:
                check(name, data)
                add_new_before(name)
                writer.add(f"{day}/{name}", data, mtimes.get(name, time.time()))
                bar.update(len(data))

            stream_checked(paths.archive, copy)
            check.finish()
        add_new_before(None)
        files = [{"name": Path(w.name).name, "size": w.size, "sha256": w.sha256}
                 for w in writer.close()]
    fsync_file(paths.tmp_archive)
    _step("written")
    manifest = new_manifest(day, paths.tmp_archive, files)
    paths.tmp_manifest.write_bytes(dump(manifest))
    fsync_file(paths.tmp_manifest)
    _step("manifest")
    with _checking(log, paths.archive, manifest) as bar:
        verify_archive(paths.tmp_archive, read_manifest(paths.tmp_manifest), DISCARDED, bar)
    _step("verified")
    os.replace(paths.tmp_archive, paths.archive)
    os.replace(paths.tmp_manifest, paths.manifest)
    fsync_dir(paths.archive.parent)
    _step("renamed")
    return manifest


# ---- small helpers --------------------------------------------------------------------------

def _checking(log: Log, archive: Path, manifest: dict):
    """The progress of reading ``archive`` back against ``manifest``: its members' bytes."""
    return progress(log, f"check {archive.name}", sum(f["size"] for f in manifest["files"]), "B")


def member_mtimes(archive: Path) -> dict[str, float]:
    """Each member's modification time in `archive`, by file name, to keep them."""
    with py7zr.SevenZipFile(archive, "r") as z:
        return {Path(i.filename).name: i.creationtime.timestamp() for i in z.list()
                if i.creationtime is not None}


def _step(name: str) -> None:
    """The test hook: die right after step `name` when TPDASK_FAULT_ARCHIVE_STEP says so."""
    if os.environ.get(FAULT_ENV) == name:
        os._exit(137)


@contextmanager
def archive_lock(directory: Path) -> Iterator[None]:
    """One archiver at a time per data folder (they share fixed temp names)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
