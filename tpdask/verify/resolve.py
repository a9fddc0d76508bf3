"""What one Helix ``users`` call asks and what its answer means (no I/O here).

A call carries at most :data:`KEYS_PER_CALL` keys: first the ``id=`` keys of the
accounts the previous call did not find by login but whose user id is known, then
``login=`` keys of new candidates. So calls ≈ (accounts + accounts not found by login
with a known id) / 100, and every account is decided by at most two calls in a row.

Per the account status contract: found by login → ``active`` (its id recorded, and
``login_now`` = the login); not found by login but its user id found under another
login → ``renamed`` (``login_now`` = that login); otherwise → ``gone``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEYS_PER_CALL = 100


@dataclass(frozen=True)
class Candidate:
    viewer: str
    user_id: str | None


@dataclass
class Call:
    """The keys of one call: ``by_id`` are carried over from the previous call."""

    by_id: list[Candidate] = field(default_factory=list)
    by_login: list[Candidate] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.by_id) + len(self.by_login)


def decide(call: Call, users: list[dict], at: float) -> tuple[list[dict], list[Candidate]]:
    """(statuses decided by this answer, candidates to look up by id in the next call)."""
    by_login = {str(u.get("login", "")).lower(): u for u in users}
    by_id = {str(u.get("id", "")): u for u in users}
    statuses, by_id_next = [], []
    for c in call.by_login:
        user = by_login.get(c.viewer)
        if user is not None:
            statuses.append(_status(c.viewer, str(user["id"]), "active", c.viewer, at))
        elif c.user_id:
            by_id_next.append(c)
        else:
            statuses.append(_status(c.viewer, None, "gone", None, at))
    for c in call.by_id:
        user = by_id.get(c.user_id or "")
        if user is None:
            statuses.append(_status(c.viewer, c.user_id, "gone", None, at))
        else:
            login = str(user["login"]).lower()
            # the same login: the login lookup missed it a moment ago; it is there now
            state = "active" if login == c.viewer else "renamed"
            statuses.append(_status(c.viewer, c.user_id, state, login, at))
    return statuses, by_id_next


def _status(viewer: str, user_id: str | None, status: str, login_now: str | None,
            at: float) -> dict:
    return {"viewer": viewer, "user_id": user_id, "status": status, "login_now": login_now,
            "checked_at": at}
