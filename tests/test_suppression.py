"""The suppression list (issue 19, item 2): it names no login, and the collector, import_tmi
and the day job leave a suppressed viewer out (a quarantined file holding one keeps no
bytes); in pseudonymous mode erase takes the login and hashes it."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.process_day import process_command
from tests.privacy_support import files_naming, store_naming
from tests.support import make_config, sample, write_samples
from tpdask.collect.collector import make_collector
from tpdask.collect.import_tmi import import_tmi
from tpdask.privacy.erase import erase
from tpdask.privacy.keys import KEY_ENV, KEY_FILE_ENV
from tpdask.privacy.policy import ChatterPolicy
from tpdask.privacy.pseudonyms import Pseudonymizer
from tpdask.privacy.suppression import Suppression

DAY = "2022-08-01"
T0 = 1659312000
QUIET = dict(log=lambda m: None)


def test_the_list_names_no_login_and_finds_what_it_holds(tmp_path):
    suppression = Suppression(tmp_path)
    assert suppression.empty and not suppression.contains("gone_viewer")
    assert suppression.add(["gone_viewer", "other_one"]) == 2
    assert suppression.add(["gone_viewer"]) == 0
    text = suppression.path.read_text()
    assert "gone_viewer" not in text and "other_one" not in text
    assert suppression.path.stat().st_mode & 0o777 == 0o600
    fresh = Suppression(tmp_path)
    assert fresh.contains("gone_viewer") and not fresh.contains("gone_viewe")
    logins = pa.array([f"v{i}" for i in range(5000)] + ["other_one", "gone_viewer"])
    assert fresh.mask(logins).nonzero()[0].tolist() == [5000, 5001]


def test_the_day_job_leaves_a_suppressed_viewer_out(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, [sample(T0 + 300 * k, {"chan_a": ["kept_one", " Gone_Viewer "],
                                                     "chan_b": ["gone_viewer", "kept_two"]})
                                for k in range(4)])
    (config.samples_dir / DAY / f"{T0 + 5000}.json").write_text('{"ts": x, "gone_viewer"')
    Suppression(config.data_dir).add(["gone_viewer"])
    report = process_command(config, DAY, local=True, **QUIET)
    assert report["suppressed_entries"] == 8 and report["invalid_entries"] == 0
    assert report["viewers"] == 2 and report["files_quarantined"] == 1
    assert files_naming(config.data_dir, "gone_viewer", skip=("samples",)) == []   # raw stays
    assert store_naming(config.store, "gone_viewer") == []
    streams = pa.concat_tables([pq.read_table(p) for p in
                                (config.lake_dir / "streams" / f"day={DAY}").glob("*.parquet")])
    assert set(streams.column("chatters").to_pylist()) == {1}


def test_the_collector_and_import_tmi_leave_a_suppressed_viewer_out(tmp_path):
    config = make_config(tmp_path)
    first = make_collector(config, source="sim", top=5, speed=600, start=T0 + 36000, **QUIET)
    sample0 = orjson.loads(first.run(ticks=1)[0].path.read_bytes())
    stream = next(s for s in sample0["streams"].values() if s["chatters"])
    victim = stream["chatters"][0]
    Suppression(config.data_dir).add([victim])
    second = make_collector(config, source="sim", top=5, speed=600,
                            start=T0 + 36000 + 300, **QUIET)
    sample1 = orjson.loads(second.run(ticks=1)[0].path.read_bytes())
    assert all(victim not in s["chatters"] for s in sample1["streams"].values())
    dumps = tmp_path / "dumps" / "chan"
    dumps.mkdir(parents=True)
    (dumps / f"{T0 + 90000}.json").write_text(orjson.dumps(
        {"chatters": {"viewers": [victim, "someone_else"]}}).decode())
    report = import_tmi(config, tmp_path / "dumps", **QUIET)
    assert report.entries_suppressed == 1
    out = [orjson.loads(p.read_bytes()) for p in (config.samples_dir / "2022-08-02").glob("*.json")]
    assert out and all(victim not in s["chatters"] for doc in out
                       for s in doc["streams"].values())


def test_erase_in_pseudonymous_mode_takes_the_login(tmp_path, monkeypatch):
    key = "pseudonymous-erase-key-0123456789"
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    config = make_config(tmp_path)
    pseudonym = Pseudonymizer(key.encode()).pseudonym("gone_viewer")
    ChatterPolicy.for_data_dir(config.data_dir)         # the folder is pseudonymous from the start
    write_samples(config, DAY, [sample(T0 + 300 * k, {"chan_a": [pseudonym, "_keptpseudonym"]})
                                for k in range(3)])
    process_command(config, DAY, local=True, **QUIET)
    assert files_naming(config.data_dir, pseudonym)
    report = erase(config, "Gone_Viewer", **QUIET)
    assert report.removed["lake"]["records"] == 1
    assert files_naming(config.data_dir, pseudonym) == []
    assert store_naming(config.store, pseudonym) == []
    suppression = Suppression(config.data_dir)
    assert suppression.contains(pseudonym) and not suppression.contains("gone_viewer")
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(Exception, match="holds pseudonyms"):
        erase(config, "gone_viewer", **QUIET)
