"""``verify``: bring the accounts up to date with the published days, then check them
through Helix ``users``, writing every call's results before the next call.

Resumable by construction: what is left to do is in the store (never-checked accounts,
then those checked longest ago, before this run started), so a killed run loses at most
the accounts of the call in flight — the keys of one call, 100 at most — and the next run
picks up where it stopped. Each run is recorded in the job ledger as ``verify`` (day
``""``), done or failed, with its report.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from tpdask.collect.twitch import TwitchClient
from tpdask.errors import ConfigError, TpdaskError
from tpdask.log import Log, print_log
from tpdask.privacy.policy import refuse_if_pseudonymous
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores import Store, open_store
from tpdask.verify.resolve import KEYS_PER_CALL, Call, Candidate, decide

#: A progress line every this many calls (5,000 accounts or so).
PROGRESS_EVERY = 50

#: Candidates read from the store at once (a read-ahead; the store stays the truth).
READ_AHEAD = 1000


@dataclass
class Tally:
    """What a run did so far (also what a failed run reports)."""

    checked: int = 0
    active: int = 0
    renamed: int = 0
    gone: int = 0
    changed: int = 0
    calls: int = 0
    synced_days: list[str] = field(default_factory=list)
    new_accounts: int = 0

    def add(self, statuses: list[dict]) -> None:
        self.checked += len(statuses)
        for s in statuses:
            setattr(self, s["status"], getattr(self, s["status"]) + 1)

    def line(self, started: float) -> str:
        return (f"verify: {self.checked:,} accounts checked ({self.active:,} active, "
                f"{self.renamed:,} renamed, {self.gone:,} gone), {self.calls:,} calls, "
                f"{time.time() - started:.1f} s")


def verify(config: Config, limit: int | None = None, log: Log = print_log, *,
           secrets_file: str | None = None, client: TwitchClient | None = None) -> dict:
    """Check the accounts of the store (at most ``limit``); return the run's report.

    Credentials as for ``collect`` (TPDASK_CLIENT_ID and TPDASK_CLIENT_SECRET, or
    ``secrets_file``; an app token is enough), unless a ``client`` is given. The report:
    checked, active, renamed, gone, changed (history entries), calls (Helix ``users``),
    requests (every HTTP request, token and retries included), retries, synced_days,
    new_accounts, limit, store (accounts per status afterwards), seconds.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"--limit must be a whole number >= 0, got {limit!r}")
    refuse_if_pseudonymous(config.data_dir, "verify")
    if client is None:
        from tpdask.collect.credentials import load_credentials

        client = TwitchClient(load_credentials(secrets_file), config.helix_url,
                              config.auth_url, log=log)
    started = time.time()
    tally = Tally()
    requests0, retries0 = client.calls, client.retries

    def report(store: Store | None) -> dict:
        out = {"checked": tally.checked, "active": tally.active, "renamed": tally.renamed,
               "gone": tally.gone, "changed": tally.changed, "calls": tally.calls,
               "requests": client.calls - requests0, "retries": client.retries - retries0,
               "synced_days": tally.synced_days, "new_accounts": tally.new_accounts,
               "limit": limit}
        if store is not None:
            out["store"] = store.status_counts()
        out["seconds"] = round(time.time() - started, 2)
        return out

    with open_store(config.store, create=False) as store:
        try:
            sync(config, store, tally, log)
            check(store, client, limit, started, tally, log)
            done = report(store)
        except BaseException as exc:
            _record_failure(store, report(None), exc, started)
            raise
        store.record_job("verify", "", "done", done, started, time.time())
    log(tally.line(started) + f"; {tally.changed:,} changes kept in the history")
    return done


def sync(config: Config, store: Store, tally: Tally, log: Log) -> None:
    """Add the viewers of each published day not synced yet, with the lake's user ids."""
    for day in store.unsynced_days():
        ids = chatter_ids(config.lake_dir, day)
        added = store.sync_accounts(day, ids)
        tally.synced_days.append(day)
        tally.new_accounts += added
        log(f"verify: viewers of {day}: {added:,} new accounts "
            f"({len(ids):,} user ids from the lake)")


def chatter_ids(lake_dir: Path | str, day: str) -> list[tuple[str, str]]:
    """(viewer, user_id) of the day's ``chatter_ids`` lake table, one per viewer: a login
    reported with two ids gets the larger one — ids grow, so the newer account, the one
    that holds the login now. Empty when the lake lacks the day."""
    folder = lake.day_dir(lake_dir, "chatter_ids", day)
    best: dict[str, str] = {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(path, columns=["viewer", "user_id"])
        for viewer, uid in zip(table.column("viewer").to_pylist(),
                               table.column("user_id").to_pylist(), strict=True):
            if viewer and uid and (viewer not in best or _newer(uid, best[viewer])):
                best[viewer] = uid
    return sorted(best.items())


def _newer(a: str, b: str) -> bool:
    return (len(a), a) > (len(b), b)


def check(store: Store, client: TwitchClient, limit: int | None, started: float,
          tally: Tally, log: Log) -> None:
    """Check never-checked accounts, then those checked before ``started``, oldest first,
    until none is left or ``limit`` accounts were taken."""
    queue: deque[Candidate] = deque()
    carried: list[Candidate] = []      # not found by login, user id known: ask by id next
    left = limit
    exhausted = False
    while True:
        call = Call(by_id=carried)
        while len(call) < KEYS_PER_CALL and (left is None or left > 0):
            if not queue and not exhausted:
                waiting = {c.viewer for c in call.by_id + call.by_login}
                rows = store.accounts_to_check(READ_AHEAD + len(waiting), before=started)
                exhausted = len(rows) < READ_AHEAD + len(waiting)
                queue.extend(Candidate(v, u) for v, u in rows if v not in waiting)
            if not queue:
                break
            call.by_login.append(queue.popleft())
            left = None if left is None else left - 1
        if not len(call):
            return
        users = client.users(ids=[c.user_id for c in call.by_id],
                             logins=[c.viewer for c in call.by_login])
        tally.calls += 1
        statuses, carried = decide(call, users, time.time())
        tally.changed += store.write_statuses(statuses)  # before the next call
        tally.add(statuses)
        if tally.calls % PROGRESS_EVERY == 0:
            log(tally.line(started))


def _record_failure(store: Store, report: dict, exc: BaseException, started: float) -> None:
    """Best effort (the store may be what failed): keep the failed run in the ledger."""
    report["error"] = repr(exc)
    try:
        store.record_job("verify", "", "failed", report, started, time.time())
    except TpdaskError:
        pass
