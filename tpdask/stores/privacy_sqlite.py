"""Erasure and retention in the SQLite store (see the "privacy" section of
:class:`tpdask.stores.base.Store`).

Every connection runs with ``secure_delete`` on (:mod:`tpdask.stores.sqlite`), so what is
deleted is overwritten with zeros. An erasure also runs ``VACUUM``, which rebuilds the
file, so that no copy older than ``secure_delete`` (a row replaced by an earlier version
of tpdask) stays in a free page; then the write-ahead log is checkpointed and truncated,
since it may still hold the pages as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tpdask.stores.base import VIEWER_KINDS, batched


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class PrivacySQLiteMixin:
    """Mixed into :class:`tpdask.stores.sqlite.SQLiteStore`."""

    def erase_viewer(self, identifiers: list[str]) -> dict[str, Any]:
        ids = sorted(set(identifiers))
        q = _marks(len(ids))
        kinds = _marks(len(VIEWER_KINDS))
        with self._errors("erase a viewer from"):  # type: ignore[attr-defined]
            with self._transaction() as tx:  # type: ignore[attr-defined]
                linked = [v for (v,) in tx.execute(
                    f"SELECT viewer FROM accounts WHERE user_id IN (SELECT user_id FROM "
                    f"accounts WHERE viewer IN ({q}) AND user_id IS NOT NULL) AND viewer NOT IN "
                    f"({q}) ORDER BY viewer", ids + ids)]
                counts = {
                    "viewer_days": tx.execute(
                        f"DELETE FROM viewer_days WHERE viewer IN ({q})", ids).rowcount,
                    "results": tx.execute(
                        f"DELETE FROM results WHERE kind IN ({kinds}) AND key IN ({q})",
                        list(VIEWER_KINDS) + ids).rowcount + tx.execute(
                        f"DELETE FROM results_staged WHERE key IN ({q})", ids).rowcount,
                    "accounts": tx.execute(
                        f"DELETE FROM accounts WHERE viewer IN ({q})", ids).rowcount,
                    "account_history": tx.execute(
                        f"DELETE FROM account_history WHERE viewer IN ({q})", ids).rowcount,
                    "links": tx.execute(
                        f"UPDATE accounts SET login_now = NULL WHERE login_now IN ({q})",
                        ids).rowcount + tx.execute(
                        f"UPDATE account_history SET login_now = NULL WHERE login_now IN ({q})",
                        ids).rowcount,
                }
            self.compact(vacuum=True)
        return {**counts, "linked": linked}

    def forget_accounts(self, viewers: Iterable[str]) -> dict[str, int]:
        counts = {"accounts": 0, "account_history": 0}
        with self._errors("forget accounts in"):  # type: ignore[attr-defined]
            for batch in batched(sorted(set(viewers)), 500):
                q = _marks(len(batch))
                with self._transaction() as tx:  # type: ignore[attr-defined]
                    gone = [v for (v,) in tx.execute(
                        f"SELECT viewer FROM accounts WHERE viewer IN ({q}) AND NOT EXISTS "
                        "(SELECT 1 FROM viewer_days AS v WHERE v.viewer = accounts.viewer)",
                        batch)]
                    if not gone:
                        continue
                    g = _marks(len(gone))
                    counts["accounts"] += tx.execute(
                        f"DELETE FROM accounts WHERE viewer IN ({g})", gone).rowcount
                    counts["account_history"] += tx.execute(
                        f"DELETE FROM account_history WHERE viewer IN ({g})", gone).rowcount
        return counts

    def drop_results(self, kind: str, scope: str) -> int:
        with self._errors(f"drop the {kind} of {scope} from"):  # type: ignore[attr-defined]
            with self._transaction() as tx:  # type: ignore[attr-defined]
                tx.execute("DELETE FROM result_bases WHERE kind = ? AND scope = ?", (kind, scope))
                return tx.execute("DELETE FROM results WHERE kind = ? AND scope = ?",
                                  (kind, scope)).rowcount

    def day_viewers(self, day: str) -> list[str]:
        with self._errors(f"list the viewers of {day} in"):  # type: ignore[attr-defined]
            return [v for (v,) in self._conn().execute(  # type: ignore[attr-defined]
                "SELECT DISTINCT viewer FROM viewer_days WHERE day = ?", (day,))]

    def compact(self, vacuum: bool = False) -> None:
        with self._errors("compact"):  # type: ignore[attr-defined]
            conn = self._conn()  # type: ignore[attr-defined]
            if vacuum:
                conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
