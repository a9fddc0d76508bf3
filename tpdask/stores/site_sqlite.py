"""The website's reads in the SQLite store (see the "website reads" section of
:class:`tpdask.stores.base.Store`): a viewer's published records through the ``viewer``
index, result keys from a start through the results' primary key, counts and the newest
ledger entries, the file's size. Values are always bound parameters, never part of the SQL text.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from tpdask.stores.base import RECORD_KEYS


class SiteSQLiteMixin:
    """Mixed into :class:`tpdask.stores.sqlite.SQLiteStore`."""

    def viewer_history(self, viewer: str) -> list[dict[str, Any]]:
        with self._errors("read the history of a viewer from"):  # type: ignore[attr-defined]
            # the published condition of iter_viewer_days: the load day_loads names
            cursor = self._conn().execute(  # type: ignore[attr-defined]
                f"SELECT {', '.join(RECORD_KEYS)} FROM viewer_days "
                "WHERE viewer = ? AND load = "
                "(SELECT load FROM day_loads WHERE day_loads.day = viewer_days.day) "
                "ORDER BY day",
                (str(viewer),),
            )
            records = []
            for row in cursor:
                record = dict(zip(RECORD_KEYS, row, strict=True))
                record["streamers"] = orjson.loads(record["streamers"])
                records.append(record)
            return records

    def result_keys(self, kind: str, scope: str, start: str = "", limit: int = 100) -> list[str]:
        with self._errors(f"list the {kind} keys of"):  # type: ignore[attr-defined]
            sql = ("SELECT key FROM results WHERE kind = ? AND scope = ? AND key >= ? "
                   "ORDER BY key LIMIT ?")
            rows = self._conn().execute(  # type: ignore[attr-defined]
                sql, (str(kind), str(scope), str(start), int(limit)))
            return [key for (key,) in rows]

    def count_results(self, kind: str, scope: str | None = None) -> int:
        with self._errors(f"count the {kind} of"):  # type: ignore[attr-defined]
            if scope is None:
                row = self._conn().execute(  # type: ignore[attr-defined]
                    "SELECT count(*) FROM results WHERE kind = ?", (str(kind),)).fetchone()
            else:
                row = self._conn().execute(  # type: ignore[attr-defined]
                    "SELECT count(*) FROM results WHERE kind = ? AND scope = ?",
                    (str(kind), str(scope))).fetchone()
            return int(row[0])

    def latest_jobs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._errors("read the job ledger of"):  # type: ignore[attr-defined]
            rows = self._conn().execute(  # type: ignore[attr-defined]
                "SELECT job, day, status, report, started_at, finished_at FROM jobs "
                "ORDER BY started_at DESC, id DESC LIMIT ?", (int(limit),))
            return [{"job": j, "day": d, "status": s, "report": orjson.loads(r),
                     "started_at": a, "finished_at": f} for j, d, s, r, a, f in rows]

    def size_bytes(self) -> int:
        total = 0
        with self._errors("measure"):  # type: ignore[attr-defined]
            for suffix in ("", "-wal"):
                try:
                    total += os.stat(f"{self.path}{suffix}").st_size  # type: ignore[attr-defined]
                except FileNotFoundError:
                    continue     # the last connection to close removes the WAL
        return total
