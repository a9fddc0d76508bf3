"""The Insight tests' days: three generated days with view-botted channels, processed and
analysed once per module (``built``), and the comparison of exports with the reference
(used by test_insight, test_broadcast_days and test_web_stream_health; import the
fixtures ``raw`` and ``built`` into a module to use them there)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import orjson
import pytest

from jobs.analyse import analyse_command
from jobs.process_day import process_command
from tests.support import make_config
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store

DAYS = ["2022-08-01", "2022-08-02", "2022-08-03"]
QUIET = dict(log=lambda m: None)
MODEL = AudienceConfig(seed=3, scale=0.003, view_botted=2, gaps=True, dirty=True)
MIN_VIEWERS = 40              # rated broadcasts at this small scale (the default is 200)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("raw")
    return {day: write_day(root, day, MODEL) for day in DAYS}


def samples(raw: dict[str, list[Path]]) -> dict[str, list[dict]]:
    return {day: [orjson.loads(p.read_bytes()) for p in paths] for day, paths in raw.items()}


def statuses_of(viewers: list[str]) -> dict[str, str]:
    """Every third viewer gone, every seventh renamed, the others active; some unknown."""
    return {v: "gone" if i % 3 == 0 else "renamed" if i % 7 == 0 else "active"
            for i, v in enumerate(viewers) if i % 5}


@pytest.fixture(scope="module")
def built(tmp_path_factory, raw) -> Config:
    """The three days processed and analysed, with account statuses written."""
    config = make_config(tmp_path_factory.mktemp("built"), health_min_viewers=MIN_VIEWERS)
    for day, paths in raw.items():
        folder = config.samples_dir / day
        folder.mkdir(parents=True)
        for p in paths:
            shutil.copy(p, folder / p.name)
        process_command(config, day, local=True, **QUIET)
    analyse_command(config, DAYS, local=True, **QUIET)
    seed_statuses(config.store, config)
    return config


def seed_statuses(uri: str, built: Config) -> None:
    """Account statuses of the built days' viewers in the store at ``uri``, as a verify
    run would leave them."""
    with open_store(built.store) as store:
        viewers = sorted({r["viewer"] for day in DAYS for r in store.iter_viewer_days(day)})
    with open_store(uri) as store:
        store.write_statuses([{"viewer": v, "user_id": None, "status": s,
                               "login_now": v if s == "active" else None, "checked_at": 1.0}
                              for v, s in statuses_of(viewers).items()])
        store.record_job("verify", "", "done", {}, 10.0, 11.0)


def close(got: list[dict], expected: list[dict]) -> None:
    assert [sorted(g) for g in got] == [sorted(e) for e in expected]
    for g, e in zip(got, expected):
        for key, value in e.items():
            if isinstance(value, float) and value is not None:
                assert math.isclose(g[key], value, rel_tol=1e-9, abs_tol=1e-9), (key, g, e)
            else:
                assert g[key] == value, (key, g, e)
