"""Every error tpdask raises on purpose.

Hierarchy::

    TpdaskError                 base: the CLI turns these into a message and exit code 1
    ├── ConfigError             a setting or argument is wrong (bad day, bad store URI, ...)
    │   └── UsageError          the command line itself is wrong (unknown flag, bad type): exit 2
    ├── NoRecordsError          a read-only command found nothing to give (export of an empty day): exit 3
    │   └── StaleResultsError   the results asked for are out of date with their inputs: exit 3
    ├── StoreError              the serving store failed (sqlite3 / pymongo errors wrapped)
    ├── SampleError             one sample file is unusable; it gets quarantined, the job goes on
    ├── ArchiveError            a day's .7z archive is missing, unreadable or does not verify
    ├── JobError                a Dask job could not run or did not finish
    ├── PartialError            some of a chain's work failed, some was done: exit 4
    ├── OutputError             an export's --out file cannot be written
    └── TwitchError             Twitch (or the simulator) refused a call or stayed unreachable
        └── TwitchAuthError     credentials or a token were refused

Third-party exceptions (sqlite3, pymongo, py7zr, requests) are wrapped where they enter
tpdask, so callers only ever need to catch ``TpdaskError``.
"""


class TpdaskError(Exception):
    """Base class of every error tpdask raises on purpose."""


class ConfigError(TpdaskError):
    """A setting, argument or URI is wrong; the message says which and how to fix it."""


class UsageError(ConfigError):
    """The command line is wrong: unknown command or flag, missing or mistyped value.

    Raised before anything runs, so the CLI exits 2 (as argparse does) with nothing changed.
    """


class NoRecordsError(TpdaskError):
    """A read-only command found nothing to give, e.g. an export of a day the store lacks."""


class StaleResultsError(NoRecordsError):
    """Results were asked for whose inputs changed since they were computed (a day processed
    again, an earlier day processed, the bot settings changed); the message says what to
    run. Never served as current."""


class StoreError(TpdaskError):
    """The serving store (SQLite or MongoDB) failed."""


class SampleError(TpdaskError):
    """A sample file is unusable (not JSON, wrong version, ts outside its day, wrong shape)."""


class ArchiveError(TpdaskError):
    """A day's archive is missing, unreadable, or does not match its manifest."""


class JobError(TpdaskError):
    """A Dask job could not start or did not complete."""


class PartialError(TpdaskError):
    """Part of a chain of stages failed while the rest was done (``tpdask nightly``); the
    report printed before says which, and the command exits 4."""


class OutputError(TpdaskError):
    """The file an export was asked to write cannot be written: ``--out`` names a folder, a
    file in a folder that does not exist, or a path that may not be written, or the disk
    failed while writing. Nothing is left behind: no file, no temp, no folder."""


class TwitchError(TpdaskError):
    """A Twitch call failed for good (after retries), or Twitch refused it (4xx)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TwitchAuthError(TwitchError):
    """Twitch refused the credentials or a token; the message says which and what to do."""
