"""Results stay true after an erasure: the erased days got new lake runs, so their results
(and those of later days, the profiles, the kept periods) are out of date — exports say
what to run (exit 3) — until `analyse`, after which every export equals a from-scratch
analysis of the erased lake, on both backends."""

from __future__ import annotations

import pytest

from jobs.analyse import analyse_command
from jobs.overlap import export_overlap
from tests.erase_support import DAYS, LOGIN, QUIET, WHO, build
from tests.privacy_support import store_naming
from tests.results_support import exports, from_scratch
from tests.support import make_config
from tpdask.analysis.export import export_day_results, export_profiles
from tpdask.errors import StaleResultsError
from tpdask.privacy.erase import erase


@pytest.fixture(params=["sqlite", "mongodb"])
def config(request, tmp_path):
    store = request.getfixturevalue("mongo_database_uri") if request.param == "mongodb" else None
    config = make_config(tmp_path, store=store)
    build(config)
    export_overlap(config, DAYS[0], DAYS[1], 10, False, str(tmp_path / "overlap-before"))
    return config


def test_after_an_erase_and_analyse_every_export_is_a_fresh_analysis(config, tmp_path):
    before = exports(config, DAYS, tmp_path / "before", flags=(False,))
    assert any(p["viewer"] == WHO for p in before["profiles"])
    report = erase(config, LOGIN, **QUIET)
    for kind in ("bots", "streamer_days"):
        with pytest.raises(StaleResultsError, match="erased"):
            export_day_results(config, kind, DAYS[0], str(tmp_path / "x"))
    with pytest.raises(StaleResultsError, match=f"tpdask analyse --day {DAYS[-1]}"):
        export_profiles(config, None, str(tmp_path / "x"))
    with pytest.raises(StaleResultsError):
        export_overlap(config, DAYS[0], DAYS[1], 10, False, str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
    analysed = analyse_command(config, report.lake_days, local=True, **QUIET)
    assert analysed["contributed_days"] == len(DAYS)
    got = exports(config, DAYS, tmp_path / "got")
    assert got == from_scratch(config, DAYS, tmp_path)
    assert all(p["viewer"] != WHO for p in got["profiles"])
    assert store_naming(config.store, WHO) == []
