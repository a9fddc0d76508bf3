"""Twitch credentials, from the environment or a 0600 file; never logged.

Environment: TPDASK_CLIENT_ID, TPDASK_CLIENT_SECRET, TPDASK_USER_TOKEN (optional, a user
token with moderator:read:chatters) and TPDASK_REFRESH_TOKEN (optional, renews it). File (`--secrets_file`, or TPDASK_SECRETS_FILE):
lines `NAME=value` with the same names; it must not be readable by group or others.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tpdask.errors import ConfigError

NAMES = ("TPDASK_CLIENT_ID", "TPDASK_CLIENT_SECRET", "TPDASK_USER_TOKEN",
         "TPDASK_REFRESH_TOKEN")


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    user_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)


def read_secrets_file(path: Path) -> dict[str, str]:
    """The NAME=value lines of a secrets file; ConfigError when it is missing, unreadable
    or readable by other users (--secrets_file or TPDASK_SECRETS_FILE names it)."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"secrets file {path} is not a file: give --secrets_file "
                              "(or TPDASK_SECRETS_FILE) a file of NAME=value lines")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by other users (mode {stat.filemode(mode)}); "
                              f"run `chmod 600 {path}`")
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no secrets file at {path}: check --secrets_file (or "
                          "TPDASK_SECRETS_FILE), or set the TPDASK_CLIENT_ID and "
                          "TPDASK_CLIENT_SECRET environment variables instead") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the secrets file {path}: {exc}") from None
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def load_credentials(secrets_file: str | None = None) -> Credentials:
    """Credentials from the environment, else from the secrets file."""
    values = {n: os.environ[n] for n in NAMES if os.environ.get(n)}
    path = secrets_file or os.environ.get("TPDASK_SECRETS_FILE")
    if path:
        values = {**read_secrets_file(Path(path)), **values}
    missing = [n for n in NAMES[:2] if not values.get(n)]
    if missing:
        raise ConfigError(f"no Twitch credentials: set {' and '.join(missing)} in the environment "
                          "or in a 0600 file given with --secrets_file (lines NAME=value)")
    return Credentials(values["TPDASK_CLIENT_ID"], values["TPDASK_CLIENT_SECRET"],
                       values.get("TPDASK_USER_TOKEN"), values.get("TPDASK_REFRESH_TOKEN"))
