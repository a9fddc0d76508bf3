"""A day's members: the sample files of a day, in its .7z archive and loose in its folder,
listed and read.

The archive is streamed member by member through py7zr into memory, never extracted to
disk; a member that is not read whole is an error, never skipped silently.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import py7zr
from py7zr.helpers import get_sanitized_output_path

from tpdask.errors import ArchiveError


@dataclass(frozen=True)
class DayFiles:
    """The sample files of one day: archive members and loose files not in the archive."""

    day: str
    archive: str | None                      # path of <day>.7z when it exists
    archive_members: tuple[tuple[str, int], ...]   # (name, size)
    folder: str
    folder_files: tuple[tuple[str, int], ...]      # (name, size), not also in the archive

    @property
    def total_bytes(self) -> int:
        return sum(s for _, s in self.archive_members) + sum(s for _, s in self.folder_files)

    @property
    def count(self) -> int:
        return len(self.archive_members) + len(self.folder_files)


def archive_path(archive_dir: Path, day: str) -> Path:
    return archive_dir / f"{day}.7z"


def list_day(samples_dir: Path, archive_dir: Path, day: str) -> DayFiles:
    """Find the day's samples in data/archive/<day>.7z and data/samples/<day>/."""
    members: list[tuple[str, int]] = []
    archive = archive_path(archive_dir, day)
    if archive.exists():
        try:
            with py7zr.SevenZipFile(archive, "r") as z:
                members = sorted((Path(i.filename).name, i.uncompressed) for i in z.list()
                                 if not i.is_directory and i.filename.endswith(".json"))
        except (py7zr.exceptions.ArchiveError, OSError, EOFError) as exc:
            raise ArchiveError(f"cannot read archive {archive}: {exc}; restore it from a "
                               "backup or move it away to process the loose samples") from None
    in_archive = {name for name, _ in members}
    folder = samples_dir / day
    loose: list[tuple[str, int]] = []
    if folder.is_dir():
        loose = sorted((p.name, p.stat().st_size) for p in folder.glob("*.json")
                       if p.is_file() and p.name not in in_archive)
    return DayFiles(day=day, archive=str(archive) if archive.exists() else None,
                    archive_members=tuple(members), folder=str(folder), folder_files=tuple(loose))


class _StreamingFactory(py7zr.io.WriterFactory):
    """py7zr writer factory that hands each member to a callback, in memory, when it is whole.

    Each member gets its own buffer, keyed by the name py7zr gives it; py7zr closes it
    once the member is decompressed and its CRC checked, and only then is it handed over
    (calls serialised by a lock: py7zr may decompress several 7z folders in threads) and
    the buffer emptied, since py7zr keeps every writer until the extraction ends. A member
    whose size is not the one the archive's file list declares is not handed over but
    recorded in `problems`.
    """

    def __init__(self, on_member: Callable[[str, bytes], None], expected: dict[str, int]):
        self.on_member = on_member
        self.expected = expected
        self.lock = threading.Lock()
        self.handed: set[str] = set()
        self.problems: list[str] = []

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        return _MemberBuffer(filename, self)

    def hand_over(self, key: str, data: bytes) -> None:
        with self.lock:
            size = self.expected.get(key)
            if size is None or key in self.handed:
                self.problems.append(f"member {key} was read but is not in its file list once")
            elif len(data) != size:
                self.problems.append(f"member {key} was read with {len(data)} of its {size} bytes")
            else:
                self.handed.add(key)
                self.on_member(Path(key).name, data)

    def check(self, archive: str | Path) -> None:
        """Raise ArchiveError unless every expected member was handed over, whole."""
        missing = sorted(self.expected.keys() - self.handed)
        problems = self.problems + [f"member {key} was not read" for key in missing]
        if problems:
            raise ArchiveError(
                f"cannot read archive {archive}: {len(problems)} of its {len(self.expected)} "
                f"members were not read whole ({problems[0]}); nothing was skipped silently: "
                f"check it with `7z t {archive}`, and restore it from a backup if that fails")


class _MemberBuffer(py7zr.io.Py7zIO):
    def __init__(self, key: str, factory: _StreamingFactory) -> None:
        self.key = key
        self.factory = factory
        self.bytes = io.BytesIO()
        self.done = False

    def write(self, s: bytes | bytearray) -> int:
        return self.bytes.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.bytes.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.bytes.seek(offset, whence)

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.bytes.getbuffer().nbytes

    def close(self) -> None:
        """py7zr calls this once the member is whole (not after a failed decompression)."""
        if self.done:
            return
        self.done = True
        data = self.bytes.getvalue()
        self.bytes = io.BytesIO()
        self.factory.hand_over(self.key, data)


def _extract_keys(z: py7zr.SevenZipFile, targets: set[str] | None) -> dict[str, int]:
    """The members py7zr hands to a writer factory, by the key it gives them → declared size.

    The keys follow py7zr's own naming (sanitised member name; a repeated name gets
    `_0`, `_1`, … appended); directories and sockets are not handed over.
    """
    expected: dict[str, int] = {}
    seen: dict[str, int] = {}
    for f in z.files:
        if targets is not None and f.filename not in targets:
            continue
        if f.filename not in seen:
            outname, seen[f.filename] = f.filename, 0
        else:
            outname = f"{f.filename}_{seen[f.filename]}"
            seen[f.filename] += 1
        if f.is_directory or f.is_socket:
            continue
        key = get_sanitized_output_path(outname, None).as_posix()
        expected[key] = f.uncompressed or 0
    return expected


def stream_archive(archive: str | Path, on_member: Callable[[str, bytes], None],
                   names: set[str] | None = None) -> None:
    """Call on_member(name, bytes) for each member (all, or those in `names`), in archive order.

    A solid archive is one compressed stream: reading a member means decompressing all
    before it, so members are taken in one pass and handed over one at a time; the
    caller decides how many to keep in memory. The archive is given to py7zr as an open
    file, which makes it decompress its 7z folders one after the other (given a path, it
    runs one thread per folder): order is the archive's and memory holds one member.
    Raises ArchiveError when a member of the archive's file list was not handed over
    with its full size, after handing over the others.
    """
    try:
        with open(archive, "rb") as fp, py7zr.SevenZipFile(fp, "r") as z:
            targets = None
            if names is not None:
                targets = {i.filename for i in z.list() if Path(i.filename).name in names}
            factory = _StreamingFactory(on_member, _extract_keys(z, targets))
            z.extract(targets=targets, factory=factory)
    except (py7zr.exceptions.ArchiveError, OSError, EOFError) as exc:
        raise ArchiveError(f"cannot read archive {archive}: {exc}") from None
    factory.check(archive)

