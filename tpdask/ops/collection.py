"""What the data folder holds, read for the health check: samples (loose and archived),
archives, quarantined files, free disk space. Only reads; every reader tolerates files
appearing and vanishing under it (the collector and the jobs run meanwhile).

A sample's time is its name, ``<unix ts>.json``: a loose file in ``samples/<day>/`` or a
member of ``archive/<day>.7z`` as its manifest lists it (an archive without a readable
manifest has its header's names read instead; nothing is ever decompressed).
"""

from __future__ import annotations

import lzma
import os
import re
from dataclasses import dataclass
from pathlib import Path

import py7zr

from tpdask.archive.manifest import manifest_path, read_manifest
from tpdask.errors import ArchiveError
from tpdask.samples import is_sample_name
from tpdask.settings import Config

DAY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class DaySamples:
    """The sample times of one day: archived (per its manifest) and loose."""

    day: str
    archived: frozenset[int]
    loose: frozenset[int]
    manifest: str = ""          # "missing" or "unreadable" when the archive's manifest is

    @property
    def times(self) -> frozenset[int]:
        return self.archived | self.loose

    @property
    def waiting(self) -> frozenset[int]:
        """Loose samples not in the archive: to be archived."""
        return self.loose - self.archived


class SampleIndex:
    """The sample times of the data folder, read a day at a time and kept."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._days: dict[str, DaySamples] = {}

    def day(self, day: str) -> DaySamples:
        """The samples of ``day`` (YYYY-MM-DD)."""
        if day not in self._days:
            self._days[day] = self._read(day)
        return self._days[day]

    def _read(self, day: str) -> DaySamples:
        loose = frozenset(int(name[:-5]) for name in _names(self.config.samples_dir / day)
                          if is_sample_name(name))
        archived: frozenset[int] = frozenset()
        problem = ""
        archive = self.config.archive_dir / f"{day}.7z"
        if archive.exists():
            path = manifest_path(self.config.archive_dir, day)
            try:
                names = [str(f.get("name", "")) for f in read_manifest(path)["files"]
                         if isinstance(f, dict)]
            except (ArchiveError, AttributeError):
                problem = "missing" if not path.exists() else "unreadable"
                names = _member_names(archive)
            archived = frozenset(int(n[:-5]) for n in names if is_sample_name(n))
        return DaySamples(day, archived, loose, problem)

    def days(self) -> list[str]:
        """Every day with a samples folder or an archive, sorted."""
        folders = {name for name in _names(self.config.samples_dir) if DAY_NAME.match(name)}
        archives = {name[:-3] for name in _names(self.config.archive_dir)
                    if name.endswith(".7z") and DAY_NAME.match(name[:-3])}
        return sorted(folders | archives)

    def newest(self) -> int | None:
        """The newest sample time of the data folder, or None when it holds none."""
        return self._first_found(reversed(self.days()), max)

    def first(self) -> int | None:
        """The oldest sample time: when the collection started."""
        return self._first_found(self.days(), min)

    def _first_found(self, days, pick) -> int | None:  # noqa: ANN001 - private
        for day in days:
            times = self.day(day).times
            if times:
                return int(pick(times))
        return None


def _member_names(archive: Path) -> list[str]:
    """The file names in an archive's header (without its manifest), or none when it
    cannot be read: the header only, nothing is decompressed."""
    try:
        with py7zr.SevenZipFile(archive, "r") as z:
            return [Path(name).name for name in z.getnames()]
    except (py7zr.exceptions.ArchiveError, OSError, EOFError, lzma.LZMAError, ValueError,
            KeyError, IndexError):
        return []


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass(frozen=True)
class Archive:
    day: str
    bytes: int


def archives(config: Config) -> list[Archive]:
    """The days' archives (``archive/<day>.7z``) with their sizes, by day."""
    found = []
    for name in sorted(_names(config.archive_dir)):
        if name.endswith(".7z") and DAY_NAME.match(name[:-3]):
            try:
                found.append(Archive(name[:-3], (config.archive_dir / name).stat().st_size))
            except FileNotFoundError:
                continue                   # replaced by the archiver right now
    return found


@dataclass(frozen=True)
class Quarantined:
    """One quarantined file: the folder it is under (a day, or import_tmi) and when."""

    folder: str
    at: float


def quarantined(config: Config) -> list[Quarantined]:
    """Every quarantined file (each has a ``.reason`` file beside it), oldest first."""
    found = []
    root = config.quarantine_dir
    for reason in root.rglob("*.reason") if root.is_dir() else ():
        try:
            at = reason.stat().st_mtime
        except FileNotFoundError:
            continue
        found.append(Quarantined(reason.relative_to(root).parts[0], at))
    return sorted(found, key=lambda q: q.at)


def disk_usage(path: Path) -> tuple[int, int]:
    """(free, total) bytes of the filesystem holding ``path``: the space an unprivileged
    process may still use (blocks reserved for root are not free to tpdask)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
