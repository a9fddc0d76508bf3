"""Reading a day's samples (sample contract v1) from its folder and from its .7z archive.

A sample that cannot be used (not JSON, wrong version, ts outside its day, wrong shape)
raises SampleError inside `parse_sample`; the caller quarantines it and goes on. The
archive is streamed member by member through py7zr into memory, never extracted to disk.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson
import py7zr
from py7zr.helpers import get_sanitized_output_path

from tpdask.days import day_bounds
from tpdask.errors import ArchiveError, SampleError
from tpdask.files import atomic_write, fsync_dir

LOGIN_RE = re.compile(r"[a-z0-9_]{1,25}")
SAMPLE_NAME = re.compile(r"[0-9]{1,20}\.json")     # what the collector and import_tmi write
TEMP_NAME = re.compile(r"\.(.+)\.([0-9]{1,10})\.tmp")  # files.atomic_write's `.<name>.<pid>.tmp`
STALE_TEMP_SECONDS = 3600       # a temp this old is a dead writer's, whatever its pid says
TEMP_GRACE_SECONDS = 60         # a younger one is left alone even when its pid looks dead
LOGIN_PATTERN = "^[a-z0-9_]{1,25}$"       # the same rule, for pyarrow's RE2
CONTRACT_VERSION = 1


def normalise_login(entry: object) -> str | None:
    """strip().lower() a chatter entry; None when the result is not a valid login."""
    if not isinstance(entry, str):
        return None
    login = entry.strip().lower()
    return login if LOGIN_RE.fullmatch(login) else None


@dataclass
class Sample:
    """One parsed sample: its ts and, per normalised streamer login, the raw chatter list.

    ``meta`` is parallel to ``streams``: each stream's other fields (viewer_count, title,
    game_name, …, and ``chatter_ids`` when the source gave them), as written.
    """

    name: str
    ts: int
    streams: list[tuple[str, list]]
    meta: list[dict] = field(default_factory=list)


def parse_sample(name: str, raw: bytes, day: str) -> Sample:
    """Parse and check one sample file of `day`; raise SampleError saying what is wrong."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SampleError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SampleError("wrong shape: the top level is not a JSON object")
    if doc.get("version") != CONTRACT_VERSION:
        raise SampleError(f"wrong version: {doc.get('version')!r}, this reader knows version 1")
    ts = doc.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise SampleError(f"wrong shape: ts must be a unix timestamp integer, got {ts!r}")
    start, end = day_bounds(day)
    if not start <= ts < end:
        raise SampleError(f"ts {ts} is outside the day {day} (UTC)")
    streams = doc.get("streams")
    if not isinstance(streams, dict):
        raise SampleError("wrong shape: streams must be an object of streamer login → stream")
    parsed, meta = [], []
    for key, stream in streams.items():
        login = normalise_login(key)
        if login is None:
            raise SampleError(f"wrong shape: stream key {key!r} is not a streamer login")
        if not isinstance(stream, dict) or not isinstance(stream.get("chatters"), list):
            raise SampleError(f"wrong shape: stream {key!r} has no chatters list")
        parsed.append((login, stream["chatters"]))
        meta.append(stream)
    return Sample(name=name, ts=ts, streams=parsed, meta=meta)


# ---- where a day's sample files are ------------------------------------------------------

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


def quarantine(quarantine_dir: Path, day: str, name: str, raw: bytes, reason: str,
               origin: Path | None = None) -> Path:
    """Keep a bad sample under quarantine/<day>/ with a .reason file beside it.

    A loose file is moved (it must not be read again); an archive member is copied, since
    the archive is the immutable record of the day.
    """
    target_dir = quarantine_dir / day
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    if origin is not None and origin.exists():
        os.replace(origin, target)
    else:
        target.write_bytes(raw)
    (target_dir / f"{name}.reason").write_text(reason + "\n")
    return target


# ---- sample file names, writing them, and what dead writers leave --------------------------

def is_sample_name(name: str) -> bool:
    """True for the names the collector and import_tmi give samples: `<unix ts>.json`."""
    return SAMPLE_NAME.fullmatch(name) is not None


def safe_file_name(name: str) -> str:
    """`name` with every byte outside [A-Za-z0-9._-] written %XX (reversible, always UTF-8).

    A name with a backslash, a slash-like character or bytes that are not UTF-8 (os.listdir
    gives those as surrogate escapes) becomes a name every tool can show and handle.
    """
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
    out = "".join(chr(b) if b in safe else f"%{b:02X}" for b in os.fsencode(name))
    return "%2E" + out[1:] if out.startswith(".") else out     # never a hidden file


def quarantine_file(quarantine_dir: Path, day: str, path: Path, reason: str) -> Path:
    """Move the loose file `path` to quarantine/<day>/ under a safe name, with a .reason file.

    A name already taken there (the same odd name quarantined before) gets `.1`, `.2`, …
    appended: nothing in the quarantine is ever overwritten.
    """
    target_dir = quarantine_dir / day
    target_dir.mkdir(parents=True, exist_ok=True)
    base = safe_file_name(path.name)
    target, n = target_dir / base, 0
    while target.exists() or target.with_name(f"{target.name}.reason").exists():
        n += 1
        target = target_dir / f"{base}.{n}"
    os.rename(path, target)
    (target_dir / f"{target.name}.reason").write_text(
        f"{reason}\noriginal name: {os.fsencode(path.name)!r} in {os.fsencode(path.parent)!r}\n")
    fsync_dir(target_dir)
    fsync_dir(path.parent)
    return target


def write_sample_file(path: Path, data: bytes) -> Path:
    """Write a sample atomically (temp `.<name>.<pid>.tmp`, fsync, rename, fsync of the folder).

    Tried again when the day folder vanished meanwhile: the archiver removes a day folder
    it emptied, and may do so between this writer's mkdir and its open.
    """
    for attempt in range(5):
        try:
            return atomic_write(path, data)
        except FileNotFoundError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


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
