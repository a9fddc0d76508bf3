"""Taking one viewer out of the raw files of a day: loose samples, the quarantine, the
archive (with ``--archives``).

Loose samples are rewritten atomically without the viewer's entries (:mod:`scrub`); a
loose copy of a member its archive already holds byte for byte is deleted instead (the
archive has it; rewriting it would make the archiver see a conflict). A quarantined file
that holds the viewer is cleaned when it is JSON and deleted when it is not (it is kept
for inspection only). The archive is rewritten with the archiver's verify-then-swap care
(:func:`tpdask.archive.rewrite.rewrite_archive`); a member holding the viewer that is not
JSON is left out of the new archive.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from tpdask.archive.manifest import manifest_path, read_manifest
from tpdask.archive.rewrite import RewriteReport, rewrite_archive
from tpdask.files import atomic_write, remove_stale_temps
from tpdask.log import Log
from tpdask.privacy.scrub import Scrubber


@dataclass
class FilesChange:
    """What the cleaning of a folder did."""

    rewritten: int = 0           # files written again without the viewer
    deleted: int = 0             # files deleted (unreadable and holding the viewer, or copies)
    entries: int = 0             # chatter entries removed
    names: list[str] = field(default_factory=list)

    def add(self, other: FilesChange) -> None:
        self.rewritten += other.rewritten
        self.deleted += other.deleted
        self.entries += other.entries


def _archived(archive_dir: Path, day: str) -> dict[str, str]:
    path = manifest_path(archive_dir, day)
    if not path.exists():
        return {}
    return {f["name"]: f["sha256"] for f in read_manifest(path)["files"]}


def clean_samples(samples_dir: Path, archive_dir: Path, day: str,
                  scrubber: Scrubber) -> FilesChange:
    """The day's loose files (samples, and anything else in its folder) without the viewer."""
    folder = samples_dir / day
    change = FilesChange()
    if not folder.is_dir():
        return change
    remove_stale_temps(folder)          # a dead writer's temp may hold the viewer too
    archived = _archived(archive_dir, day)
    for path in sorted(folder.iterdir()):
        if not path.is_file() or (path.name.startswith(".") and path.name.endswith(".tmp")):
            continue
        raw = path.read_bytes()
        new, removed = scrubber.scrub_bytes(raw)
        if new is raw:
            continue
        change.entries += removed
        if new is None or archived.get(path.name) == hashlib.sha256(raw).hexdigest():
            path.unlink()
            change.deleted += 1
        else:
            atomic_write(path, new)
            change.rewritten += 1
        change.names.append(path.name)
    return change


def clean_quarantine(folder: Path, scrubber: Scrubber) -> FilesChange:
    """Every file under ``folder`` (a day's quarantine, or the import's) without the viewer."""
    change = FilesChange()
    for root, _, names in os.walk(folder) if folder.is_dir() else ():
        for name in sorted(names):
            path = Path(root) / name
            raw = path.read_bytes()
            new, removed = scrubber.scrub_bytes(raw)
            if new is raw and not scrubber.mentions(raw):
                continue
            change.entries += removed
            if new is None or scrubber.mentions(new):   # not JSON, or named outside chatters
                path.unlink()
                change.deleted += 1
            else:
                atomic_write(path, new)
                change.rewritten += 1
    return change


def clean_archive(archive_dir: Path, day: str, scrubber: Scrubber, log: Log) -> RewriteReport:
    """The day's archive rewritten without the viewer (nothing written when it holds none)."""
    return rewrite_archive(archive_dir, day, scrubber.wanted, _edit(scrubber), log)


def _edit(scrubber: Scrubber):
    def edit(name: str, data: bytes) -> tuple[bytes | None, int]:
        return scrubber.scrub_bytes(data)
    return edit
