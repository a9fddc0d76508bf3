"""The access log: which site account opened which viewer's page or lookup, and when
(issue 19, item 7).

A viewer's page is personal data even under a pseudonym; an operator must be able to
say who looked at whom (an access request, a suspicion of misuse). Every answer of
``/viewers/{token}``, ``/lookup?login=`` and their ``/api/`` forms that shows a profile
adds a row to ``access_log`` in ``site.sqlite``: time, account, its role, the page and
the viewer as its pseudonym token (not the login: the table then names nobody without
the server secret). `tpdask status --access_log` shows the rows to an operator with the
logins decrypted (:func:`read_access_log`). Rows older than :data:`KEEP_DAYS` days are
deleted as new ones are written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tpdask.web.sitedb import SiteDB, site_db_path

#: How long a row of the access log is kept, days.
KEEP_DAYS = 365


@dataclass(frozen=True)
class Access:
    at: float
    account: str
    role: str
    page: str                   # "viewer" or "lookup"
    token: str                  # the viewer's pseudonym token
    login: str | None           # decrypted, when read with the server secret

    def to_json(self) -> dict:
        return {"at": self.at, "account": self.account, "role": self.role, "page": self.page,
                "viewer": self.token, "login": self.login}


def record_access(db: SiteDB, account: str, role: str, page: str, token: str) -> None:
    """Add one row (and forget the rows past :data:`KEEP_DAYS`)."""
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM access_log WHERE at < ?", (now - KEEP_DAYS * 86400,))
        conn.execute("INSERT INTO access_log (at, account, role, page, viewer) "
                     "VALUES (?, ?, ?, ?, ?)", (now, account, role, page, token))


def read_access_log(data_dir: Path, limit: int = 100) -> list[Access]:
    """The newest ``limit`` rows, newest first, logins decrypted with the server secret
    (none when the site never ran here)."""
    if not site_db_path(data_dir).exists():
        return []
    from tpdask.web.pseudonyms import Pseudonyms
    from tpdask.web.sitedb import server_secret

    pseudonyms = Pseudonyms(server_secret(data_dir))
    db = SiteDB(data_dir)
    try:
        rows = db.read("SELECT at, account, role, page, viewer FROM access_log "
                       "ORDER BY at DESC LIMIT ?", (limit,))
    finally:
        db.close()
    return [Access(at, account, role, page, token, pseudonyms.login(token))
            for at, account, role, page, token in rows]


def access_text(rows: list[Access]) -> str:
    """The rows as lines for a terminal."""
    import datetime

    if not rows:
        return "access log: no viewer page or lookup opened yet"
    lines = [f"access log: the newest {len(rows)} openings of a viewer's page or lookup"]
    for r in rows:
        when = datetime.datetime.fromtimestamp(r.at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        what = "looked up" if r.page == "lookup" else "opened the page of"
        lines.append(f"  {when} UTC  {r.account} ({r.role}) {what} "
                     f"{r.login or '(a viewer this secret does not know)'}")
    return "\n".join(lines)
