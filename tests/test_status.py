"""`tpdask status`: the install's health and one verdict (issue 18, item 4).

The CLI runs in this process (`tpdask.cli.main.main`, output captured) on real data
folders, and as a real process where the exit code itself is the point; the rules are
also checked on the library (`tpdask.ops.check_health`) at a fixed time, the disk rule on
plain numbers (a full disk is hard to fake), and the website's dashboard through a real
`tpdask web`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests

from tests.support import make_config, sample, write_samples
from tests.web_support import PASSWORDS, add_user, cli_env, login, running_site
from tpdask.cli.main import main
from tpdask.days import day_bounds, day_of
from tpdask.ops import check_health
from tpdask.ops.health import GIB, check_disk, count_ticks, guarded, utc
from tpdask.running import announce, running_dir
from tpdask.settings import resolve
from tpdask.stores import open_store

INTERVAL = 300
#: free-space thresholds no test machine is below: these tests are not about the disk
ROOMY = ["--status_disk_warn_gib", "0.001", "--status_disk_warn_percent", "0.001",
         "--status_disk_fail_gib", "0.0001", "--status_disk_fail_percent", "0.0001"]
ROOMY_SETTINGS = {"status_disk_warn_gib": 0.001, "status_disk_warn_percent": 0.001,
                  "status_disk_fail_gib": 0.0001, "status_disk_fail_percent": 0.0001}
#: a fixed "now" for the library's rules: 2024-03-10 12:00 UTC
TODAY, YESTERDAY = "2024-03-10", "2024-03-09"
NOW = day_bounds(TODAY)[0] + 12 * 3600


@pytest.fixture(autouse=True)
def no_tpdask_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's TPDASK_* settings (but the tests' own) do not reach the commands."""
    for name in [n for n in os.environ if n.startswith("TPDASK_")
                 and not n.startswith("TPDASK_TEST_")]:
        monkeypatch.delenv(name)


def status(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str]:
    """`tpdask --data_dir DATA … status …` in this process: (exit code, standard output)."""
    capsys.readouterr()
    code = main(["--data_dir", str(data), *ROOMY, *args])
    return code, capsys.readouterr().out


def status_json(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, dict]:
    code, out = status(capsys, data, *args, "status", "--json")
    assert len(out.splitlines()) == 1, out        # one JSON object, one line
    return code, orjson.loads(out)


def texts(health: dict) -> list[str]:
    return [r["text"] for r in health["reasons"]]


def collecting(config, until: float, hours: float = 1.0) -> None:
    """Samples every interval for ``hours`` up to the tick at or before ``until``: a
    collector running all that time."""
    last = int(until) // INTERVAL * INTERVAL
    for k in range(int(hours * 3600 / INTERVAL) + 1):
        ts = last - k * INTERVAL
        write_samples(config, day_of(ts), [sample(ts, {"chan": ["ann", "bob"]})])


def config_of(tmp_path: Path, **extra):
    return make_config(tmp_path, **{**ROOMY_SETTINGS, **extra})


@pytest.fixture(params=["sqlite", "mongodb"])
def store_uri(request, tmp_path) -> str | None:
    """The store of a test: the SQLite default (None) or a fresh FerretDB database."""
    return request.getfixturevalue("mongo_database_uri") if request.param == "mongodb" else None


# -- the rules, at a fixed time ----------------------------------------------------------

def test_ticks_missed_today_and_yesterday_above_the_threshold_are_a_warning(tmp_path):
    config = config_of(tmp_path, status_missing_ticks=5)
    start = day_bounds(YESTERDAY)[0]
    every = [ts for ts in range(start, NOW, INTERVAL)]
    gone = set(every[10:16]) | set(every[288 + 20:288 + 25])    # 6 yesterday, 5 today
    for ts in every:
        if ts not in gone:
            write_samples(config, day_of(ts), [sample(ts, {"chan": ["ann"]})])
    health = check_health(config, now=NOW)
    ticks = health.checks["collector"]["ticks"]
    assert ticks["yesterday"] == {"day": YESTERDAY, "expected": 288, "present": 282,
                                  "missing": 6}
    # 12:00: the ticks of 00:00 … 11:55, the one of 11:55 written (the next is not due)
    assert ticks["today"] == {"day": TODAY, "expected": 144, "present": 139, "missing": 5}
    assert [r.text for r in health.reasons if r.check == "collector"] == [
        f"collector missed 6 of 288 ticks yesterday ({YESTERDAY})"]
    assert health.verdict == "warning"


def test_ticks_before_the_first_sample_ever_are_not_missed(tmp_path):
    config = config_of(tmp_path)
    collecting(config, NOW, hours=2)           # installed two hours ago
    health = check_health(config, now=NOW + 10)
    assert health.checks["collector"]["ticks"]["today"]["missing"] == 0
    assert health.checks["collector"]["ticks"]["yesterday"]["expected"] == 0
    assert health.verdict == "ok", health.reasons


def test_count_ticks_counts_each_interval_once_and_gives_the_current_one_time():
    assert count_ticks({0, 300, 600}, 0, 900, 300) == {"expected": 3, "present": 3, "missing": 0}
    assert count_ticks({0, 300, 600}, 0, 899, 300) == {"expected": 2, "present": 2, "missing": 0}
    assert count_ticks({5, 17, 610}, 0, 900, 300) == {"expected": 3, "present": 2, "missing": 1}
    assert count_ticks(set(), 450, 900, 300)["expected"] == 1


def test_archived_samples_count_through_the_manifest(tmp_path):
    from tpdask.archive.pack import archive_day

    config = config_of(tmp_path)
    start = day_bounds(YESTERDAY)[0]
    write_samples(config, YESTERDAY, [sample(ts, {"chan": ["ann"]})
                                      for ts in range(start, start + 86400, INTERVAL)])
    archive_day(config, YESTERDAY, log=lambda message: None)
    assert not list((config.samples_dir / YESTERDAY).glob("*.json"))
    health = check_health(config, now=start + 86400 + 60)
    assert health.checks["collector"]["newest_sample_ts"] == start + 86400 - INTERVAL
    assert health.checks["collector"]["ticks"]["yesterday"]["missing"] == 0
    assert health.checks["archives"]["count"] == 1 and health.checks["archives"]["bytes"] > 0
    (config.archive_dir / f"{YESTERDAY}.manifest.json").unlink()
    health = check_health(config, now=start + 86400 + 60)
    assert [r.text for r in health.reasons] == [
        f"the archive of {YESTERDAY} has no manifest, so it cannot be verified: "
        f"`tpdask archive --day {YESTERDAY}` rebuilds it"]


def test_a_day_not_archived_processed_analysed_by_its_deadline_is_a_warning(tmp_path):
    config = config_of(tmp_path, status_missing_ticks=1000)   # one sample yesterday, then 05:00 on
    collecting(config, NOW, hours=7)
    write_samples(config, YESTERDAY, [sample(day_bounds(YESTERDAY)[0] + 3600, {"c": ["ann"]})])
    before = day_bounds(TODAY)[0] + 6 * 3600 - 1          # 05:59:59, due at 06:00
    assert check_health(config, now=before).reasons == ()
    health = check_health(config, now=NOW)
    assert [r.text for r in health.reasons] == [
        f"{YESTERDAY} is not archived (1 sample waiting) and not processed, 6 h past its "
        "deadline"]
    with open_store(config.store) as store:
        store.write_viewer_days([{"viewer": "ann", "day": YESTERDAY, "samples": 1,
                                  "minutes": 5, "first_ts": 1, "last_ts": 1, "streamers": {}}])
    health = check_health(config, now=NOW)
    assert [r.text for r in health.reasons] == [
        f"{YESTERDAY} is not archived (1 sample waiting) and not analysed, 6 h past its "
        "deadline"]
    late = check_health(resolve(data_dir=str(config.data_dir), status_due_hours=13,
                                status_missing_ticks=1000, **ROOMY_SETTINGS), now=NOW)
    assert late.reasons == ()


def test_a_day_whose_chats_were_all_empty_counts_as_processed_and_analysed(tmp_path):
    """Such a day publishes no viewer record and no streamer statistic: the ledger's done
    runs say it went through (seen following docs/operations.md on a night-time day)."""
    from jobs.analyse import analyse_command
    from jobs.process_day import process_command
    from tpdask.archive.pack import archive_day

    config = config_of(tmp_path, status_missing_ticks=1000)
    collecting(config, NOW, hours=7)
    write_samples(config, YESTERDAY, [sample(day_bounds(YESTERDAY)[0] + 3600, {"c": []})])
    quiet = dict(log=lambda m: None)
    archive_day(config, YESTERDAY, **quiet)
    process_command(config, YESTERDAY, local=True, **quiet)
    analyse_command(config, [YESTERDAY], local=True, **quiet)
    health = check_health(config, now=NOW)
    assert health.reasons == ()
    [row] = [d for d in health.checks["stages"]["days"] if d["day"] == YESTERDAY]
    assert (row["archived"], row["processed"], row["analysed"]) == (True, True, True)


def test_failed_runs_of_each_stage_and_of_the_nightly_chain(tmp_path, store_uri):
    config = config_of(tmp_path, store=store_uri, status_missing_ticks=1000)
    collecting(config, day_bounds(TODAY)[0] + 3600)
    write_samples(config, YESTERDAY, [sample(day_bounds(YESTERDAY)[0] + 60, {"c": ["ann"]})])
    nightly = {"days": [YESTERDAY], "status": "partial", "failed": 1, "stages": [
        {"stage": "archive", "day": YESTERDAY, "verdict": "failed", "reason": "disk full",
         "seconds": 1.0},
        {"stage": "process", "day": YESTERDAY, "verdict": "skipped", "reason": "its archive "
         "failed", "seconds": 0.0}]}
    with open_store(config.store) as store:
        store.record_job("nightly", YESTERDAY, "partial", nightly, NOW - 7200, NOW - 7100)
        store.record_job("analyse", "2024-03-02..2024-03-09", "failed", {"error": "x"},
                         NOW - 7000, NOW - 6900)
        store.record_job("verify", "", "failed", {"error": "401"}, NOW - 6000, NOW - 5900)
        health = check_health(config, store=store, now=day_bounds(TODAY)[0] + 3600)
    assert health.verdict == "failing"
    assert [r.text for r in health.reasons] == [
        f"archive of {YESTERDAY} failed (2024-03-10 10:00 UTC)",
        "analyse of 2024-03-02..2024-03-09 failed (2024-03-10 10:03 UTC)",
        "verify failed (2024-03-10 10:20 UTC)"]
    assert health.checks["store"]["bytes"] > 0
    # archived since (by hand: `tpdask archive` keeps no ledger entry): no longer failing
    from tpdask.archive.pack import archive_day

    archive_day(config, YESTERDAY, log=lambda message: None)
    with open_store(config.store) as store:
        health = check_health(config, store=store, now=day_bounds(TODAY)[0] + 3600)
    assert not any(r.text.startswith("archive of") for r in health.reasons)


def test_quarantined_files_of_the_last_days_are_a_warning(tmp_path):
    config = config_of(tmp_path)
    collecting(config, NOW)
    for day, name in ((YESTERDAY, "1.json"), (YESTERDAY, "2.json"), ("2024-01-01", "3.json")):
        folder = config.quarantine_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{")
        (folder / f"{name}.reason").write_text("not JSON\n")
    old = NOW - 30 * 86400
    os.utime(config.quarantine_dir / "2024-01-01" / "3.json.reason", (old, old))
    for reason in (config.quarantine_dir / YESTERDAY).glob("*.reason"):
        os.utime(reason, (NOW - 3600, NOW - 3600))
    health = check_health(config, now=NOW)
    assert [r.text for r in health.reasons] == [
        f"2 files quarantined in the last 7 days ({YESTERDAY}: 2)"]
    assert health.checks["quarantine"]["total"] == 3


@pytest.mark.parametrize("free_gib, total_gib, verdict", [
    (500, 1000, "ok"),
    (9.9, 500, "warning"),          # under 10 GiB
    (40, 1000, "warning"),          # under 5 %
    (1.9, 1000, "failing"),         # under 2 GiB
    (50, 10240, "failing"),         # under 1 %
    (0, 0, "failing"),              # nothing to write on
])
def test_the_disk_rule_on_numbers(free_gib, total_gib, verdict):
    check = check_disk(int(free_gib * GIB), int(total_gib * GIB), resolve())
    reasons = [r.level for r in check.reasons]
    assert (reasons[0] if reasons else "ok") == verdict
    if verdict != "ok":
        assert check.reasons[0].text.startswith(
            "disk nearly full: " if verdict == "failing" else "disk filling up: ")


def test_the_disk_thresholds_are_settings():
    config = resolve(status_disk_fail_gib=100, status_disk_warn_gib=200)
    assert check_disk(150 * GIB, 1000 * GIB, config).reasons[0].level == "warning"
    assert check_disk(50 * GIB, 1000 * GIB, config).reasons[0].level == "failing"
    text = check_disk(50 * GIB, 1000 * GIB, config).reasons[0].text
    assert text == "disk nearly full: 50.0 GiB free (5.0 %) on the data folder's filesystem"


def test_a_check_that_breaks_is_a_failing_reason_not_a_traceback(tmp_path):
    check = guarded("archives", lambda: 1 / 0)
    assert [(r.level, r.text) for r in check.reasons] == [
        ("failing", "the archives check could not run (ZeroDivisionError)")]
    assert check.facts == {"error": "ZeroDivisionError: division by zero"}
    config = config_of(tmp_path)
    collecting(config, NOW)
    config.archive_dir.mkdir()
    (config.archive_dir / f"{YESTERDAY}.7z").write_bytes(b"7z")
    (config.archive_dir / f"{YESTERDAY}.manifest.json").write_text("{not json")
    health = check_health(config, now=NOW)
    assert [r.text for r in health.reasons] == [
        f"the manifest of the archive of {YESTERDAY} is unreadable: delete it and run "
        f"`tpdask archive --day {YESTERDAY}` to rebuild it"]


def test_no_reason_names_a_path(tmp_path):
    config = config_of(tmp_path, status_missing_ticks=1)
    write_samples(config, YESTERDAY, [sample(day_bounds(YESTERDAY)[0] + 60, {"c": ["ann"]})])
    (config.lake_dir / "viewer_days" / "day=2024-01-01").mkdir(parents=True)
    folder = config.quarantine_dir / YESTERDAY
    folder.mkdir(parents=True)
    (folder / "x.json.reason").write_text("bad\n")
    health = check_health(config, now=time.time())
    assert health.verdict == "failing" and len(health.reasons) >= 4
    for reason in health.reasons:
        assert str(tmp_path) not in reason.text and "/" not in reason.text.replace("..", "")


def test_just_past_two_intervals_is_stopped_and_just_before_is_not(tmp_path):
    config = config_of(tmp_path)
    write_samples(config, TODAY, [sample(NOW - 3600, {"chan": ["ann"]})])
    assert check_health(config, now=NOW - 3600 + 2 * INTERVAL).verdict == "ok"
    health = check_health(config, now=NOW - 3600 + 2 * INTERVAL + 1)
    assert [r.text for r in health.reasons] == [
        "collector stopped: newest sample 10 min old (2024-03-10 11:00 UTC)"]


def test_a_reason_two_checks_give_is_said_once():
    from tpdask.ops.health import Check, assemble

    store, stages = Check("store"), Check("stages")
    store.fail("the store cannot be read")
    stages.warn("2024-03-09 is not processed, 1 h past its deadline")
    stages.fail("the store cannot be read")
    health = assemble([stages, store], NOW)
    assert [(r.level, r.check, r.text) for r in health.reasons] == [
        ("failing", "stages", "the store cannot be read"),
        ("warning", "stages", "2024-03-09 is not processed, 1 h past its deadline")]
    assert health.verdict == "failing" and health.exit_code == 2



# -- through the command line ------------------------------------------------------------

def test_a_fresh_data_folder_is_a_warning_and_creates_nothing(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    code, health = status_json(capsys, data)
    assert code == 1 and health["verdict"] == "warning"
    assert texts(health) == ["no sample collected yet: start the collector (tpdask collect)"]
    assert health["store"]["exists"] is False and "no store yet" in health["store"]["error"]
    assert list(data.iterdir()) == []
    code, out = status(capsys, data, "status")
    assert code == 1 and out.startswith("verdict: warning\n  warning  no sample collected yet")


def test_a_missing_data_folder_is_failing_and_creates_nothing(tmp_path, capsys):
    code, health = status_json(capsys, tmp_path / "dta")
    assert code == 2 and texts(health) == ["no data folder: check --data_dir (or TPDASK_DATA_DIR)"]
    assert list(tmp_path.iterdir()) == []


def test_a_running_collector_is_ok(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time(), hours=1)
    code, health = status_json(capsys, config.data_dir)
    assert (code, health["verdict"], health["reasons"]) == (0, "ok", [])
    collector = health["collector"]
    assert collector["newest_sample_age_seconds"] <= INTERVAL + 5
    assert collector["ticks"]["today"]["missing"] == 0
    code, out = status(capsys, config.data_dir, "status")
    assert code == 0 and out.startswith("verdict: ok\nchecked: ")
    assert "\ncollector: newest sample " in out and "\nrunning: no job" in out


def test_a_collector_stopped_for_over_two_intervals_fails_with_exit_2(tmp_path):
    """The issue's "done when", as a monitoring check runs it: a real process."""
    config = config_of(tmp_path)
    collecting(config, time.time() - 3 * 3600, hours=2)
    result = subprocess.run([sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
                             *ROOMY, "status", "--json"], capture_output=True, text=True,
                            env=cli_env(), timeout=120)
    assert result.returncode == 2, result.stderr
    health = orjson.loads(result.stdout)
    assert health["verdict"] == "failing"
    assert health["reasons"][0]["check"] == "collector"
    assert health["reasons"][0]["text"].startswith("collector stopped: newest sample 3 h old (")
    assert health["collector"]["newest_sample_age_seconds"] > 2 * INTERVAL


def test_a_failed_last_process_run_is_failing_until_a_run_succeeds(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time())
    yesterday = day_of(int(time.time()) - 86400)
    started = time.time() - 600
    with open_store(config.store) as store:
        store.record_job("process", yesterday, "done", {"viewers": 2}, started - 3600,
                         started - 3500)
        store.record_job("process", yesterday, "failed", {"error": "JobError('disk full')"},
                         started, started + 30)
    code, health = status_json(capsys, config.data_dir)
    assert code == 2 and health["verdict"] == "failing"
    assert texts(health) == [f"process of {yesterday} failed ({utc(started)})"]
    row = next(r for r in health["stages"]["days"] if r["day"] == yesterday)
    assert row["runs"]["process"]["status"] == "failed"
    assert row["runs"]["process"]["error"] == "JobError('disk full')"
    with open_store(config.store) as store:
        store.record_job("process", yesterday, "done", {"viewers": 2}, started + 60, started + 90)
    code, health = status_json(capsys, config.data_dir)
    assert (code, health["reasons"]) == (0, [])


def test_the_human_output_says_what_each_check_found(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time())
    yesterday = day_of(int(time.time()) - 86400)
    with open_store(config.store) as store:
        store.record_job("verify", "", "done", {"checked": 3}, time.time() - 60, time.time())
    with announce(running_dir(config.data_dir), f"process {yesterday}", None):
        code, out = status(capsys, config.data_dir, "status")
        code_json, health = status_json(capsys, config.data_dir)
    assert code == code_json == 0
    assert f"\nstore: sqlite:///{config.data_dir}/tpdask.sqlite (" in out
    assert f"\ndata: {config.data_dir}\n" in out and "\ndisk: " in out
    assert "\n  verify      done " in out and "\nquarantine: 0 files in the last 7 days" in out
    assert f"\nrunning: process {yesterday} (pid {os.getpid()}, since " in out
    assert [j["job"] for j in health["running"]["jobs"]] == [f"process {yesterday}"]
    assert health["store"]["bytes"] > 0 and health["store"]["accounts"] == {}


def test_an_unreachable_store_is_failing(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]            # nobody listens there once it is closed
    uri = f"mongodb://127.0.0.1:{port}/tpdask?serverSelectionTimeoutMS=300"
    code, health = status_json(capsys, config.data_dir, "--store", uri)
    assert code == 2 and texts(health) == ["the store cannot be opened"]
    assert "cannot reach MongoDB" in health["store"]["error"]


def test_a_store_that_is_not_one_is_failing(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time())
    (config.data_dir / "tpdask.sqlite").write_bytes(b"not a database, " * 512)
    code, health = status_json(capsys, config.data_dir)
    assert code == 2 and texts(health) == ["the store cannot be opened"]
    assert "SQLite could not" in health["store"]["error"]


def test_a_missing_store_once_days_were_processed_is_failing(tmp_path, capsys):
    config = config_of(tmp_path)
    collecting(config, time.time())
    (config.lake_dir / "viewer_days" / "day=2024-01-01").mkdir(parents=True)
    code, health = status_json(capsys, config.data_dir)
    assert code == 2 and texts(health) == [
        "no store, though the lake holds 1 processed day: check --store (or TPDASK_STORE)"]


# -- the website -------------------------------------------------------------------------

def test_the_dashboard_shows_the_verdict_and_reasons_to_visitors(tmp_path):
    config = config_of(tmp_path)
    collecting(config, time.time() - 3 * 3600, hours=1)
    yesterday = day_of(int(time.time()) - 86400)
    with open_store(config.store) as store:
        store.record_job("process", yesterday, "failed", {"error": f"{config.data_dir}/x"},
                         time.time() - 600, time.time() - 500)
    add_user(config.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    with running_site(config.data_dir, args=tuple(ROOMY)) as base:
        session = login(base, "visitor", PASSWORDS["visitor"])
        page = session.get(base + "/", timeout=60)
        api = session.get(base + "/api/dashboard", timeout=60).json()
        anonymous = requests.get(base + "/api/dashboard", timeout=60)
    assert anonymous.status_code == 401
    assert api["health"]["verdict"] == "failing"
    said = [r["text"] for r in api["health"]["reasons"]]
    assert said[0].startswith("collector stopped: newest sample 3 h old")
    assert f"process of {yesterday} failed (" in said[1]
    html = page.text
    top = html.index('<section class="health health-failing" id="health">')
    assert top < html.index("<h2>")                          # at the top
    assert "collector stopped: newest sample 3 h old" in html
    for answer in (html, orjson.dumps(api).decode()):
        assert str(tmp_path) not in answer                   # no path, not even the error's


def test_the_dashboard_keeps_the_health_only_briefly(tmp_path, monkeypatch):
    from tpdask.web import data as site_data
    from tpdask.web.data import SiteData
    from tpdask.web.pseudonyms import Pseudonyms

    config = config_of(tmp_path)
    collecting(config, time.time())
    with open_store(config.store) as store:
        site = SiteData(config, store, Pseudonyms(b"k" * 32))
        assert site.dashboard(admin=False)["health"]["verdict"] == "ok"
        for path in config.samples_dir.rglob("*.json"):
            path.unlink()                                    # as if nothing was ever collected
        assert site.health()["verdict"] == "ok"             # kept …
        monkeypatch.setattr(site_data, "HEALTH_MAX_AGE", 0.0)
        time.sleep(0.01)
        assert site.health()["verdict"] == "warning"        # … but not for long
