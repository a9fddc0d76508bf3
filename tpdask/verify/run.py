"""``verify``: bring the accounts up to date with the published days, then check them
through Helix ``users``, writing every call's results before the next call.

Resumable by construction: what is left to do is in the store (never-checked accounts,
then those checked longest ago, before this run started), so a killed run loses at most
the accounts of the call in flight — the keys of one call, 100 at most — and the next run
picks up where it stopped. Each run is recorded in the job ledger as ``verify`` (day
``""``), done or failed, with its report.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from tpdask.collect.twitch import TwitchClient
from tpdask.errors import JobError, TpdaskError, UsageError
from tpdask.files import try_lock
from tpdask.log import Log, Progress, print_log, progress
from tpdask.privacy.policy import refuse_if_pseudonymous
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores import Store, open_store
from tpdask.verify.resolve import KEYS_PER_CALL, Call, Candidate, decide

#: Candidates read from the store at once (a read-ahead; the store stays the truth).
READ_AHEAD = 1000

#: The largest --limit kept as given. A larger one asks for every account anyway (no store
#: holds 2**53 of them) and is read as this, which the job ledger keeps exactly: its report
#: is JSON (orjson refuses integers past 64 bits, MongoDB's BSON past int64) and JSON
#: readers lose integers past 2**53.
MAX_LIMIT = 2**53 - 1


def check_limit(limit: int | None) -> int | None:
    """--limit N: None (every account) or a whole number >= 0, at most :data:`MAX_LIMIT`
    (a larger one is read as that). Anything else is a command-line mistake (UsageError)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise UsageError(f"--limit must be a whole number, 0 or more, got {limit!r}")
    return min(limit, MAX_LIMIT)


def lock_path(config: Config) -> Path:
    return config.scratch_dir / "verify.lock"


@contextmanager
def verify_lock(config: Config) -> Iterator[None]:
    """One verify at a time per data folder: two would check the same accounts twice and
    spend the rate limit twice. An flock (:func:`tpdask.files.try_lock`), dropped by the
    kernel when its holder dies; the second run is refused at once, naming the first."""
    path = lock_path(config)
    with try_lock(path) as held:
        if held is None:
            raise JobError(f"another `tpdask verify` is running on this data folder "
                           f"({_holder(path)}); wait for it to finish, or stop it, and run "
                           "verify again")
        held.seek(0)
        held.truncate()
        held.write(f"verify\npid {os.getpid()}\n")
        held.flush()
        yield


def _holder(path: Path) -> str:
    """"pid 12" as the lock file says, as best it can be read."""
    try:
        pid = next((x for x in path.read_text().split("\n") if x.startswith("pid ")), "")
    except OSError:
        pid = ""
    return pid or "pid unknown"


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

    def counts(self) -> str:
        return f"{self.active:,} active, {self.renamed:,} renamed, {self.gone:,} gone"

    def line(self, started: float) -> str:
        return (f"verify: {self.checked:,} accounts checked ({self.counts()}), "
                f"{self.calls:,} calls, {time.time() - started:.1f} s")


def verify(config: Config, limit: int | None = None, log: Log = print_log, *,
           secrets_file: str | None = None, client: TwitchClient | None = None) -> dict:
    """Check the accounts of the store (at most ``limit``); return the run's report.

    Credentials as for ``collect`` (TPDASK_CLIENT_ID and TPDASK_CLIENT_SECRET, or
    ``secrets_file``; an app token is enough), unless a ``client`` is given. A verify of
    the same data folder running already is a JobError, at once. The report:
    checked, active, renamed, gone, changed (history entries), calls (Helix ``users``),
    requests (every HTTP request, token and retries included), retries, synced_days,
    new_accounts, limit, store (accounts per status afterwards), seconds.
    """
    limit = check_limit(limit)
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

    with open_store(config.store, create=False) as store, verify_lock(config):
        try:
            sync(config, store, tally, log)
            to_check = sum(store.status_counts().values())   # every account, checked before
            to_check = to_check if limit is None else min(limit, to_check)   # this run or not
            with progress(log, "verify", to_check, "accounts") as bar:
                check(store, client, limit, started, tally, bar)
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
          tally: Tally, bar: Progress) -> None:
    """Check never-checked accounts, then those checked before ``started``, oldest first,
    until none is left or ``limit`` accounts were taken; ``bar`` advances by each call's
    accounts."""
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
        bar.update(len(statuses))
        bar.note(tally.counts())


def _record_failure(store: Store, report: dict, exc: BaseException, started: float) -> None:
    """Best effort (the store may be what failed): keep the failed run in the ledger."""
    report["error"] = repr(exc)
    try:
        store.record_job("verify", "", "failed", report, started, time.time())
    except TpdaskError:
        pass
