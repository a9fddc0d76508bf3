"""Day archives: data/archive/<day>.7z, the immutable raw record of a day, and the archiver.

Members are `<day>/<ts>.json`. LZMA2 at preset 1: on this project's samples it packs to
about 13 % of the JSON at ~24 MB/s and streams back at ~100 MB/s; presets above 3 cost
4-10× the time for a few percent.

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

import datetime as dt
import fcntl
import hashlib
import lzma
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import orjson
import py7zr

from tpdask.files import fsync_dir
from tpdask.errors import ArchiveError
from tpdask.log import Log, count_row, print_log
from tpdask.samples import (archive_path, is_sample_name, quarantine_file, remove_stale_temps,
                            safe_file_name, stream_archive)
from tpdask.settings import Config

#: LZMA2 with 7-Zip's "normal" search (binary-tree match finder) and an 8 MiB dictionary.
#: Consecutive samples of a channel list mostly the same logins, one sample (~1 MB) apart:
#: preset 1 (1 MiB dictionary, fast hash-chain search) found few of those repeats. On the
#: scale-1 bench day (297.9 MB of JSON, docs/benchmarks.md): 95.9 → 23.4 MB, decompressed
#: in 2.3 instead of 7.5 CPU-s (the day job's unpacker is serial: its critical path), for
#: 216 instead of 77 CPU-s of archiving, once a night. Any 7-Zip reads it: only the
#: dictionary size is stored, the rest is how the encoder searches.
FILTERS = [{"id": py7zr.FILTER_LZMA2, "preset": 1, "mode": lzma.MODE_NORMAL, "mf": lzma.MF_BT4,
            "nice_len": 32, "depth": 8, "dict_size": 8 << 20}]
FAULT_ENV = "TPDASK_FAULT_ARCHIVE_STEP"
MANIFEST_VERSION = 1
_READ_ERRORS = (py7zr.exceptions.ArchiveError, OSError, EOFError, lzma.LZMAError, ValueError)
_RESTORE = ("no raw file was deleted: restore the archive and its manifest from a backup, or "
            "move both away to archive the loose samples afresh")
_DISCARDED = ("no raw file was deleted and the new archive was discarded: check the disk "
              "(free space, kernel log) and run the archiver again")


def filters_tag() -> str:
    """A short name of :data:`FILTERS`: benchmarks cache their archives under it, so a
    change of settings builds them again."""
    return hashlib.sha256(repr(FILTERS).encode()).hexdigest()[:8]


def build_archive(day: str, files: list[Path], target: Path) -> Path:
    """Write `files` into a new archive at `target`, atomically (temp name, fsync, rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with py7zr.SevenZipFile(tmp, "w", filters=FILTERS) as z:
            for path in sorted(files):
                z.write(path, f"{day}/{path.name}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except (py7zr.exceptions.ArchiveError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(f"cannot write archive {target}: {exc}") from None
    return target


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
class _Paths:
    archive: Path
    manifest: Path
    tmp_archive: Path
    tmp_manifest: Path

    @classmethod
    def of(cls, archive_dir: Path, day: str) -> "_Paths":
        final = archive_path(archive_dir, day)
        manifest = manifest_path(archive_dir, day)
        return cls(final, manifest, final.with_name(f".{final.name}.tmp"),
                   manifest.with_name(f".{manifest.name}.tmp"))


def manifest_path(archive_dir: Path, day: str) -> Path:
    return archive_dir / f"{day}.manifest.json"


def archive_day(config: Config, day: str, log: Log = print_log) -> ArchiveReport:
    """Move the day's loose samples into archive/<day>.7z, verified before any raw file goes."""
    started = time.time()
    folder = config.samples_dir / day
    paths = _Paths.of(config.archive_dir, day)
    try:
        config.archive_dir.mkdir(parents=True, exist_ok=True)
        with _locked(config.archive_dir):
            try:
                report = _archive(paths, day, folder, config.quarantine_dir, log)
            finally:
                if paths.tmp_archive.exists():    # not renamed into place: both temps are waste
                    paths.tmp_archive.unlink()
                    paths.tmp_manifest.unlink(missing_ok=True)
    except (OSError, py7zr.exceptions.ArchiveError) as exc:
        raise ArchiveError(f"cannot archive {day}: {exc}; the raw samples in {folder} are kept: "
                           f"fix the cause (disk space, permissions) and run "
                           f"`tpdask archive --day {day}` again") from None
    return replace(report, seconds=round(time.time() - started, 2))


def _archive(paths: _Paths, day: str, folder: Path, quarantine_dir: Path,
             log: Log) -> ArchiveReport:
    _recover(paths, log)
    quarantined = _tidy_folder(folder, quarantine_dir, day, log)
    loose = _loose_names(folder)
    old = _current_manifest(paths, day, log) if paths.archive.exists() else None
    archived = {f["name"] for f in old["files"]} if old is not None else set()
    new = [name for name in loose if name not in archived]
    manifest = old
    if new:
        log(f"archiving {len(new)} new sample files of {day} into {paths.archive}")
        manifest = _write_verified(paths, day, folder, new, old)
    elif loose and old:
        verify_archive(paths.archive, old)             # before deleting its loose copies
    if manifest is None:
        log(f"no samples of {day} to archive in {folder}")
        _remove_if_empty(folder)
        return ArchiveReport(day=day, archive=str(paths.archive), quarantined=quarantined)
    outcome = _delete_archived(folder, loose, manifest, quarantine_dir, day, log)
    deleted = {name for name, what in outcome.items() if what == _DELETED}
    conflicts = tuple(name for name, what in outcome.items() if what == _DIFFERS)
    changed = tuple(name for name, what in outcome.items() if what == _CHANGED)
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


# ---- manifest and verification ------------------------------------------------------------

def read_manifest(path: Path) -> dict:
    try:
        manifest = orjson.loads(path.read_bytes())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
            raise ValueError("no files list")
        return manifest
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read manifest {path}: {exc}; delete it and run the "
                           "archiver again to rebuild it from the archive") from None


def verify_archive(archive: Path, manifest: dict, advice: str = _RESTORE) -> None:
    """Re-read `archive` and check its size, sha256 and every member against `manifest`.

    `advice`, ending the error's message, tells the operator what to do about a mismatch.
    """
    _check_file(archive, manifest, advice)
    check = _MemberCheck(archive, manifest, advice)
    _stream(archive, check, advice)
    check.finish()


class _MemberCheck:
    """Called with each member streamed from an archive; `finish` raises on any difference."""

    def __init__(self, archive: Path, manifest: dict, advice: str = _RESTORE):
        self.archive = archive
        self.advice = advice
        self.expected = {f["name"]: f for f in manifest["files"]}
        self.seen: set[str] = set()
        self.problems: list[str] = []

    def __call__(self, name: str, data: bytes) -> None:
        entry = self.expected.get(name)
        if entry is None or name in self.seen:
            where = "twice in the archive" if entry else "not in the manifest"
            self.problems.append(f"member {name} is {where}")
        elif len(data) != entry["size"] or _sha256(data) != entry["sha256"]:
            self.problems.append(f"member {name} differs from the manifest")
        self.seen.add(name)

    def finish(self) -> None:
        missing = sorted(self.expected.keys() - self.seen)
        if missing:
            self.problems.append(f"{len(missing)} members are missing, e.g. {missing[0]}")
        if self.problems:
            raise ArchiveError(f"archive {self.archive} does not verify: {self.problems[0]}; "
                               f"{self.advice}")


def _check_file(archive: Path, manifest: dict, advice: str = _RESTORE) -> None:
    if (archive.stat().st_size != manifest.get("archive_size")
            or _file_sha256(archive) != manifest.get("archive_sha256")):
        raise ArchiveError(f"archive {archive} does not match its manifest (size or sha256); "
                           f"{advice}")


def _current_manifest(paths: _Paths, day: str, log: Log) -> dict:
    """The archive's manifest; rebuilt from the archive itself when it has none."""
    if paths.manifest.exists():
        manifest = read_manifest(paths.manifest)
        if paths.archive.stat().st_size != manifest.get("archive_size"):
            _check_file(paths.archive, manifest)     # raises with the operator's options
        return manifest
    log(f"{paths.archive} has no manifest: rebuilding it from the archive's members")
    files: list[dict] = []
    _stream(paths.archive, lambda name, data: files.append(_entry(name, data)))
    manifest = _manifest(day, paths.archive, files)
    _write_synced(paths.tmp_manifest, _dump(manifest))
    os.replace(paths.tmp_manifest, paths.manifest)
    fsync_dir(paths.manifest.parent)
    return manifest


def _manifest(day: str, archive: Path, files: list[dict]) -> dict:
    return {"version": MANIFEST_VERSION, "day": day, "archive": f"{day}.7z",
            "archive_size": archive.stat().st_size, "archive_sha256": _file_sha256(archive),
            "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": sorted(files, key=lambda f: f["name"])}


# ---- the steps ----------------------------------------------------------------------------

def _recover(paths: _Paths, log: Log) -> None:
    """Finish or undo what a crashed run left: temp files, or a manifest not yet renamed."""
    if paths.tmp_manifest.exists() and paths.archive.exists():
        try:
            pending = read_manifest(paths.tmp_manifest)
            _check_file(paths.archive, pending)
        except ArchiveError:
            pass                                       # describes a temp archive: stale
        else:
            os.replace(paths.tmp_manifest, paths.manifest)
            log(f"finished an interrupted run: {paths.manifest} renamed into place")
    for tmp in (paths.tmp_archive, paths.tmp_manifest):
        tmp.unlink(missing_ok=True)
    fsync_dir(paths.archive.parent)


def _write_verified(paths: _Paths, day: str, folder: Path, new: list[str],
                    old: dict | None) -> dict:
    """Old members (streamed, checked) plus the new files, sorted by name, into the archive."""
    files: list[dict] = []
    pending = iter(sorted(new))
    next_new = next(pending, None)
    with py7zr.SevenZipFile(paths.tmp_archive, "w", filters=FILTERS) as z:
        def add(name: str, data: bytes) -> None:
            z.writestr(data, f"{day}/{name}")
            files.append(_entry(name, data))

        def add_new_before(name: str | None) -> None:
            nonlocal next_new
            while next_new is not None and (name is None or next_new < name):
                add(next_new, (folder / next_new).read_bytes())
                next_new = next(pending, None)

        if old is not None:
            _check_file(paths.archive, old)
            check = _MemberCheck(paths.archive, old)

            def copy(name: str, data: bytes) -> None:
                check(name, data)
                add_new_before(name)
                add(name, data)

            _stream(paths.archive, copy)
            check.finish()
        add_new_before(None)
    _fsync_file(paths.tmp_archive)
    _step("written")
    manifest = _manifest(day, paths.tmp_archive, files)
    _write_synced(paths.tmp_manifest, _dump(manifest))
    _step("manifest")
    verify_archive(paths.tmp_archive, read_manifest(paths.tmp_manifest), _DISCARDED)
    _step("verified")
    os.replace(paths.tmp_archive, paths.archive)
    os.replace(paths.tmp_manifest, paths.manifest)
    fsync_dir(paths.archive.parent)
    _step("renamed")
    return manifest


_DELETED, _DIFFERS, _CHANGED, _GONE = "deleted", "differs", "changed", "gone"


def _delete_archived(folder: Path, loose: list[str], manifest: dict, quarantine_dir: Path,
                     day: str, log: Log) -> dict[str, str]:
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
        if outcome[name] == _DELETED and first:
            first = False
            _step("deleted-one")
    if folder.is_dir():
        fsync_dir(folder)
        _remove_if_empty(folder)
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
    (`_tidy_folder`).
    """
    if sha256 is None:
        return _DIFFERS
    try:
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            after = os.fstat(f.fileno())
    except FileNotFoundError:
        return _GONE
    if _identity(before) != _identity(after):
        return _CHANGED                       # written to while it was being read
    if digest != sha256:
        return _DIFFERS
    private = _private_name(path)
    try:
        os.rename(path, private)
    except FileNotFoundError:
        return _GONE
    if _identity(os.stat(private)) == _identity(before):
        os.unlink(private)
        return _DELETED
    _put_back(private, path, quarantine_dir, day, log)
    return _CHANGED


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
        return _file_sha256(a) == _file_sha256(b)
    except FileNotFoundError:
        return False


def _tidy_folder(folder: Path, quarantine_dir: Path, day: str, log: Log) -> tuple[str, ...]:
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


def _remove_if_empty(folder: Path) -> None:
    """Remove the day folder once empty; a writer may be putting a file in it right now."""
    try:
        folder.rmdir()
    except OSError:                           # not empty, or already gone
        return
    fsync_dir(folder.parent)


# ---- small helpers --------------------------------------------------------------------------

def _step(name: str) -> None:
    """The test hook: die right after step `name` when TPDASK_FAULT_ARCHIVE_STEP says so."""
    if os.environ.get(FAULT_ENV) == name:
        os._exit(137)


def _loose_names(folder: Path) -> list[str]:
    """The day's raw sample files: `<ts>.json` files (`_tidy_folder` moved the others away)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_sample_name(p.name) and p.is_file())


def _stream(archive: Path, on_member: Callable[[str, bytes], None],
            advice: str = _RESTORE) -> None:
    try:
        stream_archive(archive, on_member)
    except ArchiveError as exc:
        raise ArchiveError(f"{exc}; {advice}") from None
    except _READ_ERRORS as exc:          # what py7zr lets through on a damaged archive
        raise ArchiveError(f"cannot read archive {archive}: {exc}; {advice}") from None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One archiver at a time per data folder (they share fixed temp names)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _entry(name: str, data: bytes) -> dict:
    return {"name": name, "size": len(data), "sha256": _sha256(data)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _dump(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())

