"""The suppression list: who was erased, kept out of every later collection, import and
processing — without holding a login.

``<data_dir>/privacy/suppressed.txt`` (0600), one line per erased identifier (a login, or
in pseudonymous mode its pseudonym)::

    # tpdask suppression list v1: <tag> <mac> per erased identifier
    3f9c0e1a2b4d5e6f 5a0c…(64 hex)

``mac`` is HMAC-SHA256 of the identifier under a key derived from the data folder's key
(``privacy/folder.key``): without that key the list tells nothing, not even whether a
given login is on it. ``tag`` is a 64-bit keyed hash of the identifier that numpy computes
for a whole column of logins at once (a polynomial hash seeded from the same key): the day
job tags each batch's distinct logins and computes the HMAC only of those whose tag is
listed, so honouring the list costs it a vectorised pass, not an HMAC per login.

Readers reload the list when the file changes (:meth:`Suppression.refresh`), so a
collector running for months honours an erasure from its next tick.
"""

from __future__ import annotations

import fcntl
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

from tpdask.privacy.keys import derive, folder_key, privacy_dir
from tpdask.privacy.modes import make_private_dir, write_private

LIST_NAME = "suppressed.txt"
HEADER = "# tpdask suppression list v1: <tag> <mac> per erased identifier\n"


def list_path(data_dir: Path | str) -> Path:
    return privacy_dir(data_dir) / LIST_NAME


def keyed_tags(strings: pa.StringArray, seed: int, base: int) -> np.ndarray:
    """A keyed 64-bit polynomial hash of each string (ASCII logins), vectorised."""
    strings = strings.cast(pa.string()) if strings.type != pa.string() else strings
    if len(strings) == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[
        strings.offset: strings.offset + len(strings) + 1].astype(np.int64)
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8) if strings.buffers()[2] \
        else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(len(strings), np.uint64(seed), dtype=np.uint64)
    b = np.uint64(base)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max()) if len(lengths) else 0):
            active = np.flatnonzero(lengths > j)
            h[active] = h[active] * b + data[starts[active] + j]
        h ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    return h


class Suppression:
    """The list of a data folder, loaded; empty when the folder has none."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.path = list_path(data_dir)
        self._stamp: tuple | None = None
        self._key: bytes | None = None
        self.tags: np.ndarray = np.zeros(0, dtype=np.uint64)
        self.macs: frozenset[str] = frozenset()
        self.refresh()

    @property
    def empty(self) -> bool:
        return not self.macs

    def __len__(self) -> int:
        return len(self.macs)

    def _keys(self) -> tuple[bytes, int, int]:
        if self._key is None:
            self._key = folder_key(self.data_dir, create=True)
        assert self._key is not None
        seeds = derive(self._key, "suppression-tag")
        base = int.from_bytes(seeds[8:16], "big") | 1
        return derive(self._key, "suppression-mac"), int.from_bytes(seeds[:8], "big"), base

    def refresh(self) -> bool:
        """Read the list again if the file changed since; True when it was read."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            changed = self._stamp is not None
            self._stamp, self.tags, self.macs = None, np.zeros(0, np.uint64), frozenset()
            return changed
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp == self._stamp:
            return False
        tags, macs = [], set()
        for line in self.path.read_text().splitlines():
            words = line.split()
            if len(words) == 2 and not line.startswith("#"):
                tags.append(int(words[0], 16))
                macs.add(words[1])
        self._stamp = stamp
        self.tags = np.unique(np.array(tags, dtype=np.uint64))
        self.macs = frozenset(macs)
        return True

    def entry(self, identifier: str) -> tuple[int, str]:
        """(tag, mac) of one identifier, as a line of the list holds it."""
        mac_key, seed, base = self._keys()
        tag = int(keyed_tags(pa.array([identifier], pa.string()), seed, base)[0])
        return tag, hmac.digest(mac_key, identifier.encode(), "sha256").hex()

    def contains(self, identifier: str) -> bool:
        return not self.empty and self.entry(identifier)[1] in self.macs

    def mask(self, logins: pa.Array) -> np.ndarray:
        """Which of ``logins`` (distinct normalised logins, or pseudonyms) are suppressed."""
        found = np.zeros(len(logins), dtype=bool)
        if self.empty or len(logins) == 0:
            return found
        mac_key, seed, base = self._keys()
        strings = logins.cast(pa.string()) if isinstance(logins, pa.Array) else \
            pa.array(list(logins), pa.string())
        candidates = np.flatnonzero(np.isin(keyed_tags(strings, seed, base), self.tags))
        for i in candidates.tolist():
            value = strings[i].as_py()
            if value is not None and hmac.digest(
                    mac_key, value.encode(), "sha256").hex() in self.macs:
                found[i] = True
        return found

    def add(self, identifiers: Iterable[str]) -> int:
        """Put identifiers on the list (atomically, one writer at a time); how many are new."""
        make_private_dir(self.path.parent)
        fd = os.open(self.path.parent / ".suppressed.lock", os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._stamp = None
            self.refresh()
            lines = {f"{tag:016x} {mac}" for tag, mac in map(self.entry, identifiers)
                     if mac not in self.macs}
            if lines:
                old = self.path.read_text().splitlines() if self.path.exists() else []
                kept = sorted({line for line in old if line and not line.startswith("#")}
                              | lines)
                write_private(self.path, (HEADER + "\n".join(kept) + "\n").encode())
                self.refresh()
        return len(lines)


def load(data_dir: Path | str) -> Suppression | None:
    """The folder's list when it has entries, else None (nothing to honour: no key read)."""
    if not os.path.exists(list_path(data_dir)):
        return None
    suppression = Suppression(data_dir)
    return None if suppression.empty else suppression
