"""An archive's manifest (``<day>.manifest.json``: every member's size and sha256) and the
checks that hold an archive against it, member by member.

A day's archive is trusted only as far as its manifest: the archiver writes both, reads
the archive back against the manifest before a raw file is deleted, and the day job
checks every member it reads (:mod:`tpdask.archive.unpack`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import lzma
from pathlib import Path
from typing import Callable

import orjson
import py7zr

from tpdask.archive.members import DayFiles, stream_archive
from tpdask.errors import ArchiveError
from tpdask.log import Progress

MANIFEST_VERSION = 1
_READ_ERRORS = (py7zr.exceptions.ArchiveError, OSError, EOFError, lzma.LZMAError, ValueError)
RESTORE = ("no raw file was deleted: restore the archive and its manifest from a backup, or "
           "move both away to archive the loose samples afresh")
DISCARDED = ("no raw file was deleted and the new archive was discarded: check the disk "
             "(free space, kernel log) and run the archiver again")


def manifest_path(archive_dir: Path, day: str) -> Path:
    return archive_dir / f"{day}.manifest.json"


def read_manifest(path: Path) -> dict:
    try:
        manifest = orjson.loads(path.read_bytes())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
            raise ValueError("no files list")
        return manifest
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"cannot read manifest {path}: {exc}; delete it and run the "
                           "archiver again to rebuild it from the archive") from None


def verify_archive(archive: Path, manifest: dict, advice: str = RESTORE,
                   bar: Progress | None = None) -> None:
    """Re-read `archive` and check its size, sha256 and every member against `manifest`.

    `advice`, ending the error's message, tells the operator what to do about a mismatch;
    `bar`, when given, advances by each member's bytes as it is checked.
    """
    check_file(archive, manifest, advice)
    check = MemberCheck(archive, manifest, advice)

    def checked(name: str, data: bytes) -> None:
        check(name, data)
        if bar is not None:
            bar.update(len(data))

    stream_checked(archive, checked, advice)
    check.finish()


class MemberCheck:
    """Called with each member streamed from an archive; `finish` raises on any difference."""

    def __init__(self, archive: Path, manifest: dict, advice: str = RESTORE):
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


def check_file(archive: Path, manifest: dict, advice: str = RESTORE) -> None:
    if (archive.stat().st_size != manifest.get("archive_size")
            or file_sha256(archive) != manifest.get("archive_sha256")):
        raise ArchiveError(f"archive {archive} does not match its manifest (size or sha256); "
                           f"{advice}")


def new_manifest(day: str, archive: Path, files: list[dict]) -> dict:
    return {"version": MANIFEST_VERSION, "day": day, "archive": f"{day}.7z",
            "archive_size": archive.stat().st_size, "archive_sha256": file_sha256(archive),
            "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": sorted(files, key=lambda f: f["name"])}


def stream_checked(archive: Path, on_member: Callable[[str, bytes], None],
                   advice: str = RESTORE) -> None:
    """Stream the archive's members (:func:`stream_archive`); any read error ends with
    `advice`."""
    try:
        stream_archive(archive, on_member)
    except ArchiveError as exc:
        raise ArchiveError(f"{exc}; {advice}") from None
    except _READ_ERRORS as exc:          # what py7zr lets through on a damaged archive
        raise ArchiveError(f"cannot read archive {archive}: {exc}; {advice}") from None


def member_entry(name: str, data: bytes) -> dict:
    return {"name": name, "size": len(data), "sha256": _sha256(data)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def day_inputs(files: DayFiles) -> dict:
    """What a run of the day job reads: the archive (by its manifest's sha256) and the loose
    files beside it (by name and size). A run whose ledger entry has the same inputs has
    nothing new to process (the nightly chain skips the day)."""
    sha256 = None
    if files.archive is not None:
        manifest = manifest_path(Path(files.archive).parent, files.day)
        sha256 = read_manifest(manifest).get("archive_sha256") if manifest.exists() else None
    return {"archive_sha256": sha256, "loose": [list(f) for f in files.folder_files]}


def dump(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
