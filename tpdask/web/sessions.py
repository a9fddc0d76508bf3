"""The sessions and login failures tables of the site database (:mod:`tpdask.web.sitedb`);
:mod:`tpdask.web.auth` uses them for requests.

A session is a random token in an HttpOnly, SameSite cookie; the database keeps only its
SHA-256, the user, a CSRF token for the session's forms and an expiry. A user's role is
read with the session on every request, so removing a user or changing its role takes
effect at once.

The throttle counts failed logins per client address and per account name over a
sliding window; at the limit, logins are refused (429) until the oldest failure of the
window is older than the window.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from tpdask.web.sitedb import SiteDB


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(db: SiteDB, name: str, hours: float) -> str:
    """A new session of ``name``; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        conn.execute("INSERT INTO sessions (token_hash, name, csrf, created_at, expires_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (_digest(token), name, secrets.token_urlsafe(32), now, now + hours * 3600))
    return token


def get_session(db: SiteDB, token: str | None) -> Session | None:
    """The live session of a cookie's token, with its user's current role; else None."""
    if not token or len(token) > 100:
        return None
    rows = db.read("SELECT s.name, u.role, s.csrf FROM sessions AS s JOIN users AS u "
                   "ON u.name = s.name WHERE s.token_hash = ? AND s.expires_at > ?",
                   (_digest(token), time.time()))
    return Session(*rows[0]) if rows else None


def end_session(db: SiteDB, token: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))


def retry_after(db: SiteDB, client: str, account: str, limit: int, window: float) -> int:
    """Seconds until this client may try this account again; 0 when it may now."""
    now = time.time()
    wait = 0.0
    for kind, key in (("client", client), ("account", account)):
        rows = db.read("SELECT at FROM failures WHERE kind = ? AND key = ? AND at > ? "
                       "ORDER BY at DESC LIMIT ?", (kind, key, now - window, limit))
        if len(rows) >= limit:
            wait = max(wait, rows[-1][0] + window - now)
    return int(wait) + 1 if wait > 0 else 0


def record_failure(db: SiteDB, client: str, account: str, window: float) -> None:
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM failures WHERE at < ?", (now - max(window, 86400),))
        conn.executemany("INSERT INTO failures (kind, key, at) VALUES (?, ?, ?)",
                         [("client", client, now), ("account", account, now)])


def clear_account_failures(db: SiteDB, account: str) -> None:
    """A right password ends the account's failure count (not the client's)."""
    with db.write() as conn:
        conn.execute("DELETE FROM failures WHERE kind = 'account' AND key = ?", (account,))
