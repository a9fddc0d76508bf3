"""The embedded store: one SQLite file, the default when no MongoDB is configured.

Several Dask worker processes (each with several threads) write the same file while the
website reads it, so the file is in WAL mode (readers never block the writer), every
connection waits up to :data:`BUSY_TIMEOUT_S` for the write lock instead of failing, and
each thread gets its own connection (sqlite3 connections must not be shared by threads
without a lock). Writes are ``INSERT OR REPLACE`` on the key ``(day, load, viewer)``, so
a task that Dask re-runs rewrites the same rows. A job stages a day under its own load id
and publishes it by switching the day's row in ``day_loads`` (see :class:`Store`).

The schema is applied by numbered migrations recorded in a ``migrations`` table (as
sqlite-utils does), inside ``BEGIN IMMEDIATE`` so two processes opening a new file at once
apply each migration once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from tpdask.errors import StoreError
from tpdask.privacy.modes import private_file
from tpdask.stores.accounts_sqlite import ACCOUNT_MIGRATION, AccountsSQLiteMixin
from tpdask.stores.base import RECORD_KEYS, Store, batched, check_records
from tpdask.stores.privacy_sqlite import PrivacySQLiteMixin
from tpdask.stores.results_sqlite import BASES_MIGRATION, RESULTS_MIGRATION, ResultsSQLiteMixin
from tpdask.stores.site_sqlite import SiteSQLiteMixin
from tpdask.stores.stage_sqlite import StageSQLiteMixin

#: How long a connection waits for another writer's lock before giving up.
BUSY_TIMEOUT_S = 60.0

#: Page cache per connection, KiB: big enough for the (day, viewer) index of a full day,
#: which each worker's upserts touch at random places.
CACHE_KIB = 65536

#: Page size of a new store file (an existing one keeps its own: changing it needs a
#: VACUUM). Measured on the scale-1 day's 900K rows of ~185 bytes staged as the day job's
#: writer does: 10.3 s with 4 KiB pages, 6.8 s with 64 KiB ones (fewer pages to split, to
#: log in the WAL and to copy back at checkpoints); a viewer's history still reads in < 1 ms.
PAGE_SIZE = 65536

#: (version, what it does, statements). Append only: never edit an applied migration.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (
        1,
        "viewer_days and the jobs ledger",
        (
            """CREATE TABLE viewer_days (
                viewer TEXT NOT NULL,
                day TEXT NOT NULL,
                samples INTEGER NOT NULL,
                -- no declared type on purpose: no column affinity, so 190 stays an integer
                -- and 190.0 or 2.5 stay reals, as written (NUMERIC would turn 190.0 into 190)
                minutes NOT NULL,
                first_ts INTEGER NOT NULL,
                last_ts INTEGER NOT NULL,
                streamers TEXT NOT NULL,  -- JSON: {login: {samples, minutes, sessions}}
                -- a rowid table: rows carry a JSON blob, too large for WITHOUT ROWID
                -- (measured: 900K upserts 6.4 s here against 9.6 s WITHOUT ROWID)
                UNIQUE (day, viewer)
            )""",
            "CREATE INDEX viewer_days_viewer ON viewer_days (viewer)",
            """CREATE TABLE jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job TEXT NOT NULL,
                day TEXT,
                status TEXT NOT NULL,
                report TEXT NOT NULL,  -- JSON
                started_at REAL NOT NULL,
                finished_at REAL
            )""",
            "CREATE INDEX jobs_started_at ON jobs (started_at)",
        ),
    ),
    (
        2,
        "day loads: a day's records are staged under a load id and published at once",
        (
            # SQLite cannot drop a UNIQUE constraint in place: the table is rebuilt
            """CREATE TABLE viewer_days_v2 (
                viewer TEXT NOT NULL,
                day TEXT NOT NULL,
                samples INTEGER NOT NULL,
                minutes NOT NULL,
                first_ts INTEGER NOT NULL,
                last_ts INTEGER NOT NULL,
                streamers TEXT NOT NULL,
                load TEXT NOT NULL DEFAULT '',  -- the run that wrote the row ('' = direct)
                UNIQUE (day, load, viewer)
            )""",
            f"INSERT INTO viewer_days_v2 ({', '.join(RECORD_KEYS)}, load) "
            f"SELECT {', '.join(RECORD_KEYS)}, '' FROM viewer_days",
            "DROP TABLE viewer_days",
            "ALTER TABLE viewer_days_v2 RENAME TO viewer_days",
            "CREATE INDEX viewer_days_viewer ON viewer_days (viewer)",
            """CREATE TABLE day_loads (
                day TEXT PRIMARY KEY,
                load TEXT NOT NULL      -- the load readers see for the day
            )""",
            "INSERT INTO day_loads (day, load) SELECT DISTINCT day, '' FROM viewer_days",
        ),
    ),
    RESULTS_MIGRATION,  # 3: the analyser's results (results_sqlite.py)
    ACCOUNT_MIGRATION,  # 4: accounts, their history, the days synced (accounts_sqlite.py)
    BASES_MIGRATION,    # 5: what results were computed from, and their staging (results_sqlite.py)
]

_UPSERT = (
    f"INSERT OR REPLACE INTO viewer_days ({', '.join(RECORD_KEYS)}, load) "
    f"VALUES ({', '.join('?' for _ in RECORD_KEYS)}, ?)"
)

#: The published load of a day: readers only ever see the rows of this load.
_PUBLISHED = "load = (SELECT load FROM day_loads WHERE day_loads.day = viewer_days.day)"


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting out other processes that are doing the same.

    Switching a new file to WAL needs an exclusive lock, and SQLite reports "database is
    locked" at once, without its busy wait, when another connection is opening the file at
    that moment (measured: 15 of 60 rounds of 8 processes opening one new file failed). So
    the switch is retried here, for as long as the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as e:
            if not _is_busy(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"the file stays in {mode} journal mode, not WAL")
        return


class SQLiteStore(AccountsSQLiteMixin, ResultsSQLiteMixin, SiteSQLiteMixin, StageSQLiteMixin,
                  PrivacySQLiteMixin, Store):
    """The store in one SQLite file at ``path`` (its folder is created when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._errors("create the folder of"):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = not self.path.exists()
        self._migrate()
        if new:                   # personal data: the owner's alone, whatever the umask
            private_file(self.path)

    # -- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self.closed:
            raise StoreError(f"SQLite store {self.where} is closed; open it again")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._errors("open"):
                # isolation_level=None: we issue BEGIN/COMMIT ourselves.
                # timeout= is SQLite's busy_timeout. check_same_thread=False only so that
                # close() may close every thread's connection; each thread uses its own.
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                try:
                    # before the file's first page is written; no effect on an existing file
                    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                    switch_to_wal(conn)
                    conn.execute("PRAGMA synchronous = NORMAL")
                    # what is deleted (an erased viewer, a pruned day, a replaced row) is
                    # overwritten with zeros, not left readable in free pages
                    conn.execute("PRAGMA secure_delete = ON")
                    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                except BaseException:
                    conn.close()
                    raise
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; takes the write lock up front so it cannot deadlock."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:  # the body or COMMIT failed
                conn.execute("ROLLBACK")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn sqlite3 and file errors into a StoreError that says what to do."""
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if _is_busy(e):
                hint = (
                    f"another process held the write lock for over {BUSY_TIMEOUT_S:.0f} s — "
                    "is a job stuck? For many writers, use MongoDB (--store mongodb://…)"
                )
            elif "unable to open" in text:
                hint = "check that the folder exists and is writable"
            else:
                hint = "check the file and free disk space"
            raise StoreError(f"SQLite could not {action} {self.where}: {text} — {hint}") from e
        except sqlite3.Error as e:
            raise StoreError(
                f"SQLite could not {action} {self.where}: {e} — is it a tpdask store?"
            ) from e
        except OSError as e:
            raise StoreError(
                f"could not {action} {self.where}: {e} — check the path and permissions"
            ) from e

    def _migrate(self) -> None:
        """Apply the missing migrations, all under one write lock.

        Everything, even ``CREATE TABLE IF NOT EXISTS``, runs inside ``BEGIN IMMEDIATE``: a
        write that starts in autocommit mode reads first and then upgrades its lock, and in
        WAL mode that upgrade fails at once (no busy wait) when another process committed
        in between — which is exactly what happens when several workers open a new file.
        An up-to-date file is only read, so opening it never waits for a writer.
        """
        with self._errors("read the schema of"):
            if not self._migrations_missing(self._conn()):
                return
        with self._errors("prepare the schema of"), self._transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            applied = {v for (v,) in tx.execute("SELECT version FROM migrations")}
            for version, name, statements in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )

    @staticmethod
    def _migrations_missing(conn: sqlite3.Connection) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
        if conn.execute(sql).fetchone() is None:
            return True
        applied = {v for (v,) in conn.execute("SELECT version FROM migrations")}
        return any(version not in applied for version, _, _ in MIGRATIONS)

    # -- viewer days -------------------------------------------------------------------

    def write_viewer_days(self, records: list[dict[str, Any]], load: str | None = None) -> int:
        records = check_records(records)
        with self._errors("write viewer days to"):
            loads = {} if load is not None else self._direct_loads({r["day"] for r in records})
            # executemany binds len(RECORD_KEYS) + 1 values per row, far under SQLite's
            # variable limit; batching keeps each write-lock hold short for the other workers.
            for batch in batched(records):
                rows = [
                    (
                        *(r[k] for k in RECORD_KEYS[:-1]),
                        orjson.dumps(r["streamers"]).decode(),
                        load if load is not None else loads[r["day"]],
                    )
                    for r in batch
                ]
                with self._transaction() as tx:
                    tx.executemany(_UPSERT, rows)
        return len(records)

    def _direct_loads(self, days: set[str]) -> dict[str, str]:
        """The published load of each day, publishing the direct load ``''`` where none is."""
        with self._transaction() as tx:
            tx.executemany(
                "INSERT OR IGNORE INTO day_loads (day, load) VALUES (?, '')", [(d,) for d in days]
            )
            sql = f"SELECT day, load FROM day_loads WHERE day IN ({', '.join('?' * len(days))})"
            return dict(tx.execute(sql, sorted(days)).fetchall())

    def publish_day(self, day: str, load: str) -> int:
        with self._errors(f"publish day {day} in"):
            with self._transaction() as tx:
                tx.execute(
                    "INSERT OR REPLACE INTO day_loads (day, load) VALUES (?, ?)", (day, load)
                )
                count: int = tx.execute(
                    "SELECT count(*) FROM viewer_days WHERE day = ? AND load = ?", (day, load)
                ).fetchone()[0]
            self.drop_unpublished(day)
        return count

    def drop_unpublished(self, day: str) -> int:
        with self._errors(f"drop the unpublished loads of day {day} from"):
            with self._transaction() as tx:
                sql = (
                    "DELETE FROM viewer_days WHERE day = ? AND load IS NOT "
                    "(SELECT load FROM day_loads WHERE day = ?)"
                )
                deleted: int = tx.execute(sql, (day, day)).rowcount
        return deleted

    def delete_day(self, day: str) -> int:
        with self._errors(f"delete day {day} from"), self._transaction() as tx:
            visible: int = tx.execute(
                f"SELECT count(*) FROM viewer_days WHERE day = ? AND {_PUBLISHED}", (day,)
            ).fetchone()[0]
            tx.execute("DELETE FROM day_loads WHERE day = ?", (day,))
            tx.execute("DELETE FROM viewer_days WHERE day = ?", (day,))
            return visible

    def iter_viewer_days(self, day: str) -> Iterator[dict[str, Any]]:
        with self._errors(f"read day {day} from"):
            # one statement: in WAL mode it reads one snapshot, so a publish that lands
            # meanwhile is not seen half-way
            cursor = self._conn().execute(
                f"SELECT {', '.join(RECORD_KEYS)} FROM viewer_days "
                "WHERE day = ? AND load = (SELECT load FROM day_loads WHERE day = ?) "
                "ORDER BY viewer",
                (day, day),
            )
            for row in cursor:
                record = dict(zip(RECORD_KEYS, row, strict=True))
                record["streamers"] = orjson.loads(record["streamers"])
                yield record

    def count_viewer_days(self, day: str) -> int:
        with self._errors(f"count day {day} in"):
            sql = (
                "SELECT count(*) FROM viewer_days "
                "WHERE day = ? AND load = (SELECT load FROM day_loads WHERE day = ?)"
            )
            count: int = self._conn().execute(sql, (day, day)).fetchone()[0]
            return count

    def days(self) -> list[str]:
        with self._errors("list the days of"):
            sql = (
                "SELECT day FROM day_loads AS d WHERE EXISTS (SELECT 1 FROM viewer_days AS v "
                "WHERE v.day = d.day AND v.load = d.load) ORDER BY day"
            )
            return [day for (day,) in self._conn().execute(sql)]

    # -- job ledger --------------------------------------------------------------------

    def _append_job(self, entry: dict[str, Any]) -> None:
        with self._errors(f"record a run of {entry['job']} in"), self._transaction() as tx:
            tx.execute(
                "INSERT INTO jobs (job, day, status, report, started_at, finished_at) "
                "VALUES (:job, :day, :status, :report, :started_at, :finished_at)",
                entry,
            )

    def job_runs(self, job: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
        with self._errors("read the job ledger of"):
            rows = self._conn().execute(
                "SELECT job, day, status, report, started_at, finished_at FROM jobs "
                "WHERE (:job IS NULL OR job = :job) AND (:day IS NULL OR day = :day) "
                "ORDER BY started_at DESC, id DESC",
                {"job": job, "day": day},
            )
            return [
                {
                    "job": j,
                    "day": d,
                    "status": s,
                    "report": orjson.loads(r),
                    "started_at": a,
                    "finished_at": f,
                }
                for j, d, s, r, a, f in rows
            ]

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self.closed = True
        for conn in connections:
            conn.close()
