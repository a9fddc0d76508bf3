"""Read-only commands and exports (issue 7, items 10–13): they create nothing, say what is
missing, write to stdout with `--out -`, stop quietly when the reader goes away, and hand on
absolute paths. Commands run in this process, except where a pipe to a real process is the
point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support import ROOT, error_line, make_config, sample, tpdask, write_samples
from tpdask.settings import resolve

DAY = "2022-08-01"
T0 = 1659312000
VIEWERS = 3000  # ~400 KB of JSON lines: more than a pipe holds, so `| head` cuts it short


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A data folder whose store holds DAY (3000 viewers), processed in-process."""
    config = make_config(tmp_path_factory.mktemp("processed"))
    write_samples(config, DAY, [sample(T0 + i * 300, {"s": [f"v{j}" for j in range(VIEWERS)]})
                                for i in range(3)])
    tpdask("--data_dir", str(config.data_dir), "process", "--day", DAY, "--local")
    return config.data_dir


def test_status_on_a_mistyped_data_dir_says_so_and_creates_nothing(tmp_path):
    missing = tmp_path / "dta"
    result = tpdask("--data_dir", str(missing), "status", cwd=tmp_path, check=False)
    assert result.returncode == 2                      # the verdict: failing
    assert result.stdout.startswith("verdict: failing\n  failing  no data folder: check "
                                    "--data_dir (or TPDASK_DATA_DIR)\n")
    assert f"data: {missing}\n" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_status_and_export_on_a_folder_without_store_create_none(tmp_path):
    result = tpdask("--data_dir", str(tmp_path), "status", check=False)
    assert result.returncode == 1, result.stderr       # no sample yet: a warning
    assert "store: sqlite:///" in result.stdout and "no store yet" in result.stdout
    result = tpdask("--data_dir", str(tmp_path), "export", "viewer_days", "--day", DAY,
                    check=False)
    assert result.returncode == 1 and "error: no store at" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_status_on_a_mistyped_store_says_so(tmp_path, processed):
    store = f"sqlite:///{tmp_path}/tpdask.sqlit"
    result = tpdask("--data_dir", str(processed), "--store", store, "status", check=False)
    assert result.returncode == 2                      # the lake holds a day: failing
    assert "  failing  no store, though the lake holds 1 processed day" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_status_on_a_mongodb_database_that_does_not_exist_says_so(tmp_path, mongo_database_uri):
    (tmp_path / "data").mkdir()
    result = tpdask("--store", mongo_database_uri, "status", cwd=tmp_path, check=False)
    assert result.returncode == 1, result.stderr       # nothing processed: no store yet
    assert "no tpdask store" in result.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]
    assert list((tmp_path / "data").iterdir()) == []


def test_exporting_a_day_without_records_exits_3_and_writes_no_file(tmp_path, processed):
    out = tmp_path / "out.jsonl"
    for args in ([], ["--out", str(out)]):
        result = tpdask("--data_dir", str(processed), "export", "viewer_days",
                        "--day", "2022-08-02", *args, check=False)
        assert result.returncode == 3, result.stderr
        assert result.stdout == "" and "no viewer-day records of 2022-08-02" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_dash_is_standard_output(processed):
    plain = tpdask("--data_dir", str(processed), "export", "viewer_days", "--day", DAY).stdout
    dash = tpdask("--data_dir", str(processed), "export", "viewer_days", "--day", DAY,
                  "--out", "-")
    assert dash.stdout == plain and dash.stderr == ""
    assert len(plain.splitlines()) == VIEWERS
    assert not (Path.cwd() / "-").exists()


def test_a_reader_that_goes_away_ends_the_export_quietly(processed):
    """`tpdask export … | head -1`: no traceback, exit 141 (as a tool killed by SIGPIPE)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", "--data_dir", str(processed),
                             "export", "viewer_days", "--day", DAY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert orjson.loads(proc.stdout.readline())["viewer"] == "v0"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, stderr
    assert stderr == ""


def test_the_shell_pipe_of_the_readme_prints_no_error(processed):
    result = subprocess.run(
        f"'{sys.executable}' -m tpdask --data_dir '{processed}' export viewer_days "
        f"--day {DAY} | head -3", shell=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert len(result.stdout.splitlines()) == 3 and result.stderr == ""


def test_a_relative_data_dir_and_store_are_handed_on_absolute(tmp_path, processed):
    (tmp_path / "data").symlink_to(processed)
    out = tpdask("--data_dir", "data", "status", cwd=tmp_path, check=False).stdout
    assert f"\nstore: sqlite:///{tmp_path}/data/tpdask.sqlite (" in out
    out = tpdask("--store", "sqlite:///data/tpdask.sqlite", "status", cwd=tmp_path,
                 check=False).stdout
    assert f"\nstore: sqlite:///{tmp_path}/data/tpdask.sqlite (" in out


def test_resolve_makes_paths_absolute_and_keeps_other_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = resolve(data_dir="d/../data", store="sqlite:///s/x.sqlite")
    assert config.data_dir == tmp_path / "data"
    assert config.store == f"sqlite:///{tmp_path}/s/x.sqlite"
    assert resolve(data_dir="data").store == f"sqlite:///{tmp_path}/data/tpdask.sqlite"
    mongo = "mongodb://user:pw@host:27017/db"
    assert resolve(store=mongo).store == mongo


def test_printed_text_into_a_closed_pipe_ends_quietly_too(tmp_path):
    """Text printed with print() is flushed before exit, so a closed pipe is caught there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", "process", "-h"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and stderr == ""


def test_out_to_a_folder_a_missing_folder_or_an_unwritable_path_is_one_line(tmp_path,
                                                                             processed):
    """Checked before any work (a day without records would be exit 3 otherwise), and
    nothing is created: no file, no temp, no folder (issue 17, item 5)."""
    (tmp_path / "a_file").write_text("x")
    for out, message in ((tmp_path, f"--out {tmp_path} is a folder: name a file in it"),
                         (f"{tmp_path}/new/", f"--out {tmp_path}/new/ is a folder"),
                         (tmp_path / "missing" / "x.jsonl",
                          f"{tmp_path / 'missing'} does not exist; create the folder first"),
                         (tmp_path / "a_file" / "x.jsonl",
                          f"{tmp_path / 'a_file'} is not a folder"),
                         ("/sys/tpdask-export.jsonl",
                          "cannot write --out /sys/tpdask-export.jsonl: Permission denied")):
        for day in (DAY, "2022-08-02"):
            result = tpdask("--data_dir", str(processed), "export", "viewer_days", "--day", day,
                            "--out", str(out), check=False)
            assert result.returncode == 1, (out, result.stderr)
            assert result.stdout == "" and message in error_line(result)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert not Path("/sys/tpdask-export.jsonl").exists()


def test_an_export_into_a_missing_folder_is_refused_by_the_library_too(tmp_path, processed):
    from tpdask.errors import OutputError
    from tpdask.export import export_viewer_days, write_lines

    config = resolve(data_dir=str(processed))
    with pytest.raises(OutputError, match="does not exist"):
        export_viewer_days(config, DAY, str(tmp_path / "new" / "x.jsonl"))
    with pytest.raises(OutputError, match="is a folder"):
        write_lines([{"a": 1}], str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_disk_error_while_writing_an_export_is_reported_as_itself(tmp_path, processed):
    """RLIMIT_FSIZE makes a write past 64 KB fail as a full disk does (EFBIG): one line
    naming the file and the cause, and neither the file nor its temp is left."""
    out = tmp_path / "viewer_days.jsonl"
    script = ("import resource, signal, sys; from tpdask.cli.main import main; "
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16)); "
              "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", script, "--data_dir", str(processed),
                             "export", "viewer_days", "--day", DAY, "--out", str(out)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert error_line(result) == (f"error: could not write the export to {out}: File too large; "
                                  "nothing was written — check free space and permissions there")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A data folder whose DAY is processed and analysed (so `export overlap` has work)."""
    config = make_config(tmp_path_factory.mktemp("analysed"))
    write_samples(config, DAY, [sample(T0 + i * 300, {"s": [f"v{j}" for j in range(30)],
                                                      "t": [f"v{j}" for j in range(20, 40)]})
                                for i in range(3)])
    tpdask("--data_dir", str(config.data_dir), "process", "--day", DAY, "--local")
    tpdask("--data_dir", str(config.data_dir), "analyse", "--day", DAY, "--local")
    return config.data_dir


def test_export_overlap_never_creates_a_store(tmp_path, analysed, mongo_database_uri):
    """The period's overlap is computed, then kept in the store for the website: a store
    that is not there is an error (exit 1), never a new one (issue 17, item 5)."""
    from urllib.parse import urlsplit

    import pymongo

    period = ["export", "overlap", "--since", DAY, "--until", DAY]
    assert '"a":"s","b":"t"' in tpdask("--data_dir", str(analysed), *period).stdout
    store = tmp_path / "elsewhere.sqlite"
    result = tpdask("--data_dir", str(analysed), "--store", f"sqlite:///{store}", *period,
                    check=False)
    assert result.returncode == 1 and "no store at" in error_line(result)
    assert list(tmp_path.iterdir()) == []
    result = tpdask("--data_dir", str(analysed), "--store", mongo_database_uri, *period,
                    check=False)
    assert result.returncode == 1 and "no tpdask store" in error_line(result)
    database = urlsplit(mongo_database_uri).path.strip("/")
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_database_uri)
    try:
        assert database not in client.list_database_names()
    finally:
        client.close()
