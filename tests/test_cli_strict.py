"""A strict command line: every argument is checked before anything runs (issue 7, items 8–10).

Each command is run as a user runs it, on a prepared data folder (samples of two days, one
of them yesterday, the default of archive and process, and an existing store), from an
empty current folder; a refused or help-only command line must leave both untouched.
The command lines run in this process (tests.support.tpdask); one runs as a real process.
"""

from __future__ import annotations

import inspect
import socket
import time
from pathlib import Path

import pytest

from tests.support import (error_line, make_config, sample, tpdask, tpdask_process,
                           write_samples)
from tpdask.cli.main import COMMANDS, Tpdask
from tpdask.days import day_bounds, yesterday
from tpdask.errors import UsageError
from tpdask.stores import open_store

DAY = "2022-08-01"


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Path, Path]:
    """(data folder with samples of DAY and yesterday and a store, empty working folder)."""
    config = make_config(tmp_path)
    for day in (DAY, yesterday()):
        t0 = day_bounds(day)[0]
        write_samples(config, day, [sample(t0 + i * 300, {"s": ["ann", "bob"]}) for i in range(3)])
    with open_store(config.store):
        pass
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return config.data_dir, cwd


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under folder with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def parameters(name: str) -> list[inspect.Parameter]:
    """The parameters of a command: its flags."""
    return [p for p in inspect.signature(getattr(Tpdask, name)).parameters.values()
            if p.name != "self"]


def required_words(name: str) -> list[str]:
    """Values for a command's required (positional) parameters, so that only the flag is wrong."""
    return ["viewer_days" if p.name == "what" else "somewhere"
            for p in parameters(name) if p.default is inspect.Parameter.empty]


def run_untouched(args: list[str], data: Path, cwd: Path):
    """Run tpdask ARGS with TPDASK_DATA_DIR=data from cwd; assert nothing changed in either."""
    before = snapshot(data)
    result = tpdask(*args, env={"TPDASK_DATA_DIR": str(data)}, cwd=cwd, check=False)
    assert snapshot(data) == before, f"tpdask {' '.join(args)} changed {data}"
    assert list(cwd.iterdir()) == [], f"tpdask {' '.join(args)} created {list(cwd.iterdir())}"
    return result


def test_a_refused_command_line_is_exit_2_of_a_real_process_that_changes_nothing(prepared):
    """What the tests below check in this process, once from a separate `python -m tpdask`."""
    data, cwd = prepared
    before = snapshot(data)
    result = tpdask_process("process", "--bogus_flag", "1", env={"TPDASK_DATA_DIR": str(data)},
                            cwd=cwd, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: unknown option") and len(result.stderr.splitlines()) == 1
    assert snapshot(data) == before and list(cwd.iterdir()) == []


def test_the_commands_are_the_public_methods():
    public = sorted(n for n in dir(Tpdask) if not n.startswith("_"))   # the groups' too
    assert public == sorted(name for name, _ in COMMANDS)


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_refuses_an_unknown_flag_and_changes_nothing(name, prepared):
    data, cwd = prepared
    for args in ([name, *required_words(name), "--bogus_flag", "1"],
                 ["--bogus_flag", "1", name, *required_words(name)],
                 [name, *required_words(name), "-x"]):
        result = run_untouched(args, data, cwd)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: unknown option"), result.stderr
        for p in parameters(name):
            assert f"--{p.name}" in lines[0]
        assert "--data_dir" in lines[0]


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_help_on_every_command_shows_its_flags_and_does_nothing_else(name, prepared):
    data, cwd = prepared
    for args in ([name, "-h"], [name, "--help"], ["-h", name], [name, "--day", DAY, "-h"],
                 ["help", name]):
        result = run_untouched(args, data, cwd)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith(f"usage: tpdask {name}")
        assert inspect.getdoc(getattr(Tpdask, name)).splitlines()[0] in result.stdout
        for p in parameters(name):
            assert f"--{p.name}" in result.stdout


def test_a_mistyped_flag_archives_nothing(prepared):
    data, cwd = prepared
    result = run_untouched(["archive", "--date", DAY], data, cwd)
    assert result.returncode == 2 and "valid options of `tpdask archive`: --day" in result.stderr
    assert "unknown option --date for `tpdask archive` (did you mean --day?)" in result.stderr


@pytest.mark.parametrize("command, word, expected", [
    ("archive", "date", "day"), ("process", "date", "day"), ("export", "date", "day"),
    ("analyse", "from", "since"), ("analyse", "to", "until"), ("export", "end", "until"),
    ("export", "output", "out"), ("users", "rol", "role"), ("status", "datadir", "data_dir"),
    ("status", "gap", "max_gap"), ("export", "min", "min_minutes"), ("collect", "sim", "sim_clock"),
])
def test_a_synonym_a_typo_or_a_word_of_an_option_gets_it_suggested(command, word, expected):
    from tpdask.cli.args import option_hint
    from tpdask.cli.main import COMMAND_SPECS, GLOBAL_FLAGS

    assert option_hint(word, COMMAND_SPECS[command], GLOBAL_FLAGS) == \
        f" (did you mean --{expected}?)"


def test_unrelated_words_get_no_suggestion():
    """difflib rates date/day and dask/day alike (0.57), and force/store, token/store 0.6:
    a synonym table finds --day, and a cutoff of 0.65 keeps the rest quiet."""
    from tpdask.cli.args import option_hint, suggest
    from tpdask.cli.main import COMMAND_SPECS, GLOBAL_FLAGS

    for name, spec in COMMAND_SPECS.items():
        for word in ("trace", "token", "streamer", "int", "period", "remote",
                     "bool", "log", "datum", "verbose", "quiet", "json", "color", "url"):
            if any(word in flag for flag in spec.flags):
                continue   # `status --json` is an option; `erase --log` is part of --login
            hint = option_hint(word, spec, GLOBAL_FLAGS)
            assert hint == "", (name, word, hint)
    assert suggest("date", [*GLOBAL_FLAGS, *COMMAND_SPECS["bench"].flags]) == ""  # no --day
    assert suggest("bot", [*GLOBAL_FLAGS]) == ""   # a word of three names: none is the one


def test_a_mistyped_flag_gets_a_suggestion(prepared):
    data, cwd = prepared
    assert "did you mean --out?" in run_untouched(
        ["export", "viewer_days", "--day", DAY, "--output", "F"], data, cwd).stderr
    assert "did you mean --data_dir?" in run_untouched(["--datadir", "X", "status"], data, cwd).stderr
    assert "did you mean process?" in run_untouched(["proces"], data, cwd).stderr


def test_simulate_h_is_help_not_host(prepared):
    data, cwd = prepared
    result = run_untouched(["simulate", "-h"], data, cwd)
    assert result.returncode == 0 and "--host HOST" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["process", "--workers", "two"], "--workers must be a whole number, got 'two'"),
    (["simulate", "--port", "abc"], "--port must be a whole number, got 'abc'"),
    (["demo", "--scale=big"], "--scale must be a number, got 'big'"),
    (["--interval", "5m", "status"], "--interval must be a whole number, got '5m'"),
    (["archive", "--day"], "--day needs a value"),
    (["process", "--day", "--local"], "--day needs a value"),
    (["process", "--local=maybe"], "--local is a switch"),
    (["process", "--day", DAY, "--day", DAY], "--day is given twice"),
    (["export"], "needs WHAT"),
    (["status", "now"], "unexpected argument 'now'"),
    (["--data_dir", "x"], "no command given"),
    (["process", "--", "--trace"], "unexpected argument '--'"),
    (["web", "--port", "http"], "--port must be a whole number, got 'http'"),
    (["web", "--bind", "x"], "unknown option --bind"),
    (["users", "add", "ann", "--role", "admin", "again"], "unexpected argument 'again'"),
    (["users", "add", "ann", "--role"], "--role needs a value"),
    (["users", "add", "ann", "--rol", "admin"], "did you mean --role?"),
    (["users"], "needs ACTION"),
    (["--web_workers", "many", "web"], "--web_workers must be a whole number"),
    # values out of range (issue 17, item 5): refused before a cluster, a store or Twitch
    (["process", "--day", DAY, "--workers", "0"], "--workers must be 1 or more, got 0"),
    (["analyse", "--day", DAY, "--workers=-2"], "--workers must be 1 or more, got -2"),
    (["demo", "--workers", "0"], "--workers must be 1 or more"),
    (["bench", "--workers", "-1"], "--workers must be 1 or more"),
    (["process", "--day", DAY, "--workers", "100000"], "--workers 100000 is more than"),
    (["analyse", "--day", DAY, "--workers", "100000"], "per core of this machine"),
    (["process", "--day", DAY, "--scheduler", "bogus"], "--scheduler bogus is not a scheduler"),
    (["analyse", "--day", DAY, "--scheduler", "tcp://host"], "is not a scheduler address"),
    (["process", "--day", DAY, "--scheduler", "tcp://host:port"], "is not a scheduler address"),
    (["process", "--day", DAY, "--scheduler", "http://host:8786"], "unknown protocol 'http'"),
    (["process", "--day", DAY, "--scheduler", "inproc://10.0.0.1/1/1"], "inside one Python"),
    (["analyse", "--since", "2022-08-02", "--until", DAY],
     "--since 2022-08-02 is after --until 2022-08-01"),
    (["export", "overlap", "--since", "2022-08-02", "--until", DAY],
     "--since 2022-08-02 is after --until 2022-08-01"),
    (["export", "overlap", "--since", DAY, "--until", DAY, "--min_minutes", "-5"],
     "--min_minutes must be 0 or more, got -5.0"),
    (["verify", "--limit", "-1"], "--limit must be a whole number, 0 or more, got -1"),
])
def test_a_wrong_command_line_is_one_line_exit_2_and_nothing_runs(args, message, prepared):
    data, cwd = prepared
    result = run_untouched(args, data, cwd)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and message in result.stderr


@pytest.mark.parametrize("args", [["users", "add", "ann", "--role", "admin", "-h"],
                                  ["users", "remove", "ann", "--help"], ["help", "users"],
                                  ["users", "list", "-h"], ["web", "--port", "0", "-h"]])
def test_help_of_web_and_users_creates_no_account_and_serves_nothing(args, prepared):
    data, cwd = prepared
    result = run_untouched(args, data, cwd)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: tpdask {args[-1] if args[0] == 'help' else args[0]}")
    assert not (data / "web").exists()


def test_a_missing_secrets_file_is_a_one_line_error(prepared):
    data, cwd = prepared
    result = run_untouched(["collect", "--once", "--secrets_file", str(cwd / "missing")], data, cwd)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: no secrets file at") and "Traceback" not in result.stderr


def test_what_fire_receives_is_one_unambiguous_form():
    from tpdask.cli.args import parse
    from tpdask.cli.main import COMMAND_SPECS, GLOBAL_FLAGS

    parsed = parse(["process", "--nolocal", "--workers", "2", "--data-dir", "d"],
                   COMMAND_SPECS, GLOBAL_FLAGS)
    assert parsed.fire_argv == ("--data_dir=d", "process", "--local=False", "--workers=2")
    parsed = parse(["--local", "true", "process"], COMMAND_SPECS, GLOBAL_FLAGS)
    assert parsed.fire_argv == ("process", "--local=True")


def test_flags_keep_both_forms(tmp_path):
    config = make_config(tmp_path)
    t0 = day_bounds(DAY)[0]
    write_samples(config, DAY, [sample(t0, {"s": ["ann"]})])
    data = str(config.data_dir)
    tpdask("process", "--day=20220801", f"--data_dir={data}", "--local")
    tpdask("--data-dir", data, "process", "--day", DAY, "--local=true", "--workers", "1")
    out = tpdask("export", "--what=viewer_days", "--data_dir", data, "--day", DAY).stdout
    assert '"viewer":"ann"' in out


def test_a_scheduler_address_is_protocol_host_port():
    from tpdask.executor import check_scheduler

    for good in ("tcp://127.0.0.1:8786", "tls://sched.example.org:8786", "10.0.0.5:8786",
                 "tcp://[::1]:8786", "ws://h:1", "ucx://h:65535"):
        assert check_scheduler(good) == good
    for bad in ("bogus", "tcp://", "tcp://:8786", "tcp://h:0", "tcp://h:70000", "h:8786/x",
                "tcp://u@h:8786", "file:///tmp/s", "tcp://h:87a6", ""):
        with pytest.raises(UsageError):
            check_scheduler(bad)


def test_the_workers_bound_is_a_few_per_core():
    from tpdask.executor import check_workers, most_workers

    assert check_workers(None) is None and check_workers(1) == 1
    assert check_workers(most_workers()) == most_workers() >= 16
    for bad in (0, -1, most_workers() + 1, True):
        with pytest.raises(UsageError):
            check_workers(bad)


def test_a_scheduler_nobody_answers_is_one_line_exit_1(prepared):
    """A well-formed address where no scheduler listens: dask's connect timeout (2 s here,
    through the dask config), then one line naming the address."""
    data, cwd = prepared
    with socket.socket() as s:          # a port free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = tpdask("process", "--day", DAY, "--scheduler", f"tcp://127.0.0.1:{port}",
                    env={"TPDASK_DATA_DIR": str(data),
                         "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
                    cwd=cwd, check=False)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 60
    line = error_line(result)
    assert line.startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: ")
    assert "is `dask scheduler` running there?" in line
    assert list(cwd.iterdir()) == []
