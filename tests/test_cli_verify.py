"""`tpdask verify`, `tpdask export status` and `tpdask status`, run as a user runs them,
against the Twitch simulator over real sockets; what goes wrong is one line (issue 17,
item 5): Helix answers of the wrong shape, refused credentials, a long Retry-After, a
second verify at once, a huge --limit."""

from __future__ import annotations

import os
import time

import orjson
import pytest

from tests.support import ACCOUNTS_DAY as DAY
from tests.support import error_line, make_config, tpdask, users_served, viewers
from tpdask.bench.verify import seed_day
from tpdask.simulator.accounts import expected_status
from tpdask.stores import open_store
from tpdask.verify import verify_lock
from tpdask.verify.run import MAX_LIMIT


@pytest.fixture
def sim(accounts_sim):
    """The module's simulator (conftest.accounts_sim); faults a test switches on are reset."""
    yield accounts_sim
    accounts_sim.set_faults(reset=True)


def test_verify_then_export_status_and_status(tmp_path, sim):
    config = make_config(tmp_path)
    logins = viewers(sim, 230, skip=1500)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    data = ["--data_dir", str(config.data_dir), "--helix_url", sim.urls["helix_url"],
            "--auth_url", sim.urls["auth_url"]]
    secrets = {"TPDASK_CLIENT_ID": sim.client_id, "TPDASK_CLIENT_SECRET": sim.client_secret}
    out = tpdask(*data, "verify", "--limit", "150", env=secrets).stdout
    assert "verified 150 accounts" in out and "unchecked 80" in out
    rows = [orjson.loads(line) for line in tpdask(*data, "export", "status").stdout.splitlines()]
    assert len(rows) == 150 and [r["viewer"] for r in rows] == sorted(r["viewer"] for r in rows)
    for row in rows:
        assert set(row) == {"viewer", "user_id", "status", "login_now", "checked_at"}
        assert (row["status"], row["login_now"]) == expected_status(sim.world.accounts,
                                                                    row["viewer"])
    status = tpdask(*data, "status", check=False).stdout   # exit: its verdict
    assert "unchecked 80" in status and "verify" in status


def test_verify_without_credentials_says_what_to_set(tmp_path):
    config = make_config(tmp_path)
    seed_day(config, DAY, [("someone", "1")])
    result = tpdask("--data_dir", str(config.data_dir), "verify",
                    env={"TPDASK_CLIENT_ID": "", "TPDASK_CLIENT_SECRET": ""}, check=False)
    assert result.returncode == 1 and "TPDASK_CLIENT_ID" in result.stderr
    assert "Traceback" not in result.stderr


def seeded(tmp_path, sim, count: int, skip: int, store: str | None = None):
    """(config, global options, environment) of a data folder with ``count`` accounts of
    the model to verify against the simulator."""
    config = make_config(tmp_path, store=store)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in viewers(sim, count, skip)])
    args = ["--data_dir", str(config.data_dir), "--store", config.store,
            "--helix_url", sim.urls["helix_url"], "--auth_url", sim.urls["auth_url"]]
    env = {"TPDASK_CLIENT_ID": sim.client_id, "TPDASK_CLIENT_SECRET": sim.client_secret}
    return config, args, env


def ledger(config) -> list[dict]:
    with open_store(config.store) as store:
        return store.job_runs("verify")


def checked(config) -> int:
    with open_store(config.store) as store:
        return sum(1 for _ in store.iter_statuses())


@pytest.mark.parametrize("shape, problem", [("list", "a JSON array"),
                                            ("null_data", '"data": null'),
                                            ("no_id", 'an item without "id"')])
def test_helix_answers_of_the_wrong_shape_are_one_line(tmp_path, sim, shape,
                                                       problem):
    config, args, env = seeded(tmp_path, sim, 20, skip=10)
    sim.set_faults(helix_shape=shape)
    result = tpdask(*args, "verify", env=env, check=False)
    assert result.returncode == 1
    line = error_line(result)
    assert line.startswith(f"error: Helix answered /users with {problem}, not the "
                           '{"data": [...]} it documents (')
    assert line.endswith("check that --helix_url is Twitch's Helix (https://api.twitch.tv/helix)")
    assert [run["status"] for run in ledger(config)] == ["failed"] and checked(config) == 0


def test_credentials_twitch_refuses_are_said_to_be_refused(tmp_path, sim):
    """A 401 that a new app token does not cure, and a refused secret: "Twitch refused the
    credentials", at once, never "failed after 6 tries (no answer)"."""
    config, args, env = seeded(tmp_path, sim, 20, skip=40)
    before = sim.state()["counters"].get("faults.unauthorized", 0)
    sim.set_faults(unauthorized=100)
    result = tpdask(*args, "verify", env=env, check=False)
    assert result.returncode == 1 and "no answer" not in result.stderr
    assert error_line(result) == (
        f"error: Twitch refused the credentials: 401 on {sim.urls['helix_url']}/users again "
        "with a new app token (Invalid OAuth token); check TPDASK_CLIENT_ID and "
        "TPDASK_CLIENT_SECRET (or --secrets_file), and that --helix_url and --auth_url are "
        "one Twitch's")
    assert sim.state()["counters"]["faults.unauthorized"] - before == 2  # renewed once
    sim.set_faults(reset=True)
    wrong = tpdask(*args, "verify", env={**env, "TPDASK_CLIENT_SECRET": "not-the-secret"},
                   check=False)
    assert wrong.returncode == 1 and error_line(wrong) == (
        "error: Twitch refused the credentials (the client id/secret: 403 on "
        f"{sim.urls['auth_url']}/token): invalid client secret")
    assert checked(config) == 0


def test_a_retry_after_longer_than_a_minute_is_one_line_at_once(tmp_path, sim):
    config, args, env = seeded(tmp_path, sim, 20, skip=70)
    sim.set_faults(rate_limit=1, retry_after=3600)
    started = time.monotonic()
    result = tpdask(*args, "verify", env=env, check=False)
    assert result.returncode == 1 and time.monotonic() - started < 60
    assert error_line(result) == (
        f"error: Twitch answered 429 on {sim.urls['helix_url']}/users and asked to wait "
        "3600 s before the next call (Retry-After), more than tpdask waits (60 s): run it "
        "again later")


def test_a_second_verify_at_once_is_refused_naming_the_first(tmp_path, sim):
    config, args, env = seeded(tmp_path, sim, 20, skip=100)
    served = users_served(sim)
    with verify_lock(config):            # what a running verify holds
        result = tpdask(*args, "verify", env=env, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert error_line(result) == (
        f"error: another `tpdask verify` is running on this data folder (pid {os.getpid()}); "
        "wait for it to finish, or stop it, and run verify again")
    assert users_served(sim) == served and ledger(config) == [] and checked(config) == 0
    assert "verified 20 accounts" in tpdask(*args, "verify", env=env).stdout   # then it runs


@pytest.mark.parametrize("backend", ["sqlite", "mongodb"])
def test_a_huge_limit_never_breaks_the_ledger(tmp_path, sim, backend, request):
    """--limit 10**30 overflows neither orjson (64 bits) nor BSON (int64): a limit past
    2**53 - 1 asks for every account and is kept as that."""
    store = request.getfixturevalue("mongo_database_uri") if backend == "mongodb" else None
    config, args, env = seeded(tmp_path, sim, 30, skip=130, store=store)
    out = tpdask(*args, "verify", "--limit", str(10**30), env=env).stdout
    assert "verified 30 accounts" in out
    (run,) = ledger(config)
    assert run["status"] == "done" and run["report"]["checked"] == 30
    assert run["report"]["limit"] == MAX_LIMIT == 2**53 - 1
    assert "verify" in tpdask(*args, "status", check=False).stdout   # its verdict: exit 0-2
