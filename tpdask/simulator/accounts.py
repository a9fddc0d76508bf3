"""Twitch accounts as /helix/users sees them: some renamed, suspended or deleted.

Why: the verifier must cope with what Twitch really does to accounts after they were
seen in a chat.  User ids never change; a renamed account answers its id with a new
login and its old login is unknown; suspended and deleted accounts are simply absent.
Which account suffers what is a pure function of (seed, user id), so it does not depend
on the scale, the day or the order of requests.  Streamers, bots and the moderator are
never touched, so the streams and chats stay consistent.  Tests can also change an
account while the simulator runs (:meth:`Accounts.rename`, :meth:`Accounts.remove`), as a
user or Twitch would between two runs of the verifier; ``status_of`` and ``summary`` then
tell the new truth.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from tpdask.samples import LOGIN_RE

ACTIVE, RENAMED, SUSPENDED, DELETED = "active", "renamed", "suspended", "deleted"


@dataclass(frozen=True)
class Account:
    """One account as /helix/users answers it."""

    id: str
    login: str
    broadcaster_type: str = ""


def _uniform(ids: np.ndarray, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per user id (splitmix64 of id and seed)."""
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x ^= np.uint64((seed * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class Accounts:
    """The account directory: every login of the model plus the moderator."""

    def __init__(self, users: dict[str, str], protected: dict[str, str], seed: int,
                 fractions: tuple[float, float, float]):
        """``users``: login -> id of every model account; ``protected``: login -> type
        (``"partner"`` for streamers, ``"bot"``, ``"moderator"``) of accounts kept intact;
        ``fractions``: (renamed, suspended, deleted) shares of the other accounts."""
        self.original: dict[str, str] = dict(users)  # the login each id had in the chats
        self._kind = dict(protected)
        self.status: dict[str, str] = {}  # id -> non-active status
        self.renamed: dict[str, str] = {}  # old login -> new login
        self._by_id: dict[str, str] = {uid: login for login, uid in self.original.items()}
        logins = [x for x in self.original if x not in self._kind]
        ids = np.array([int(self.original[x]) for x in logins], dtype=np.int64)
        u = _uniform(ids, seed)
        r, s, d = fractions
        fate = np.select([u < r, u < r + s, u < r + s + d], [1, 2, 3], 0)
        for k in np.flatnonzero(fate).tolist():
            login, uid = logins[k], str(ids[k])
            kind = int(fate[k])
            if kind == 1:
                new = self._new_login(login, int(u[k] * 1e9))
                self.renamed[login] = new
                self._by_id[uid] = new
                self.status[uid] = RENAMED
            else:
                self.status[uid] = SUSPENDED if kind == 2 else DELETED
        self._by_login: dict[str, str] = {login: uid for uid, login in self._by_id.items()
                                          if self.status.get(uid) not in (SUSPENDED, DELETED)}
        self._lock = threading.Lock()

    def _new_login(self, old: str, salt: int) -> str:
        """A fresh valid login derived from ``old`` that no account uses."""
        k = salt % 997
        while True:
            new = f"{old[:18]}_r{k}"
            if new not in self.original and new not in self.renamed.values():
                return new
            k += 1

    def _account(self, uid: str) -> Account:
        login = self._by_id[uid]
        kind = self._kind.get(login, "")
        return Account(id=uid, login=login, broadcaster_type="partner" if kind == "partner" else "")

    def by_id(self, uid: str) -> Account | None:
        """The live account with this id, or None (unknown, suspended or deleted)."""
        if uid not in self._by_id or self.status.get(uid) in (SUSPENDED, DELETED):
            return None
        return self._account(uid)

    def by_login(self, login: str) -> Account | None:
        """The live account currently using ``login`` (old logins of renamed accounts: None)."""
        uid = self._by_login.get(login.lower())
        return None if uid is None else self._account(uid)

    def id_of(self, original_login: str) -> str | None:
        """The id of the account that had ``original_login`` in the chats."""
        return self.original.get(original_login)

    def status_of(self, original_login: str) -> str:
        """active / renamed / suspended / deleted for a login as seen in the chats."""
        uid = self.original.get(original_login)
        if uid is None:
            raise KeyError(original_login)
        return self.status.get(uid, ACTIVE)

    # ------------------------------------------------------------ changes (tests)
    def rename(self, login: str, new: str) -> None:
        """The live account using ``login`` takes the login ``new`` from now on (what a
        user does on Twitch between two checks); its id stays."""
        new = new.lower()
        if not LOGIN_RE.fullmatch(new):
            raise ValueError(f"{new!r} is not a valid login")
        with self._lock:
            uid = self._live_id(login)
            if new in self._by_login or new in self.original:
                raise ValueError(f"login {new!r} is taken")
            del self._by_login[login.lower()]
            self._by_login[new], self._by_id[uid] = uid, new
            original = self._by_id_original[uid]
            self.renamed[original] = new
            self.status[uid] = RENAMED

    def remove(self, login: str, status: str = DELETED) -> None:
        """Suspend or delete the live account using ``login``: /helix/users stops answering it."""
        if status not in (SUSPENDED, DELETED):
            raise ValueError(f"status must be {SUSPENDED!r} or {DELETED!r}, got {status!r}")
        with self._lock:
            uid = self._live_id(login)
            del self._by_login[login.lower()]
            self.renamed.pop(self._by_id_original[uid], None)
            self.status[uid] = status

    def _live_id(self, login: str) -> str:
        uid = self._by_login.get(login.lower())
        if uid is None:
            raise KeyError(f"no live account uses the login {login!r}")
        return uid

    @property
    def _by_id_original(self) -> dict[str, str]:
        """id -> the login it had in the chats (built on first change)."""
        if not hasattr(self, "_original_of"):
            self._original_of = {uid: login for login, uid in self.original.items()}
        return self._original_of

    def summary(self) -> dict:
        """Ground truth for tests: renamed old -> new, and the absent logins."""
        gone = {SUSPENDED: [], DELETED: []}
        for login, uid in self.original.items():
            st = self.status.get(uid)
            if st in gone:
                gone[st].append(login)
        return {"renamed": dict(sorted(self.renamed.items())),
                "suspended": sorted(gone[SUSPENDED]), "deleted": sorted(gone[DELETED])}


def expected_status(accounts: Accounts, login: str) -> tuple[str, str | None]:
    """(status, login_now) the contract gives a login of the model whose id is known."""
    state = accounts.status_of(login)
    if state == "active":
        return "active", login
    if state == "renamed":
        return "renamed", accounts.renamed[login]
    return "gone", None
