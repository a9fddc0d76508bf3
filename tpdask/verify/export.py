"""``export status``: the account statuses as JSON lines, and an account's history.

One line per checked account, sorted by viewer::

    {"viewer": "login", "user_id": "123", "status": "renamed", "login_now": "newlogin",
     "checked_at": "2022-08-02T03:04:05Z"}

``user_id`` and ``login_now`` are null when unknown; ``checked_at`` is the time of the
check as an ISO-8601 UTC string, whole seconds (Twitch's own format for times).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import chain
from typing import Any

from tpdask.errors import NoRecordsError
from tpdask.export import write_lines
from tpdask.settings import Config
from tpdask.stores import Store, open_store
from tpdask.stores.base import redact_uri


def iso_utc(seconds: float) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (fraction dropped)."""
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_lines(store: Store) -> Iterator[dict[str, Any]]:
    """The export's records, sorted by viewer."""
    for s in store.iter_statuses():
        yield {"viewer": s["viewer"], "user_id": s["user_id"], "status": s["status"],
               "login_now": s["login_now"], "checked_at": iso_utc(s["checked_at"])}


def export_status(config: Config, out: str | None = None) -> int:
    """Write the account statuses as JSON lines by viewer (to ``out``, else standard
    output); returns how many. The store must exist and hold checked accounts (else
    NoRecordsError, nothing written); a file is written under a temporary name and
    renamed at the end, so a reader never sees half an export."""
    with open_store(config.store, create=False) as store:
        lines = status_lines(store)
        first = next(lines, None)
        if first is None:
            raise NoRecordsError(f"no checked accounts in {redact_uri(config.store)}; "
                                 "`tpdask verify` checks them")
        return write_lines(chain([first], lines), None if out == "-" else out)


def account_history(store: Store, login: str) -> list[dict[str, Any]]:
    """Every history entry of the account that used ``login``, oldest first: the login's
    own entries and, through each user id it had, those of its other logins (a renamed
    account's history follows its id)."""
    own = store.status_history(viewer=login)
    ids = {h["user_id"] for h in own if h["user_id"]}
    ids |= {s["user_id"] for s in store.iter_statuses(viewer=login) if s["user_id"]}
    entries = {(h["at"], h["viewer"], h["status"], h["login_now"] or "", h["user_id"] or ""): h
               for h in chain(own, *(store.status_history(user_id=i) for i in sorted(ids)))}
    return [entries[k] for k in sorted(entries)]
