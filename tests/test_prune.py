"""`tpdask prune` (issue 19, item 3): on a generated history it deletes exactly what the
retention settings say, `--dry_run` deletes nothing, a day's streamer statistics outlive
its lake, the next analyse makes the results true again, and the nightly chain prunes
before it analyses when a retention is set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.analyse import analyse_command
from jobs.nightly import nightly
from jobs.process_day import process_command
from tests.results_support import exports, from_scratch
from tests.support import make_config, sample, write_samples
from tpdask.analysis.export import export_day_results
from tpdask.archive.pack import archive_day
from tpdask.days import day_bounds, days_between
from tpdask.errors import NoRecordsError
from tpdask.privacy.prune import prune
from tpdask.privacy.retention import first_kept
from tpdask.settings import Config
from tpdask.stores import open_store

ROOT = Path(__file__).resolve().parent.parent
DAYS = days_between("2022-08-01", "2022-08-06")
TODAY = "2022-08-07"
QUIET = dict(log=lambda m: None)
RETENTION = dict(retention_archive_days=4, retention_lake_days=3, retention_store_days=2)


def history(config: Config) -> None:
    """Six archived, processed, analysed days; `only_first` is seen on the first day
    only, `first_and_last` on the first and the last."""
    for i, day in enumerate(DAYS):
        start = day_bounds(day)[0]
        chat = [f"regular_{n}" for n in range(5)] + [f"day{i}_viewer"]
        chat += ["only_first", "first_and_last"] if i == 0 else []
        chat += ["first_and_last"] if i == len(DAYS) - 1 else []
        write_samples(config, day, [sample(start + 3600 + 300 * k, {"chan_a": chat,
                                                                     "chan_b": chat[:3]})
                                    for k in range(6)])
        (config.quarantine_dir / day).mkdir(parents=True, exist_ok=True)
        (config.quarantine_dir / day / "odd.json.reason").write_text("kept for the test\n")
        archive_day(config, day, **QUIET)
        process_command(config, day, local=True, **QUIET)
    analyse_command(config, DAYS, local=True, **QUIET)
    with open_store(config.store) as store:
        for day in DAYS:
            store.sync_accounts(day)


def files(config: Config) -> dict[str, bytes]:
    return {str(p.relative_to(config.data_dir)): p.read_bytes()
            for p in sorted(config.data_dir.rglob("*")) if p.is_file()}


def stored(config: Config) -> dict:
    with open_store(config.store) as store:
        return {"days": store.days(), "accounts": store.status_counts(),
                "bots": sorted((s, k) for s, k, _ in store.iter_results("bots")),
                "streamer_days": sorted(s for s, _, _ in store.iter_results("streamer_days"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Config:
    config = make_config(tmp_path_factory.mktemp("history"), **RETENTION)
    history(config)
    return config


@pytest.fixture
def config(generated, tmp_path) -> Config:
    config = make_config(tmp_path, **RETENTION)
    shutil.copytree(generated.data_dir, config.data_dir)
    return config


def test_the_retention_cutoffs():
    assert first_kept(TODAY, 0) is None
    assert first_kept(TODAY, 2) == "2022-08-05" and first_kept("2024-04-01", 90) == "2024-01-02"


def test_a_dry_run_deletes_nothing_and_says_what_would_go(config):
    before_files, before_store = files(config), stored(config)
    report = prune(config, today=TODAY, dry_run=True, **QUIET)
    assert report.plan.archive == tuple(DAYS[:2]) and report.plan.lake == tuple(DAYS[:3])
    assert report.plan.store == tuple(DAYS[:4])
    assert report.records == 8 + 3 * 6 and "would delete" in report.text()
    assert files(config) == before_files and stored(config) == before_store


def test_prune_deletes_exactly_what_the_settings_say(config, tmp_path):
    before = stored(config)
    report = prune(config, today=TODAY, **QUIET)
    names = set(files(config))
    for i, day in enumerate(DAYS):
        raw = {f"archive/{day}.7z", f"archive/{day}.manifest.json",
               f"quarantine/{day}/odd.json.reason"}
        assert (raw <= names) == (i >= 2) and not (raw & names and i < 2), day
        lake = {n for n in names if f"/day={day}/" in n}
        assert bool(lake) == (i >= 3), day
        assert any(n.startswith(f"lake/analysis/contrib/day={day}/") for n in names) == (i >= 3)
    after = stored(config)
    assert after["days"] == DAYS[4:]
    assert after["streamer_days"] == before["streamer_days"]        # aggregates outlive
    assert {s for s, _ in after["bots"]} <= set(DAYS[3:])
    assert report.records == 8 + 3 * 6 and report.accounts == 5        # only_first, day0…day3
    with open_store(config.store) as store:
        accounts = {s for s in store.accounts_to_check(1000)}
    assert ("only_first", None) not in accounts and ("first_and_last", None) in accounts
    export_day_results(config, "streamer_days", DAYS[0], str(tmp_path / "kept"))
    assert (tmp_path / "kept").read_text().count("\n") == 2
    with pytest.raises(NoRecordsError, match="deleted with its lake"):
        export_day_results(config, "bots", DAYS[0], str(tmp_path / "x"))
    assert prune(config, today=TODAY, **QUIET).plan.empty                  # nothing left to do
    analyse_command(config, DAYS[3:], local=True, **QUIET)
    assert exports(config, DAYS[3:], tmp_path / "got") == from_scratch(config, DAYS[3:], tmp_path)


def test_the_nightly_chain_prunes_before_it_analyses(generated, tmp_path):
    """The nightly chain prunes as of today: the same cut, in days before today."""
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).date()
    ago = {name: (today - dt.date.fromisoformat(TODAY)).days + days
           for name, days in RETENTION.items()}
    config = make_config(tmp_path, **ago)
    shutil.copytree(generated.data_dir, config.data_dir)
    report = nightly(config, [DAYS[-1]], local=True, **QUIET)
    stages = [(o["stage"], o["verdict"]) for o in report["stages"]]
    assert stages.index(("prune", "done")) < [s for s, _ in stages].index("analyse")
    assert ("analyse", "done") in stages
    assert exports(config, [d for d in DAYS if d >= "2022-08-04"], tmp_path / "got") == \
        from_scratch(config, DAYS[3:], tmp_path)
    plain = make_config(tmp_path / "plain")
    shutil.copytree(config.data_dir, plain.data_dir)
    again = nightly(plain, [DAYS[-1]], local=True, **QUIET)
    prune_stage = next(o for o in again["stages"] if o["stage"] == "prune")
    assert prune_stage["verdict"] == "skipped" and "no retention set" in prune_stage["reason"]


def test_the_command_line_dry_run(generated, tmp_path):
    config = make_config(tmp_path)
    shutil.copytree(generated.data_dir, config.data_dir)
    before = files(config)
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
         "--retention_store_days", "30", "prune", "--dry_run"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "dry run, nothing deleted" in result.stdout
    assert f"would delete {len(DAYS)} days" in result.stdout
    assert files(config) == before
