"""Account status in the SQLite store: the ``accounts``, ``account_history`` and
``account_syncs`` tables (migration 4) and the methods of the store interface's
"account status" section (see :class:`tpdask.stores.base.Store`).

- ``accounts``: one row per viewer login of the published days; ``status`` and
  ``checked_at`` stay NULL until the verifier checks it. Indexed by ``(checked_at,
  viewer)``, so the never-checked (NULL) and then the oldest-checked come from one index
  range each, however many accounts there are; and by ``user_id``.
- ``account_history``: one row per change of an account's (status, user_id, login_now),
  appended in the same transaction as the change, readable by login and by user id.
- ``account_syncs``: which (day, load, records) each published day had when its viewers
  were added, so a day is added once, and again only when it is processed again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from tpdask.stores.base import STATUS_KEYS, batched, check_statuses

#: Migration 4 (appended to ``tpdask.stores.sqlite.MIGRATIONS``).
ACCOUNT_MIGRATION: tuple[int, str, tuple[str, ...]] = (
    4,
    "account status: accounts of the published days, their history, the days synced",
    (
        """CREATE TABLE accounts (
            viewer TEXT PRIMARY KEY,
            user_id TEXT,           -- from the lake's chatter_ids or a check; NULL unknown
            status TEXT,            -- active / renamed / gone; NULL until checked
            login_now TEXT,         -- the login the account answers to now; NULL unknown
            checked_at REAL         -- unix seconds of the check; NULL never checked
        ) WITHOUT ROWID""",
        "CREATE INDEX accounts_checked_at ON accounts (checked_at, viewer)",
        "CREATE INDEX accounts_user_id ON accounts (user_id)",
        """CREATE TABLE account_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            viewer TEXT NOT NULL,
            user_id TEXT,
            status TEXT NOT NULL,
            login_now TEXT,
            at REAL NOT NULL
        )""",
        "CREATE INDEX account_history_viewer ON account_history (viewer, id)",
        "CREATE INDEX account_history_user_id ON account_history (user_id, id)",
        """CREATE TABLE account_syncs (
            day TEXT PRIMARY KEY,
            load TEXT NOT NULL,     -- the published load whose viewers were added
            records INTEGER NOT NULL
        )""",
    ),
)

#: Rows per transaction when filling user ids (keeps each write-lock hold short).
_IDS_PER_TRANSACTION = 50_000

_STATE = ("status", "user_id", "login_now")


class AccountsSQLiteMixin:
    """The account-status methods of :class:`tpdask.stores.sqlite.SQLiteStore`.

    Uses the store's ``_conn``, ``_transaction`` and ``_errors``.
    """

    def unsynced_days(self) -> list[str]:
        with self._errors("list the days whose viewers are not in the accounts of"):
            sql = (
                "SELECT d.day, d.load, (SELECT count(*) FROM viewer_days AS v "
                "WHERE v.day = d.day AND v.load = d.load) FROM day_loads AS d ORDER BY d.day"
            )
            synced = dict(
                ((day, (load, n)) for day, load, n in self._conn().execute(
                    "SELECT day, load, records FROM account_syncs"))
            )
            return [
                day for day, load, n in self._conn().execute(sql)
                if n and synced.get(day) != (load, n)
            ]

    def sync_accounts(self, day: str, ids: Iterable[tuple[str, str]] = ()) -> int:
        with self._errors(f"add the viewers of {day} to the accounts of"):
            with self._transaction() as tx:
                row = tx.execute("SELECT load FROM day_loads WHERE day = ?", (day,)).fetchone()
                if row is None:
                    return 0
                load = row[0]
                before = tx.execute("SELECT count(*) FROM accounts").fetchone()[0]
                tx.execute(
                    "INSERT OR IGNORE INTO accounts (viewer) "
                    "SELECT DISTINCT viewer FROM viewer_days WHERE day = ? AND load = ?",
                    (day, load),
                )
                added: int = tx.execute("SELECT count(*) FROM accounts").fetchone()[0] - before
                records: int = tx.execute(
                    "SELECT count(*) FROM viewer_days WHERE day = ? AND load = ?", (day, load)
                ).fetchone()[0]
            pairs = [(user_id, viewer) for viewer, user_id in ids]
            for batch in batched(pairs, _IDS_PER_TRANSACTION):
                with self._transaction() as tx:
                    tx.executemany(
                        "UPDATE accounts SET user_id = ? WHERE viewer = ? AND user_id IS NULL",
                        batch,
                    )
            with self._transaction() as tx:  # last: a kill before it syncs the day again
                tx.execute(
                    "INSERT OR REPLACE INTO account_syncs (day, load, records) VALUES (?, ?, ?)",
                    (day, load, records),
                )
        return added

    def accounts_to_check(
        self, limit: int, before: float | None = None
    ) -> list[tuple[str, str | None]]:
        with self._errors("list the accounts to check in"):
            conn = self._conn()
            found = conn.execute(
                "SELECT viewer, user_id FROM accounts WHERE checked_at IS NULL "
                "ORDER BY viewer LIMIT ?",
                (limit,),
            ).fetchall()
            if len(found) < limit:
                found += conn.execute(
                    "SELECT viewer, user_id FROM accounts WHERE checked_at < ? "
                    "ORDER BY checked_at, viewer LIMIT ?",
                    (float("inf") if before is None else before, limit - len(found)),
                ).fetchall()
            return [(viewer, user_id) for viewer, user_id in found]

    def write_statuses(self, statuses: list[dict[str, Any]]) -> int:
        statuses = check_statuses(statuses)
        if not statuses:
            return 0
        with self._errors("write account statuses to"), self._transaction() as tx:
            current = self._current(tx, [s["viewer"] for s in statuses])
            changes = [
                s for s in statuses
                if current.get(s["viewer"]) != tuple(s[k] for k in _STATE)
            ]
            tx.executemany(
                "INSERT INTO account_history (viewer, user_id, status, login_now, at) "
                "VALUES (:viewer, :user_id, :status, :login_now, :checked_at)",
                changes,
            )
            tx.executemany(
                "INSERT OR REPLACE INTO accounts (viewer, user_id, status, login_now, checked_at)"
                " VALUES (:viewer, :user_id, :status, :login_now, :checked_at)",
                statuses,
            )
        return len(changes)

    @staticmethod
    def _current(
        tx: sqlite3.Connection, viewers: list[str]
    ) -> dict[str, tuple[str | None, str | None, str | None]]:
        out = {}
        for batch in batched(viewers, 500):
            sql = (
                "SELECT viewer, status, user_id, login_now FROM accounts "
                f"WHERE viewer IN ({', '.join('?' * len(batch))})"
            )
            out.update((v, (s, u, n)) for v, s, u, n in tx.execute(sql, batch))
        return out

    def iter_statuses(self, viewer: str | None = None) -> Iterator[dict[str, Any]]:
        with self._errors("read the account statuses of"):
            # only the conditions given, so that SQLite picks the index that serves them
            where = "status IS NOT NULL" + ("" if viewer is None else " AND viewer = :viewer")
            cursor = self._conn().execute(
                f"SELECT {', '.join(STATUS_KEYS)} FROM accounts WHERE {where} ORDER BY viewer",
                {"viewer": viewer},
            )
            for row in cursor:
                yield dict(zip(STATUS_KEYS, row, strict=True))

    def status_history(
        self, viewer: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        with self._errors("read the account history of"):
            where = [f"{name} = :{name}" for name, value in
                     (("viewer", viewer), ("user_id", user_id)) if value is not None]
            rows = self._conn().execute(
                "SELECT viewer, user_id, status, login_now, at FROM account_history "
                f"WHERE {' AND '.join(where) or '1'} ORDER BY at, id",
                {"viewer": viewer, "user_id": user_id},
            )
            return [
                {"viewer": v, "user_id": u, "status": s, "login_now": n, "at": a}
                for v, u, s, n, a in rows
            ]

    def status_counts(self) -> dict[str, int]:
        with self._errors("count the account statuses of"):
            rows = self._conn().execute(
                "SELECT coalesce(status, 'unchecked'), count(*) FROM accounts GROUP BY 1"
            )
            return dict(sorted(rows))
