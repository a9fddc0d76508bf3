"""The two secrets of the privacy work, where they come from, and what is derived from them.

- The **pseudonym key** (pseudonymous mode): ``TPDASK_PSEUDONYM_KEY`` (the key itself) or
  ``TPDASK_PSEUDONYM_KEY_FILE`` (a file holding it, readable by its owner only). Never a
  command-line option, never printed: messages name the variable, and a key's *id* (an
  HMAC of a fixed text, 16 hex) says which key made a folder's pseudonyms.
- The **folder key**, ``<data_dir>/privacy/folder.key`` (32 random bytes as hex, 0600),
  made on first use: it keys the suppression list and the order of the users of a
  research export, so that neither holds or reveals a login.

Each use takes its own key derived by HMAC with a label, so the uses stay apart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from tpdask.errors import ConfigError
from tpdask.privacy.modes import make_private_dir

KEY_ENV = "TPDASK_PSEUDONYM_KEY"
KEY_FILE_ENV = "TPDASK_PSEUDONYM_KEY_FILE"
MIN_KEY_BYTES = 16
FOLDER_KEY = "folder.key"


def privacy_dir(data_dir: Path | str) -> Path:
    """``<data_dir>/privacy``: the suppression list, the folder key, erase journals."""
    return Path(data_dir) / "privacy"


def derive(key: bytes, label: str) -> bytes:
    """A 32-byte key for one use of ``key``."""
    return hmac.digest(key, b"tpdask/" + label.encode(), "sha256")


def key_id(key: bytes) -> str:
    """What names a key in markers and messages (16 hex): says which key, reveals nothing."""
    return derive(key, "key-id").hex()[:16]


def pseudonym_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The pseudonym key from the environment, None when pseudonymous mode is off.

    ConfigError (never quoting the key) when both variables are set, the file is missing,
    readable by others or the key is shorter than :data:`MIN_KEY_BYTES` bytes.
    """
    env = os.environ if environ is None else environ
    direct, path = env.get(KEY_ENV), env.get(KEY_FILE_ENV)
    if direct and path:
        raise ConfigError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set: set one of them")
    if direct:
        key = direct.strip().encode()
        where = KEY_ENV
    elif path:
        key = _read_key_file(Path(path))
        where = f"{KEY_FILE_ENV} ({path})"
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the pseudonym key in {where} is too short: use at least "
                          f"{MIN_KEY_BYTES} bytes, e.g. the output of "
                          "`python3 -c 'import secrets; print(secrets.token_hex(32))'`")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{KEY_FILE_ENV} names {path}, which is not a file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"the pseudonym key file {path} is readable by other users "
                              f"(mode {stat.filemode(info.st_mode)}): run `chmod 600 {path}`")
        return path.read_bytes().strip()
    except FileNotFoundError:
        raise ConfigError(f"{KEY_FILE_ENV} names {path}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the pseudonym key file {path}: {exc.strerror}") from None


def folder_key(data_dir: Path | str, create: bool = True) -> bytes | None:
    """The data folder's own key (``privacy/folder.key``), made 0600 on first use when
    ``create``; None when it does not exist and ``create`` is false."""
    path = privacy_dir(data_dir) / FOLDER_KEY
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return None
        make_private_dir(path.parent)
        fresh = secrets.token_hex(32)
        try:   # O_EXCL: two processes making it at once keep the first one's
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return folder_key(data_dir, create=False)
        with os.fdopen(fd, "w") as f:
            f.write(fresh + "\n")
            f.flush()
            os.fsync(f.fileno())
        text = fresh
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{path} is not a tpdask folder key (64 hex characters); restore it "
                          "from a backup (the suppression list cannot be read without it)") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{path} holds a key that is too short; restore it from a backup")
    return key


def mac(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` under ``key``, hex."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
