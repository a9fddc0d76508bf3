"""The website's own small database, ``<data_dir>/web/site.sqlite``, and its secret.

Site accounts are not analytics: they live next to the data folder the site reads (its
lake and archives too), in a folder only the owner may enter (0700) and a file only the
owner may read (0600), never in the analytics store. Tables:

- ``users``: name, role, password hash (scrypt, its parameters and salt stored with it);
- ``sessions``: the SHA-256 of each session token (the cookie holds the token itself, so
  a copy of this file opens no session), its user, its CSRF token and expiry;
- ``failures``: failed logins by client address, by account name and by both, for the
  throttle.
- ``access_log``: which account opened which viewer's page or lookup, and when
  (:mod:`tpdask.web.access_log`).

The server secret keys pseudonyms and the login form's CSRF token: ``TPDASK_WEB_SECRET``
when set, else ``<data_dir>/web/secret`` (32 random bytes, 0600), created on first use.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tpdask.errors import ConfigError, StoreError
from tpdask.files import temp_path
from tpdask.stores.sqlite import switch_to_wal

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,          -- scrypt$n$r$p$salt$key (hex)
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY, -- sha256 of the cookie's token
        name TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name)",
    """CREATE TABLE IF NOT EXISTS failures (
        kind TEXT NOT NULL,          -- 'client', 'account' or 'pair' (client and account)
        key TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS failures_key ON failures (kind, key, at)",
    """CREATE TABLE IF NOT EXISTS access_log (
        at REAL NOT NULL,
        account TEXT NOT NULL,       -- the site account that opened the page
        role TEXT NOT NULL,
        page TEXT NOT NULL,          -- 'viewer' (a pseudonym's page) or 'lookup' (by login)
        viewer TEXT NOT NULL         -- the viewer's pseudonym token (tpdask/web/pseudonyms.py)
    )""",
    "CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at)",
)


def web_dir(data_dir: Path) -> Path:
    """``<data_dir>/web``, created 0700 (and made 0700 if it was not)."""
    folder = Path(data_dir) / "web"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    except OSError as e:
        raise ConfigError(f"cannot create the site's folder {folder}: {e} — check --data_dir "
                          "and its permissions") from None
    return folder


def server_secret(data_dir: Path) -> bytes:
    """The server secret: TPDASK_WEB_SECRET, else ``<data_dir>/web/secret`` (made once)."""
    given = os.environ.get("TPDASK_WEB_SECRET")
    if given:
        if len(given) < 16:
            raise ConfigError("TPDASK_WEB_SECRET is too short: give at least 16 random "
                              "characters (or unset it to use <data_dir>/web/secret)")
        return hashlib.sha256(b"tpdask-web-secret:" + given.encode()).digest()
    path = web_dir(data_dir) / "secret"
    if not path.exists():
        _create_secret(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by other users; run `chmod 600 {path}`")
        value = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the site's secret {path}: {e}") from None
    if len(value) != 32:
        raise ConfigError(f"{path} is not a site secret (32 bytes); delete it to make a new "
                          "one (pseudonyms in saved links change)")
    return value


def _create_secret(path: Path) -> None:
    """Write a new secret under a private name, then link it into place: a process that
    starts at the same moment (two server workers, `users add`) finds either no secret or
    the whole of one, never an empty file, and the first link wins."""
    temp = temp_path(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
        os.link(temp, path)
    except FileExistsError:
        pass                      # another process made it first: use that one
    except OSError as e:
        raise ConfigError(f"cannot write the site's secret {path}: {e}") from None
    finally:
        temp.unlink(missing_ok=True)


def site_db_path(data_dir: Path) -> Path:
    """Where the site database is (or will be): ``<data_dir>/web/site.sqlite``."""
    return Path(data_dir) / "web" / "site.sqlite"


class SiteDB:
    """``site.sqlite``: one connection per thread (the server runs requests on threads)."""

    def __init__(self, data_dir: Path) -> None:
        web_dir(data_dir)
        self.path = site_db_path(data_dir)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        os.chmod(self.path, 0o600)
        with self.write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                switch_to_wal(conn)   # a new file opened by two processes at once: retried
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as e:
                raise StoreError(f"cannot open the site database {self.path}: {e}") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the write lock taken up front)."""
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise StoreError(f"the site database {self.path} failed: {e}") from None

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self.conn().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"the site database {self.path} failed: {e}") from None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
