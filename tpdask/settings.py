"""Settings, declared once: name, default, environment variable, help.

The CLI reads its global options from this list, `tpdask` with no arguments prints it,
and `tests/test_docs.py` checks that docs/settings.md documents every entry. A value
comes from (highest first) the command line, the environment, then the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The shipped list of known bot accounts (the analytics contract's default).
KNOWN_BOTS = ("nightbot", "streamelements", "moobot", "streamlabs", "fossabot", "wizebot",
              "soundalerts", "commanderroot", "sery_bot", "kofistreambot")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    env: str
    help: str
    kind: type = str
    choices: tuple[str, ...] = ()     # the values a str setting may take (none: any)
    zero: bool = False                # a number that may be 0 (retention: 0 = for ever)


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "./data", "TPDASK_DATA_DIR",
            "folder holding samples/, archive/, lake/, quarantine/ and the SQLite store"),
    Setting("store", None, "TPDASK_STORE",
            "serving store URI: sqlite:///<path> or mongodb://host:port/db "
            "(default sqlite:///<data_dir>/tpdask.sqlite)"),
    Setting("interval", 300, "TPDASK_INTERVAL", "sampling interval in seconds", int),
    Setting("max_gap", 900, "TPDASK_MAX_GAP",
            "largest step between two samples that still continues a session, seconds", int),
    Setting("helix_url", "https://api.twitch.tv/helix", "TPDASK_HELIX_URL",
            "base URL of the Twitch Helix API"),
    Setting("auth_url", "https://id.twitch.tv/oauth2", "TPDASK_AUTH_URL",
            "base URL of the Twitch OAuth2 endpoints"),
    Setting("irc_url", "irc://irc.chat.twitch.tv:6667", "TPDASK_IRC_URL",
            "address of the Twitch chat (IRC) server"),
    Setting("tmi_url", "https://tmi.twitch.tv", "TPDASK_TMI_URL",
            "base URL of an endpoint serving the old tmi chatters JSON"),
    Setting("archive_block_mb", 32.0, "TPDASK_ARCHIVE_BLOCK_MB",
            "archive: a day is cut into one block per core, each compressed on its own, "
            "but no block smaller than this many MiB", float),
    Setting("dashboard_host", "127.0.0.1", "TPDASK_DASHBOARD_HOST",
            "address the local Dask cluster's dashboard listens on (0.0.0.0: every interface)"),
    Setting("bot_concurrent", 3, "TPDASK_BOT_CONCURRENT",
            "a viewer in the chats of more streams than this at one sample is a bot that day", int),
    Setting("bot_hours", 20.0, "TPDASK_BOT_HOURS",
            "a viewer present this many hours of a day (samples × interval) is a bot that day",
            float),
    Setting("bot_list", ",".join(KNOWN_BOTS), "TPDASK_BOT_LIST",
            "known bot accounts, comma-separated (default: the shipped list)"),
    Setting("health_min_viewers", 200, "TPDASK_HEALTH_MIN_VIEWERS",
            "stream health: a broadcast is rated when its average Twitch viewer count "
            "reaches this", int),
    Setting("health_ratio", 0.5, "TPDASK_HEALTH_RATIO",
            "stream health: a rated broadcast is suspect when its logged-in share is below "
            "this times its peers' median share", float),
    Setting("retention_archive_days", 0, "TPDASK_RETENTION_ARCHIVE_DAYS",
            "`tpdask prune`: days the raw samples, archives and quarantine of a day are kept "
            "(0: for ever)", int, zero=True),
    Setting("retention_lake_days", 0, "TPDASK_RETENTION_LAKE_DAYS",
            "`tpdask prune`: days a day's lake (viewer-days, streams, chatter ids) and the "
            "analyser's files of it are kept (0: for ever)", int, zero=True),
    Setting("retention_store_days", 0, "TPDASK_RETENTION_STORE_DAYS",
            "`tpdask prune`: days the store keeps a day's viewer-day records (0: for ever)",
            int, zero=True),
    Setting("nightly_verify_limit", 100_000, "TPDASK_NIGHTLY_VERIFY_LIMIT",
            "accounts `tpdask nightly` checks at most per run (never-checked first, then "
            "those checked longest ago)", int),
    Setting("status_missing_ticks", 12, "TPDASK_STATUS_MISSING_TICKS",
            "`status`: ticks the collector may miss in a day (today so far, yesterday) "
            "before it is a warning", int),
    Setting("status_due_hours", 6.0, "TPDASK_STATUS_DUE_HOURS",
            "`status`: hours after a day's end by which it must be archived, processed and "
            "analysed, else a warning", float),
    Setting("status_disk_warn_gib", 10.0, "TPDASK_STATUS_DISK_WARN_GIB",
            "`status`: free space of the data folder's filesystem below this many GiB is a "
            "warning", float),
    Setting("status_disk_warn_percent", 5.0, "TPDASK_STATUS_DISK_WARN_PERCENT",
            "`status`: free space below this percentage of the filesystem is a warning", float),
    Setting("status_disk_fail_gib", 2.0, "TPDASK_STATUS_DISK_FAIL_GIB",
            "`status`: free space below this many GiB is failing", float),
    Setting("status_disk_fail_percent", 1.0, "TPDASK_STATUS_DISK_FAIL_PERCENT",
            "`status`: free space below this percentage of the filesystem is failing", float),
    Setting("web_workers", 1, "TPDASK_WEB_WORKERS",
            "server processes of `tpdask web` (each with its own thread pool and caches)", int),
    Setting("web_session_hours", 12.0, "TPDASK_WEB_SESSION_HOURS",
            "how long a website login lasts, hours", float),
    Setting("web_login_failures", 10, "TPDASK_WEB_LOGIN_FAILURES",
            "failed logins per client address, and per account, before the site refuses "
            "logins (429) for the rest of the window", int),
    Setting("web_login_window", 900, "TPDASK_WEB_LOGIN_WINDOW",
            "the login throttle's sliding window, seconds", int),
    Setting("web_secure_cookies", False, "TPDASK_WEB_SECURE_COOKIES",
            "mark the site's cookies Secure (set it when the site is served behind HTTPS)",
            bool),
    Setting("web_allowed_hosts", "", "TPDASK_WEB_ALLOWED_HOSTS",
            "host names the site answers to (Host header), comma-separated; *.example.org "
            "for subdomains, * for any; empty: localhost and the --host of `tpdask web`"),
    Setting("web_request_timeout", 10.0, "TPDASK_WEB_REQUEST_TIMEOUT",
            "seconds a connection has to send a whole request before the site closes it",
            float),
    Setting("web_max_connections", 1000, "TPDASK_WEB_MAX_CONNECTIONS",
            "open connections per server process; past it the oldest idle one is closed",
            int),
    Setting("web_min_group", 5, "TPDASK_WEB_MIN_GROUP",
            "a figure a visitor sees that counts fewer viewers than this is shown as "
            "\"fewer than N\"", int),
    Setting("progress", "auto", "TPDASK_PROGRESS",
            "progress of long commands on standard error: auto (a bar on a terminal, "
            "timestamped lines otherwise), bars, lines or off", choices=("auto", "bars",
                                                                         "lines", "off")),
)

BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """The resolved settings for one command run; small, frozen, picklable."""

    data_dir: Path = Path("./data")
    store: str = ""
    interval: int = 300
    max_gap: int = 900
    helix_url: str = BY_NAME["helix_url"].default
    auth_url: str = BY_NAME["auth_url"].default
    irc_url: str = BY_NAME["irc_url"].default
    tmi_url: str = BY_NAME["tmi_url"].default
    archive_block_mb: float = 32.0
    dashboard_host: str = BY_NAME["dashboard_host"].default
    bot_concurrent: int = 3
    bot_hours: float = 20.0
    bot_list: str = BY_NAME["bot_list"].default
    health_min_viewers: int = 200
    health_ratio: float = 0.5
    retention_archive_days: int = 0
    retention_lake_days: int = 0
    retention_store_days: int = 0
    nightly_verify_limit: int = 100_000
    status_missing_ticks: int = 12
    status_due_hours: float = 6.0
    status_disk_warn_gib: float = 10.0
    status_disk_warn_percent: float = 5.0
    status_disk_fail_gib: float = 2.0
    status_disk_fail_percent: float = 1.0
    web_workers: int = 1
    web_session_hours: float = 12.0
    web_login_failures: int = 10
    web_login_window: int = 900
    web_secure_cookies: bool = False
    web_allowed_hosts: str = ""
    web_request_timeout: float = 10.0
    web_max_connections: int = 1000
    web_min_group: int = 5
    progress: str = "auto"
    extra: dict = field(default_factory=dict)

    def bot_rules(self, plain: bool = False) -> BotRules:
        """The bot settings as the analyser applies them; in pseudonymous mode the known
        bots are listed by their pseudonyms, since that is how the data names them (so the
        key is needed: ConfigError in a pseudonymous folder without it). ``plain``: the
        names as configured (what results record they were computed with)."""
        from tpdask.privacy.keys import KEY_ENV, pseudonym_key

        known = {n.strip().lower() for n in self.bot_list.split(",") if n.strip()}
        key = None if plain else pseudonym_key()
        if key is None and not plain:
            from tpdask.errors import ConfigError
            from tpdask.privacy.policy import read_marker

            if read_marker(self.data_dir) is not None:
                raise ConfigError(f"this data folder holds pseudonyms: set {KEY_ENV} (or its "
                                  "file) for this command too, so the known-bot rule can "
                                  "find the bots by their pseudonyms")
        if key is not None:
            from tpdask.privacy.pseudonyms import Pseudonymizer

            known = {Pseudonymizer(key).pseudonym(n) for n in known}
        return BotRules(concurrent=self.bot_concurrent, hours=self.bot_hours,
                        known=tuple(sorted(known)))

    @property
    def samples_dir(self) -> Path:
        return self.data_dir / "samples"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "tmp"


@dataclass(frozen=True)
class BotRules:
    """When a viewer is a bot on a day (settings bot_concurrent, bot_hours, bot_list)."""

    concurrent: int = 3          # in the chats of more than this many streams at one k
    hours: float = 20            # samples × interval ≥ hours × 3600
    known: tuple[str, ...] = KNOWN_BOTS


def resolve(**given: Any) -> Config:
    """Build a Config from command-line values (None = not given), the environment and defaults."""
    values: dict[str, Any] = {}
    for s in SETTINGS:
        value = given.get(s.name)
        if value is None:
            value = os.environ.get(s.env)
        if value is None:
            value = s.default
        if value is not None and s.kind in (int, float):
            value = _positive(s, value)
        if s.kind is bool and not isinstance(value, bool):
            value = _switch(s, value)
        if s.kind is str and isinstance(value, (tuple, list)):   # fire reads a,b as a tuple
            value = ",".join(str(v) for v in value)
        if s.choices:
            value = _choice(s, value)
        values[s.name] = value
    data_dir = absolute(str(values.pop("data_dir")))
    store = values.pop("store") or f"sqlite:///{data_dir}/tpdask.sqlite"
    return Config(data_dir=data_dir, store=absolute_store(str(store)), **values)


def _positive(s: Setting, value: Any) -> int | float:
    from tpdask.errors import ConfigError

    what = "a whole number" if s.kind is int else "a number"
    try:
        number = s.kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--{s.name} must be {what}, got {value!r}") from None
    if s.zero and number == 0:
        return number
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"--{s.name} must be positive{' or 0' if s.zero else ''}, got {value}")
    return number


def _choice(s: Setting, value: Any) -> str:
    from tpdask.errors import ConfigError

    word = str(value).strip().lower()
    if word not in s.choices:
        raise ConfigError(f"--{s.name} ({s.env}) must be one of {', '.join(s.choices)}, "
                          f"got {value!r}")
    return word


def _switch(s: Setting, value: Any) -> bool:
    from tpdask.errors import ConfigError

    word = str(value).strip().lower()
    if word not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"--{s.name} ({s.env}) is a switch: true or false, got {value!r}")
    return word in ("1", "true", "yes")


def absolute(path: str) -> Path:
    """An absolute path, without resolving symlinks: a Dask worker started in another
    folder, or on another machine mounting the same share, must find the same file."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def absolute_store(uri: str) -> str:
    """``sqlite:///relative/path`` made ``sqlite:////absolute/path``; other URIs unchanged."""
    path = uri.removeprefix("sqlite:///")
    if path == uri or not path:
        return uri  # not a SQLite URI, or a malformed one that open_store reports
    return f"sqlite:///{absolute(path)}"


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` store URI, or None for any other store."""
    path = uri.removeprefix("sqlite:///")
    return Path(path) if path != uri and path else None
