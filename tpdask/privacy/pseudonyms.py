"""Pseudonyms of chatter logins: keyed hashes that still look like logins.

A pseudonym is ``_`` followed by the first 20 base32 letters (a–z, 2–7: 100 bits) of
HMAC-SHA256(key, login): 21 characters, so it matches the login rule
``^[a-z0-9_]{1,25}$`` and every later stage takes it as it takes a login; it is the same
for a login under the same key (in every run, on every machine) and tells nothing about
the login without the key. A Twitch login does not begin with ``_``, so a pseudonym is
told from a login at a glance (the verifier and the docs rely on the folder's marker, not
on this).

Two logins could share a pseudonym (a collision): with 100 bits, one is expected after
about 10^15 logins, but it is looked for anyway: :class:`CollisionWatch` keeps, for the
pseudonyms a run has made, the next 64 bits of the same HMAC, and a pseudonym met again
with other bits stands for two logins. The run reports it (the pseudonym only).
"""

from __future__ import annotations

import base64
import hmac

import numpy as np

from tpdask.privacy.keys import derive, key_id

PREFIX = "_"
LENGTH = 20                      # base32 letters after the prefix (5 bits each)
REMEMBER = 2_000_000             # pseudonyms a watch keeps per generation (two generations)


class Pseudonymizer:
    """Logins → pseudonyms under one key (the key itself is kept only derived)."""

    def __init__(self, key: bytes) -> None:
        self._key = derive(key, "pseudonym-v1")
        self.key_id = key_id(key)
        self._cache: dict[str, tuple[str, int, int]] = {}

    def digest(self, login: str) -> tuple[str, int, int]:
        """(pseudonym, key, check) of a normalised login: key is the HMAC's bits 0–62 and
        check its bits 63–125, so equal keys and equal top 37 check bits mean the same
        pseudonym (bits 0–99), and then other low check bits mean another login."""
        hit = self._cache.get(login)
        if hit is not None:
            return hit
        raw = hmac.digest(self._key, login.encode(), "sha256")
        pseudonym = PREFIX + base64.b32encode(raw[:15]).decode().lower()[:LENGTH]
        number = int.from_bytes(raw[:16], "big")
        made = (pseudonym, number >> 65, (number >> 2) & ((1 << 63) - 1))
        if len(self._cache) >= 500_000:
            self._cache.clear()
        self._cache[login] = made
        return made

    def pseudonym(self, login: str) -> str:
        """The pseudonym of a normalised login."""
        return self.digest(login)[0]


def is_pseudonym(name: str) -> bool:
    """Whether ``name`` has the form of a pseudonym (``_`` + 20 of a–z, 2–7)."""
    return (len(name) == LENGTH + 1 and name.startswith(PREFIX)
            and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in name[1:]))


class CollisionWatch:
    """The pseudonyms a run made, with their check bits; reports one met with other bits.

    Kept as sorted numpy arrays (16 bytes a pseudonym), in two generations of up to
    :data:`REMEMBER` each: a collector running for months remembers the last few million
    logins it saw, in tens of megabytes.
    """

    SAME = 26          # check bits below the pseudonym's own (bits 100-125 of the HMAC)

    def __init__(self, remember: int = REMEMBER) -> None:
        self.remember = remember
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._generations = [empty, empty]
        self.collisions: set[str] = set()

    def check(self, made: list[tuple[str, int, int]]) -> list[str]:
        """Record (pseudonym, key, check) triples (:meth:`Pseudonymizer.digest`); return the
        pseudonyms newly found to stand for two logins."""
        if not made:
            return []
        names = [m[0] for m in made]
        keys = np.array([m[1] for m in made], dtype=np.int64)
        checks = np.array([m[2] for m in made], dtype=np.int64)
        order = np.lexsort((checks, keys))
        keys, checks = keys[order], checks[order]
        names = [names[i] for i in order]
        # within the batch: neighbours with one pseudonym and other logins
        same = (keys[1:] == keys[:-1]) & ((checks[1:] >> self.SAME) == (checks[:-1] >> self.SAME))
        found = [names[i + 1] for i in np.flatnonzero(same & (checks[1:] != checks[:-1]))]
        known = np.zeros(len(keys), dtype=bool)
        for old_keys, old_checks in self._generations:
            at = np.minimum(np.searchsorted(old_keys, keys), max(len(old_keys) - 1, 0))
            hit = np.zeros(len(keys), dtype=bool)
            if len(old_keys):
                hit = (old_keys[at] == keys) & ((old_checks[at] >> self.SAME)
                                                 == (checks >> self.SAME))
                found += [names[i] for i in np.flatnonzero(hit & (old_checks[at] != checks))]
            known |= hit
        current_keys, current_checks = self._generations[0]
        merged_keys = np.concatenate([current_keys, keys[~known]])
        merged_checks = np.concatenate([current_checks, checks[~known]])
        order = np.argsort(merged_keys, kind="stable")
        current = (merged_keys[order], merged_checks[order])
        if len(current[0]) > self.remember:
            empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
            self._generations = [empty, current]
        else:
            self._generations = [current, self._generations[1]]
        fresh = sorted({p for p in found if p not in self.collisions})
        self.collisions.update(fresh)
        return fresh
