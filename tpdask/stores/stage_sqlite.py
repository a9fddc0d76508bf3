"""The day job's staging in the SQLite store: part files and their copy into the store.

Each phase-2 task writes its bucket's rows as a small SQLite file (:func:`write_sqlite_part`)
and the job's one writer copies it in with ``ATTACH`` and ``INSERT … SELECT``
(:meth:`StageSQLiteMixin.stage_part`), so no Python object per value is made on the
writer's thread, the job's critical path; meanwhile a second connection checkpoints the
WAL on another thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tpdask.stores.base import RECORD_KEYS

#: Rows per transaction of the day job's writer (~0.5 s of write lock at most).
STAGE_BATCH = 50_000

#: How often a second connection checkpoints the WAL while the day job's writer stages.
#: SQLite otherwise copies the WAL back into the file in the committing thread, every
#: 1,000 pages: measured on the scale-1 day's 900K rows staged alone, 8.4 - 9.2 s with
#: those checkpoints, 6.7 - 7.5 s with them on another thread (the final one included).
CHECKPOINT_EVERY_S = 0.1

#: The part file's table: a record's columns but the day (the load's rows all have one).
_PART_COLUMNS = tuple(k for k in RECORD_KEYS if k != "day")

_STAGE_FROM_PART = (
    f"INSERT OR REPLACE INTO main.viewer_days ({', '.join(RECORD_KEYS)}, load) "
    f"SELECT {', '.join('?' if k == 'day' else k for k in RECORD_KEYS)}, ? "
    "FROM part.rows WHERE rowid BETWEEN ? AND ?"
)


def write_sqlite_part(path: Path, rows: Iterable[tuple]) -> None:
    """Write a new part file for :meth:`StageSQLiteMixin.stage_part`: ``rows`` in
    ``_PART_COLUMNS`` order, each value as the store keeps it (``streamers`` JSON text,
    ``minutes`` an int when whole). Scratch: no journal, no fsync."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"CREATE TABLE rows ({', '.join(_PART_COLUMNS)})")
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(_PART_COLUMNS))})",
                         rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


class StageSQLiteMixin:
    """Mixed into :class:`tpdask.stores.sqlite.SQLiteStore`."""

    def stage_part(self, day: str, load: str, part: Path) -> int:
        """Copy a part file's rows (:func:`write_sqlite_part`) in, by SQLite alone.

        One ``INSERT … SELECT`` from the attached part per batch of rows: no Python
        object per row or value on this, the job's critical path (the part's rows were
        made into tuples by the task that inverted them). Measured on the scale-1 day's
        900K rows: 2.7 - 4.0 s against 5.2 - 6.2 s for ``executemany`` of the tuples.
        The file holds neither day nor load: they are this call's.
        """
        staged = 0
        with self._errors(f"stage day {day} in"):  # type: ignore[attr-defined]
            conn = self._conn()  # type: ignore[attr-defined]
            conn.execute("ATTACH DATABASE ? AS part", (str(part),))
            try:
                (last,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM part.rows").fetchone()
                with self._checkpoints_aside():
                    for first in range(1, last + 1, STAGE_BATCH):
                        # big transactions: one writer, readers never wait (WAL); each
                        # commit still lets another writer in within a fraction of a second
                        with self._transaction() as tx:  # type: ignore[attr-defined]
                            staged += tx.execute(_STAGE_FROM_PART, (
                                day, load, first, first + STAGE_BATCH - 1)).rowcount
            finally:
                conn.execute("DETACH DATABASE part")
        return staged

    @contextmanager
    def _checkpoints_aside(self) -> Iterator[None]:
        """Checkpoint the WAL from another thread while this thread's connection writes.

        The writer's own automatic checkpoints are off meanwhile, so its commits only
        append to the WAL; the other thread copies the WAL back into the file (sqlite3
        lets go of the GIL) on a core the writer leaves free. A checkpoint that fails is
        skipped: the writer's automatic ones resume when this ends.
        """
        conn = self._conn()  # type: ignore[attr-defined]
        (every,) = conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        stop = threading.Event()
        thread = threading.Thread(target=self._checkpoint_until, args=(stop,),
                                  name="sqlite-checkpoint", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(every)}")

    def _checkpoint_until(self, stop: threading.Event) -> None:
        try:
            conn = sqlite3.connect(self.path,  # type: ignore[attr-defined]
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not stop.wait(CHECKPOINT_EVERY_S):
                # PASSIVE: copies what no reader still needs, never waits for a lock
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            return
        finally:
            conn.close()
