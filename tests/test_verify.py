"""The verifier against the simulator over real sockets: statuses against the simulator's
truth, calls, --limit, order, a SIGKILL mid-run, history after a rename, Twitch failures."""

from __future__ import annotations

import email.utils
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from jobs.process_day import process_command as process_day
from tests.support import (ACCOUNTS_DAY, ACCOUNTS_SCALE, ROOT, make_config, users_served,
                           viewers)
from tpdask.bench.verify import seed_day
from tpdask.collect.credentials import Credentials
from tpdask.collect.twitch import TwitchClient, retry_after_seconds
from tpdask.errors import NoRecordsError, OutputError
from tpdask.simulator import Simulator
from tpdask.simulator.accounts import expected_status
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store
from tpdask.verify import account_history, export_status, verify

DAY, NEXT_DAY = ACCOUNTS_DAY, "2022-08-02"
SCALE = ACCOUNTS_SCALE
QUIET = dict(log=lambda m: None)


@pytest.fixture
def sim(accounts_sim):
    """The module's simulator (conftest.accounts_sim)."""
    return accounts_sim


@pytest.fixture(autouse=True)
def _no_faults_left(request):
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("accounts_sim").set_faults(reset=True)


def client_of(sim) -> TwitchClient:
    return TwitchClient(Credentials(sim.client_id, sim.client_secret), sim.urls["helix_url"],
                        sim.urls["auth_url"], log=lambda m: None, sleep=time.sleep)


def statuses(config) -> dict[str, dict]:
    with open_store(config.store) as store:
        return {s["viewer"]: s for s in store.iter_statuses()}


def check_truth(sim, got: dict[str, dict], without_ids: set[str] = frozenset()) -> None:
    accounts = sim.world.accounts
    for login, s in got.items():
        want, login_now = expected_status(accounts, login)
        if login in without_ids and want == "renamed":
            want, login_now = "gone", None  # no id known: a renamed account looks gone
        assert (s["status"], s["login_now"]) == (want, login_now), login
        if want != "gone" or login not in without_ids:
            assert s["user_id"] == accounts.id_of(login), login


def test_a_processed_day_verified_comes_out_as_the_simulator_says(tmp_path, sim):
    """The day job's lake keeps the ids the samples gave; verify finds renamed, suspended
    and deleted accounts; calls = (accounts + not found by login) / 100, rounded up."""
    config = make_config(tmp_path, helix_url=sim.urls["helix_url"],
                         auth_url=sim.urls["auth_url"])
    write_day(config.samples_dir, DAY, AudienceConfig(scale=SCALE, with_ids=True))
    process_day(config, DAY, local=True, **QUIET)
    served = users_served(sim)
    report = verify(config, None, client=client_of(sim), **QUIET)

    got = statuses(config)
    check_truth(sim, got)
    truth = sim.world.accounts
    fates = {truth.status_of(x) for x in got}
    assert fates == {"active", "renamed", "suspended", "deleted"}
    assert report["checked"] == len(got) == report["new_accounts"]
    assert report["renamed"] == sum(truth.status_of(x) == "renamed" for x in got)
    not_found = report["renamed"] + report["gone"]
    least = -(-(len(got) + not_found) // 100)
    assert least <= report["calls"] <= least + 1
    assert users_served(sim) - served == report["calls"]
    with open_store(config.store) as store:
        (run,) = store.job_runs("verify")
        assert run["status"] == "done" and run["report"] == report and run["day"] == ""
        assert report["store"] == store.status_counts()
        assert len(store.status_history()) == len(got)  # one entry each: the first status


def test_without_a_known_id_a_renamed_account_is_gone(tmp_path, sim):
    config = make_config(tmp_path)
    logins = viewers(sim, 300)
    seed_day(config, DAY, [(x, None) for x in logins])
    report = verify(config, None, client=client_of(sim), **QUIET)
    check_truth(sim, statuses(config), without_ids=set(logins))
    assert report["renamed"] == 0 and report["calls"] == 3  # no id: no id= calls


def test_on_the_mongodb_store_too(tmp_path, sim, mongo_database_uri):
    config = make_config(tmp_path, store=mongo_database_uri)
    logins = viewers(sim, 250, skip=300)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    report = verify(config, None, client=client_of(sim), **QUIET)
    check_truth(sim, statuses(config))
    assert report["checked"] == 250 and report["renamed"] > 0 and report["gone"] > 0
    again = verify(config, None, client=client_of(sim), **QUIET)
    assert again["checked"] == 250 and again["changed"] == 0


def test_limit_takes_never_checked_first_then_the_longest_unchecked(tmp_path, sim):
    config = make_config(tmp_path)
    logins = viewers(sim, 250, skip=600)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    client = client_of(sim)
    assert verify(config, 100, client=client, **QUIET)["checked"] == 100
    first = statuses(config)
    assert sorted(first) == logins[:100]  # never-checked, by login
    assert verify(config, 100, client=client, **QUIET)["checked"] == 100
    assert sorted(statuses(config)) == logins[:200]
    report = verify(config, 100, client=client, **QUIET)
    assert report["checked"] == 100 and report["limit"] == 100
    third = statuses(config)
    assert sorted(third) == logins  # the last 50 never checked ...
    oldest = sorted(first, key=lambda x: (first[x]["checked_at"], x))[:50]
    rechecked = {x for x in first if third[x]["checked_at"] > first[x]["checked_at"]}
    assert rechecked == set(oldest)  # ... then the 50 checked longest ago
    assert verify(config, 0, client=client, **QUIET)["checked"] == 0
    check_truth(sim, third)


def test_a_rerun_changes_nothing_when_nothing_changed_on_twitch(tmp_path, sim):
    config = make_config(tmp_path)
    logins = viewers(sim, 400, skip=900)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    verify(config, None, client=client_of(sim), **QUIET)
    before = statuses(config)
    with open_store(config.store) as store:
        history = store.status_history()
    again = verify(config, None, client=client_of(sim), **QUIET)
    assert again["checked"] == 400 and again["changed"] == 0 and again["new_accounts"] == 0
    after = statuses(config)
    assert {k: {**v, "checked_at": 0} for k, v in after.items()} == \
           {k: {**v, "checked_at": 0} for k, v in before.items()}
    assert all(after[x]["checked_at"] > before[x]["checked_at"] for x in logins)
    with open_store(config.store) as store:
        assert store.status_history() == history


def test_history_follows_the_user_id_after_a_rename(tmp_path):
    """An id learnt by an earlier check (the lake had none) makes a later rename visible;
    the new login, seen in a later day, shares the history through the id."""
    with Simulator(DAY, AudienceConfig(scale=SCALE)) as sim:
        config = make_config(tmp_path)
        accounts = sim.world.accounts
        ann, bob = [x for x in viewers(sim, 200) if accounts.status_of(x) == "active"][:2]
        seed_day(config, DAY, [(ann, None), (bob, None)])
        verify(config, None, client=client_of(sim), **QUIET)
        ann_id = accounts.id_of(ann)
        assert statuses(config)[ann]["user_id"] == ann_id

        accounts.rename(ann, "ann_renamed")
        accounts.remove(bob, "suspended")
        seed_day(config, NEXT_DAY, [("ann_renamed", None)], run="second")
        report = verify(config, None, client=client_of(sim), **QUIET)
        assert report["new_accounts"] == 1 and report["synced_days"] == [NEXT_DAY]
        got = statuses(config)
        assert got[ann] | {"checked_at": 0} == {"viewer": ann, "user_id": ann_id,
                                                 "status": "renamed",
                                                 "login_now": "ann_renamed", "checked_at": 0}
        assert got["ann_renamed"]["user_id"] == ann_id and got["ann_renamed"]["status"] == "active"
        assert (got[bob]["status"], got[bob]["user_id"]) == ("gone", accounts.id_of(bob))
        with open_store(config.store) as store:
            by_id = store.status_history(user_id=ann_id)
            # the new login, never checked, goes in the first call; the old one, not found
            # by login, is decided by its id in the next
            assert [(h["viewer"], h["status"]) for h in by_id] == [
                (ann, "active"), ("ann_renamed", "active"), (ann, "renamed")]
            assert account_history(store, "ann_renamed") == by_id
            assert account_history(store, ann) == by_id
            assert [h["status"] for h in store.status_history(viewer=bob)] == ["active", "gone"]


def test_429s_5xx_and_an_expired_token_are_survived(tmp_path, sim):
    config = make_config(tmp_path)
    logins = viewers(sim, 500, skip=1300)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    client = client_of(sim)
    verify(config, 100, client=client, **QUIET)
    sim.set_faults(rate_limit=2, server_error=2, malformed_json=1, expire_tokens=True)
    report = verify(config, 400, client=client, **QUIET)
    assert report["checked"] == 400 and report["retries"] >= 4
    assert report["requests"] > report["calls"] + 5  # the retries and a new token
    check_truth(sim, statuses(config))
    assert sorted(statuses(config)) == logins


def test_retry_after_is_honoured(tmp_path, sim):
    """A 500 and a 429 that carry Retry-After: 3 are waited out that long, though the
    back-off after a 500 is under a second and the 429's Ratelimit-Reset under two."""
    config = make_config(tmp_path)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in viewers(sim, 50)])
    waits: list[float] = []
    client = TwitchClient(Credentials(sim.client_id, sim.client_secret), sim.urls["helix_url"],
                          sim.urls["auth_url"], log=lambda m: None,
                          sleep=lambda s: (waits.append(s), time.sleep(s)))
    client.app_token()
    sim.set_faults(server_error=1, rate_limit=1, retry_after=3)
    report = verify(config, None, client=client, **QUIET)
    assert report["checked"] == 50 and report["requests"] == report["calls"] + 2  # 500, 429
    assert len(waits) == 2 and all(2.5 <= w <= 3.0 for w in waits), waits
    check_truth(sim, statuses(config))


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


def test_one_401_is_cured_by_a_new_app_token(tmp_path, sim):
    """Only a 401 that a new token does not cure is a refusal (test_cli_verify)."""
    config = make_config(tmp_path)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in viewers(sim, 50)])
    client = client_of(sim)
    client.app_token()
    sim.set_faults(unauthorized=1)
    report = verify(config, None, client=client, **QUIET)
    assert report["checked"] == 50
    assert report["requests"] == report["calls"] + 2   # the 401 and the new token
    check_truth(sim, statuses(config))


KILLED_RUN = """
import sys
from tpdask.settings import resolve
from tpdask.verify import verify
config = resolve(data_dir=sys.argv[1], helix_url=sys.argv[2], auth_url=sys.argv[3])
verify(config, None)
"""


def test_a_sigkill_loses_at_most_the_call_in_flight_and_the_next_run_resumes(tmp_path):
    with Simulator(DAY, AudienceConfig(scale=SCALE)) as sim:
        config = make_config(tmp_path)
        logins = viewers(sim, 1500)
        seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
        sim.set_faults(slow=0.1)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TPDASK_CLIENT_ID": sim.client_id,
               "TPDASK_CLIENT_SECRET": sim.client_secret}
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, str(config.data_dir), sim.urls["helix_url"],
             sim.urls["auth_url"]], env=env, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while users_served(sim) < 6 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        served = users_served(sim)
        assert 6 <= served < 15

        written = statuses(config)
        check_truth(sim, written)
        # every answered call but the last was written before the next call went out
        assert len(written) >= 100 * (served - 1) - 50
        with open_store(config.store) as store:
            assert store.job_runs("verify") == []  # killed: no ledger entry

        sim.set_faults(reset=True)
        # the next run starts where the killed one stopped: what is left is never checked
        report = verify(config, 1500 - len(written), client=client_of(sim), **QUIET)
        assert report["checked"] == 1500 - len(written)
        got = statuses(config)
        assert sorted(got) == logins
        assert all(got[x] == s for x, s in written.items())  # not checked again
        check_truth(sim, got)
        not_found = sum(s["status"] != "active" for s in got.values())
        least = -(-(1500 + not_found) // 100)
        assert users_served(sim) <= least + 3  # redone: at most the call in flight
        with open_store(config.store) as store:
            assert len(store.status_history()) == 1500  # no change recorded twice


def test_export_status_writes_json_lines_by_viewer_atomically(tmp_path, sim, capsysbinary):
    config = make_config(tmp_path)
    logins = viewers(sim, 120)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    with pytest.raises(NoRecordsError, match="tpdask verify"):
        export_status(config, str(tmp_path / "none.jsonl"))
    assert not (tmp_path / "none.jsonl").exists()
    verify(config, None, client=client_of(sim), **QUIET)
    out = tmp_path / "out" / "status.jsonl"
    with pytest.raises(OutputError, match="does not exist; create the folder first"):
        export_status(config, str(out))   # an export never makes its folder
    assert not out.parent.exists()
    out.parent.mkdir()
    assert export_status(config, str(out)) == 120
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [x["viewer"] for x in lines] == logins
    assert all(list(x) == ["viewer", "user_id", "status", "login_now", "checked_at"]
               for x in lines)
    gone = next(x for x in lines if x["status"] == "gone")
    assert gone["login_now"] is None and gone["user_id"] == sim.world.accounts.id_of(gone["viewer"])
    assert all(len(x["checked_at"]) == 20 and x["checked_at"].endswith("Z") for x in lines)
    assert list(out.parent.iterdir()) == [out]  # no temp left
    assert export_status(config, None) == 120
    assert capsysbinary.readouterr().out == out.read_bytes()
