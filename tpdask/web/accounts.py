"""Site accounts: ``admin`` and ``visitor`` users with scrypt password hashes.

The CLI (`tpdask users add|list|remove`) is a thin layer over :func:`add_user`,
:func:`list_users` and :func:`remove_user`; the site checks passwords with
:func:`check_password`. A hash is ``scrypt$n$r$p$<salt hex>$<key hex>``: the parameters
travel with it, so raising them later leaves old hashes readable.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

from tpdask.errors import ConfigError, UsageError
from tpdask.web.sitedb import SiteDB, site_db_path

ROLES = ("admin", "visitor")
NAME = re.compile(r"^[a-z0-9_.-]{1,32}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: scrypt cost: 16 MiB and ~50 ms a check here, which also slows password guessing.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: A hash to check against when the user does not exist, so that both cases cost the same.
_DUMMY = None


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2,
                         dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${key.hex()}"


def verify_hash(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=128 * int(r) * int(n) * 2, dklen=len(key) // 2)
    except (ValueError, OverflowError):
        return False
    return hmac.compare_digest(got.hex(), key)


def check_name(name: object) -> str:
    text = str(name)
    if not NAME.match(text):
        raise UsageError(f"bad user name {text!r}: use 1 to 32 of a-z, 0-9, '_', '.', '-'")
    return text


def check_role(role: object) -> str:
    if role not in ROLES:
        raise UsageError(f"bad role {role!r}: choose --role admin or --role visitor")
    return str(role)


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return password


def read_new_password() -> str:
    """TPDASK_NEW_PASSWORD when set, else asked twice without echo."""
    given = os.environ.get("TPDASK_NEW_PASSWORD")
    if given is not None:
        return check_new_password(given)
    try:
        first = getpass.getpass("password: ")
        second = getpass.getpass("password again: ")
    except EOFError:
        raise ConfigError("no password given: type it twice, or set TPDASK_NEW_PASSWORD") \
            from None
    if first != second:
        raise ConfigError("the two passwords differ; nothing changed")
    return check_new_password(first)


def add_user(data_dir: Path, name: str, role: str, password: str) -> bool:
    """Add a user, or replace the role and password of an existing one (its sessions end).
    Returns True when the user is new."""
    name, role = check_name(name), check_role(role)
    hashed = hash_password(check_new_password(password))
    db = SiteDB(data_dir)
    try:
        with db.write() as conn:
            new = conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None
            conn.execute("INSERT OR REPLACE INTO users (name, role, hash, created_at) "
                         "VALUES (?, ?, ?, ?)", (name, role, hashed, time.time()))
            conn.execute("DELETE FROM sessions WHERE name = ?", (name,))
        return new
    finally:
        db.close()


def list_users(data_dir: Path) -> list[tuple[str, str, float]]:
    """(name, role, created_at) of every user, by name. Only reads: without a site
    database (no user added yet) there is none, and nothing is created."""
    if not site_db_path(data_dir).is_file():
        return []
    db = SiteDB(data_dir)
    try:
        rows = db.read("SELECT name, role, created_at FROM users ORDER BY name")
        return [(str(n), str(r), float(c)) for n, r, c in rows]
    finally:
        db.close()


def remove_user(data_dir: Path, name: str) -> int:
    """Remove a user and end its sessions; returns how many sessions ended."""
    name = check_name(name)
    db = SiteDB(data_dir)
    try:
        with db.write() as conn:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise ConfigError(f"no site user {name!r}; `tpdask users list` shows them")
            return conn.execute("DELETE FROM sessions WHERE name = ?", (name,)).rowcount
    finally:
        db.close()


def check_password(db: SiteDB, name: str, password: str) -> str | None:
    """The user's role when the password is right, else None (same cost either way)."""
    global _DUMMY
    rows = db.read("SELECT role, hash FROM users WHERE name = ?", (name,)) \
        if NAME.match(name) else []
    if not rows:
        _DUMMY = _DUMMY or hash_password(secrets.token_hex(8))
        verify_hash(password, _DUMMY)
        return None
    role, stored = rows[0]
    return str(role) if verify_hash(password, stored) else None
