"""What every command shares: the global settings it was given, resolved into a Config,
and :class:`ExitCode`, for a command whose answer is its exit code (`tpdask status`)."""

from __future__ import annotations

import os

from tpdask import settings
from tpdask.errors import ConfigError
from tpdask.progress import choose as choose_progress


class ExitCode(Exception):
    """Raised by a command that has printed its whole answer and ends with ``code`` (not an
    error: `tpdask status` exits 1 or 2 by its verdict). :func:`tpdask.cli.main.run`
    returns the code and prints nothing more."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Commands:
    """Twitch audience measurement on Dask. Run `tpdask` alone for the list of commands.

    fire gives the global options (one per entry of :data:`tpdask.settings.SETTINGS`) to
    the constructor; each command group (pipeline, data, site, tools) adds its methods.
    """

    def __init__(self, data_dir: str | None = None, store: str | None = None,
                 interval: int | None = None, max_gap: int | None = None,
                 helix_url: str | None = None, auth_url: str | None = None,
                 irc_url: str | None = None, tmi_url: str | None = None,
                 archive_block_mb: float | None = None,
                 dashboard_host: str | None = None, bot_concurrent: int | None = None,
                 bot_hours: float | None = None, bot_list: str | tuple | None = None,
                 health_min_viewers: int | None = None, health_ratio: float | None = None,
                 retention_archive_days: int | None = None,
                 retention_lake_days: int | None = None,
                 retention_store_days: int | None = None,
                 nightly_verify_limit: int | None = None,
                 status_missing_ticks: int | None = None,
                 status_due_hours: float | None = None,
                 status_disk_warn_gib: float | None = None,
                 status_disk_warn_percent: float | None = None,
                 status_disk_fail_gib: float | None = None,
                 status_disk_fail_percent: float | None = None,
                 web_workers: int | None = None, web_session_hours: float | None = None,
                 web_login_failures: int | None = None, web_login_window: int | None = None,
                 web_secure_cookies: bool | None = None, web_allowed_hosts: str | None = None,
                 web_request_timeout: float | None = None,
                 web_max_connections: int | None = None, web_min_group: int | None = None,
                 progress: str | None = None):
        self._given = dict(data_dir=data_dir, store=store, interval=interval, max_gap=max_gap,
                           helix_url=helix_url, auth_url=auth_url, irc_url=irc_url,
                           tmi_url=tmi_url, archive_block_mb=archive_block_mb,
                           dashboard_host=dashboard_host,
                           bot_concurrent=bot_concurrent, bot_hours=bot_hours,
                           bot_list=bot_list, health_min_viewers=health_min_viewers,
                           health_ratio=health_ratio,
                           retention_archive_days=retention_archive_days,
                           retention_lake_days=retention_lake_days,
                           retention_store_days=retention_store_days,
                           nightly_verify_limit=nightly_verify_limit,
                           status_missing_ticks=status_missing_ticks,
                           status_due_hours=status_due_hours,
                           status_disk_warn_gib=status_disk_warn_gib,
                           status_disk_warn_percent=status_disk_warn_percent,
                           status_disk_fail_gib=status_disk_fail_gib,
                           status_disk_fail_percent=status_disk_fail_percent,
                           web_workers=web_workers,
                           web_session_hours=web_session_hours,
                           web_login_failures=web_login_failures,
                           web_login_window=web_login_window,
                           web_secure_cookies=web_secure_cookies,
                           web_allowed_hosts=web_allowed_hosts,
                           web_request_timeout=web_request_timeout,
                           web_max_connections=web_max_connections,
                           web_min_group=web_min_group, progress=progress)

    def _config(self) -> settings.Config:
        """The settings resolved; the progress setting from here on decides how this
        command shows its progress (:func:`tpdask.progress.mode`)."""
        config = settings.resolve(**self._given)
        choose_progress(config.progress)
        return config

    def _existing_config(self) -> settings.Config:
        """The config of a read-only command: a data folder that is named or holds the store
        must exist already (a mistyped --data_dir is an error, not an empty folder)."""
        config = self._config()
        named = self._given["data_dir"] is not None or os.environ.get("TPDASK_DATA_DIR")
        store_file = settings.sqlite_path(config.store)
        holds_store = store_file is not None and config.data_dir in store_file.parents
        if (named or holds_store) and not config.data_dir.is_dir():
            raise ConfigError(f"no data folder at {config.data_dir}: check --data_dir "
                              "(or TPDASK_DATA_DIR)")
        return config
