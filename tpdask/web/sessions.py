"""The sessions and login failures tables of the site database (:mod:`tpdask.web.sitedb`);
:mod:`tpdask.web.auth` uses them for requests.

A session is a random token in an HttpOnly, SameSite cookie; the database keeps only its
SHA-256, the user, a CSRF token for the session's forms and an expiry. A user's role is
read with the session on every request, so removing a user or changing its role takes
effect at once.

The throttle counts failed logins per client address and per account name over a
sliding window (:func:`retry_after` says who is refused, 429, and for how long): a client
at the limit is refused; an account at the limit refuses only the clients that failed on
it, so nobody can lock the owner out by failing on purpose.
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
    """Seconds until this client may try this account again; 0 when it may now.

    Two limits, each ``limit`` failures within ``window`` seconds: the client's failures
    (on any account) stop that client; the account's failures (from anywhere) stop only
    the clients that have themselves failed on it within the window. So a flood of wrong
    passwords from one address, or from many, never keeps the account's owner out when
    the owner's address has not failed too; and once an account is under attack, each
    attacking address gets one guess at it before it waits."""
    now = time.time()
    since = now - window
    wait = 0.0
    mine = db.read("SELECT at FROM failures WHERE kind = 'client' AND key = ? AND at > ? "
                   "ORDER BY at DESC LIMIT ?", (client, since, limit))
    if len(mine) >= limit:
        wait = mine[-1][0] + window - now
    tried = db.read("SELECT at FROM failures WHERE kind = 'pair' AND key = ? AND at > ? "
                    "ORDER BY at DESC LIMIT 1", (_pair(client, account), since))
    if tried:
        theirs = db.read("SELECT at FROM failures WHERE kind = 'account' AND key = ? "
                         "AND at > ? ORDER BY at DESC LIMIT ?", (account, since, limit))
        if len(theirs) >= limit:
            # until the account's count falls below the limit, or this client's last
            # failure on it leaves the window, whichever comes first
            wait = max(wait, min(theirs[-1][0], tried[0][0]) + window - now)
    return int(wait) + 1 if wait > 0 else 0


def record_failure(db: SiteDB, client: str, account: str, window: float) -> None:
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM failures WHERE at < ?", (now - max(window, 86400),))
        conn.executemany("INSERT INTO failures (kind, key, at) VALUES (?, ?, ?)",
                         [("client", client, now), ("account", account, now),
                          ("pair", _pair(client, account), now)])


def clear_account_failures(db: SiteDB, account: str, client: str) -> None:
    """A right password ends the account's failure count (not the client's, which also
    counts its failures on other accounts)."""
    with db.write() as conn:
        conn.execute("DELETE FROM failures WHERE kind = 'account' AND key = ?", (account,))
        conn.execute("DELETE FROM failures WHERE kind = 'pair' AND key = ?",
                     (_pair(client, account),))


def _pair(client: str, account: str) -> str:
    return f"{client}\n{account}"
