"""Phase 1 from a .7z: the archive decompressed once, by the job's client, while workers parse.

A day's archive is a few solid LZMA2 streams (one 7z folder per core of the archiver): a
reader must decompress every member of a folder before the one it wants, so a reader per
worker would decompress much of the day once per worker (2 × 6.7 s of a 17 s phase at
scale 1 with 2 workers, when archives were one preset-1 stream). Instead a thread of the job's client,
idle otherwise, decompresses it once, checks each member against the manifest (size, sha256), and writes
it under ``<scratch>/raw/`` (temp name, then rename); phase-1 tasks read those files as
loose samples, waiting for each one to appear (:func:`wait_for_member`). A member read
wrong, or an archive that cannot be read, puts a ``.failed`` file with the reason in the
folder, and every waiting task stops with that reason.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from tpdask.archive.members import stream_archive
from tpdask.errors import ArchiveError, JobError
from tpdask.files import atomic_write

FAILED = ".failed"

#: How long a phase-1 task waits for the next member before it gives up (the unpacker
#: writes one every few milliseconds; only a dead client stops it).
WAIT_TIMEOUT_S = 300.0


class ArchiveUnpacker:
    """Decompress ``archive``'s ``members`` ((name, size, sha256 or "")) into ``folder``."""

    def __init__(self, archive: str, members: tuple[tuple[str, int, str], ...], folder: Path,
                 day: str) -> None:
        self.archive, self.members, self.folder, self.day = archive, members, folder, day
        self.seconds = 0.0
        self.error: ArchiveError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"unpack-{day}", daemon=True)

    def start(self) -> ArchiveUnpacker:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.perf_counter()
        expected = {name: (size, sha) for name, size, sha in self.members}
        seen: set[str] = set()
        wrong: list[str] = []

        def on_member(name: str, raw: bytes) -> None:
            if self._stop.is_set():
                raise _Stopped
            seen.add(name)
            size, sha = expected[name]
            if len(raw) != size or (sha and hashlib.sha256(raw).hexdigest() != sha):
                wrong.append(f"{name} ({len(raw)} bytes read, {size} listed)")
                self._fail(wrong_members(self.archive, self.day, wrong, []))
                return
            _write(self.folder / name, raw)

        try:
            stream_archive(self.archive, on_member, set(expected))
        except _Stopped:
            return
        except ArchiveError as exc:
            self._fail(str(exc))
        except OSError as exc:             # the scratch disk is full
            self._fail(f"cannot unpack {self.archive} into {self.folder}: {exc} — check "
                       "free space")
        missing = sorted(set(expected) - seen)
        if (wrong or missing) and self.error is None:
            self._fail(wrong_members(self.archive, self.day, wrong, missing))
        self.seconds = time.perf_counter() - started

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = ArchiveError(message)
            _write(self.folder / FAILED, message.encode())

    def finish(self) -> None:
        """Wait for the unpacking to end; raise its ArchiveError if it failed."""
        self._thread.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Stop at the next member (the job failed or was interrupted)."""
        self._stop.set()
        self._thread.join()


class _Stopped(Exception):
    """Raised into py7zr's extraction to end it early."""


def wrong_members(archive: str, day: str, wrong: list[str], missing: list[str]) -> str:
    problems = [f"{len(wrong)} read with other bytes than the manifest: {wrong[:3]}"] if wrong else []
    problems += [f"{len(missing)} never read: {missing[:3]}"] if missing else []
    return (f"{archive}: {'; '.join(problems)}. Check it with `tpdask archive --day {day}` "
            "(it verifies the archive)")


def _write(path: Path, raw: bytes) -> None:
    atomic_write(path, raw, durable=False)       # scratch: discarded with its run


def wait_for_member(folder: Path, name: str, timeout: float = WAIT_TIMEOUT_S) -> bytes:
    """The member's bytes once the unpacker has written them; ArchiveError if it failed."""
    path = folder / name
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        failed = folder / FAILED
        if failed.exists():
            raise ArchiveError(failed.read_text())
        if time.monotonic() > deadline:
            raise JobError(f"member {name} of the day's archive did not appear in {folder} "
                           f"within {timeout:.0f} s: did the job's client die? Run process again")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
