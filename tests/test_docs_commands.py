"""The command lines the docs quote work (issue 22): each `tpdask …` line of README.md,
docs/*.md and cluster/README.md — in a fenced block, or inline code — is run, or listed
here with the reason it is not.

A quoted line is one of:
- a command line that runs offline: run in this process (`tpdask.cli.main.main`) on a copy
  of a small prepared data folder (any `--data_dir` it names is replaced by that copy);
  it must exit 0, or the code EXPECTED gives. `process` and `analyse` without `--local`
  run on one Dask cluster the module starts (`--scheduler` added): the same job on Dask,
  without starting a local cluster for each line (~4 s each);
- a command line that cannot run here (network, a running server, Twitch credentials,
  runs until stopped, takes minutes): listed in SKIPPED (whole commands in
  SKIPPED_COMMANDS) with the reason; the parser must still accept it;
- a synopsis (`[--day D]`, `helix|irc`, `…`, `<port>`, a placeholder such as `FILE`): its
  command must exist and take every option it names; with `COMMAND` it is run for each;
- a command of a contract not built yet (NOT_BUILT): it must not be a command (or an
  export) yet, and the parser must refuse it;
- not a command line at all (NOT_COMMANDS: text tpdask prints).
Every entry of these lists must still match a quoted line, so the lists stay true.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import make_config, sample, write_samples
from tpdask.cli import args as cli_args
from tpdask.cli.data import EXPORTS
from tpdask.cli.main import COMMAND_SPECS, GLOBAL_FLAGS, main
from tpdask.days import day_bounds, yesterday
from tpdask.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "cluster" / "README.md"]
DAY = "2022-08-01"

SKIPPED_COMMANDS = {
    "bench": "generates and times days, minutes at the scales quoted (tests/test_bench*.py)",
    "demo": "collects a simulated day for two minutes, then serves the website until Ctrl-C",
    "simulate": "serves the Twitch simulator until Ctrl-C (tests/test_simulator.py)",
    "web": "serves the website until Ctrl-C (tests/test_web_server.py)",
    "verify": "needs Twitch credentials and Helix (tests/test_cli_verify.py uses the simulator)",
}
SKIPPED = {
    "tpdask collect": "runs until stopped, against Twitch with credentials",
    "tpdask collect --sim_clock http://127.0.0.1:8080/_sim/state":
        "runs until stopped, against a running `tpdask simulate`",
    "tpdask --helix_url http://127.0.0.1:8080/helix --auth_url http://127.0.0.1:8080/oauth2 "
    "collect --source helix --sim_clock http://127.0.0.1:8080/_sim/state --ticks 6":
        "needs a running `tpdask simulate` and its printed credentials",
    ".venv/bin/tpdask --data_dir data/demo process --day 2022-08-01 --scheduler "
    "tcp://127.0.0.1:8786": "needs a running dask scheduler and workers",
}
EXPECTED = {   # quoted command lines that name a command rather than run it, and exports of nothing
    "tpdask export": (2, "a reference to the command: WHAT is missing"),
    "tpdask export viewer_days": (2, "a reference to the export: --day is missing"),
    "tpdask export overlap": (2, "a reference to the export: --since and --until are missing"),
    "tpdask export broadcasts": (2, "a reference to the export: --since and --until are missing"),
    "tpdask export flows": (2, "a reference to the export: --since and --until are missing"),
    "tpdask export sessions": (2, "a reference to the export: --since, --until, --format missing"),
    "tpdask users add": (2, "a reference to the command: NAME and --role are missing"),
    "tpdask erase": (2, "a reference to the command: LOGIN is missing"),
    "tpdask export status": (3, "no account is checked in the prepared folder (verify needs Helix)"),
    "tpdask status": (2, "failing: the prepared folder's newest sample is yesterday's (no collector)"),
    "tpdask status --json": (2, "failing, as `tpdask status`"),
}
NOT_BUILT: dict[str, str] = {}
NOT_COMMANDS = {"tpdask web: serving http://HOST:PORT/": "what `tpdask web` prints"}

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
COMMAND_LINE = re.compile(r"^(?:\.venv/bin/)?tpdask(?:\s|$)")
PIPE = re.compile(r"\s+\|\s+(?:head|tail|less|jq|wc)\b.*$")
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(?::[A-Z]+)?")


def quoted_lines() -> dict[str, list[str]]:
    """Every `tpdask …` line the pages quote → the pages quoting it."""
    found: dict[str, list[str]] = {}

    def add(line: str, page: Path) -> None:
        line = PIPE.sub("", ENV_PREFIX.sub("", line.strip()))
        if COMMAND_LINE.match(line):
            found.setdefault(line, []).append(str(page.relative_to(ROOT)))

    for page in PAGES:
        text = page.read_text()
        for block in FENCE.finditer(text):
            for line in re.sub(r"\s*\\\n\s*", " ", block[1]).splitlines():
                add(re.split(r"\s{2,}", line.strip())[0], page)   # cut a comment or description
        prose = "\n".join(line for line in FENCE.sub("", text).splitlines()
                          if not line.startswith("#"))   # a heading names a command
        for paragraph in re.split(r"\n\s*\n", prose):   # code spans end with their block
            for span in INLINE.finditer(paragraph):
                add(" ".join(span[2].replace("\\|", "|").split()), page)
    return found


def is_synopsis(line: str) -> bool:
    """Whether the line shows a form (brackets, alternatives, placeholders), not a run."""
    return bool(re.search(r"[\[\]…<>|]", line)) or any(
        PLACEHOLDER.fullmatch(word) for word in line.split())


BOOLS = {f.name for spec in COMMAND_SPECS.values() for f in spec.flags.values()
         if f.kind is bool} | {f.name for f in GLOBAL_FLAGS.values() if f.kind is bool}


def command_words(line: str) -> list[str]:
    """The words after `tpdask` that are not options nor their values."""
    words, tokens = [], line.replace("[", " ").replace("]", " ").split()[1:]
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token.startswith("-"):
            name = token.lstrip("-").partition("=")[0].replace("-", "_")
            skip = "=" not in token and name not in BOOLS and name not in ("h", "help")
        else:
            words.append(token)
    return words


def not_built_keys(line: str) -> list[str]:
    """The entries of NOT_BUILT the line names (`export broadcasts|flows`: two)."""
    words = command_words(line)
    keys = [words[0]] if words else []
    if words[:1] == ["export"] and len(words) > 1:
        keys += [f"export {what}" for what in words[1].split("|")]
    return [k for k in keys if k in NOT_BUILT]


def not_built(line: str) -> str | None:
    """The first entry of NOT_BUILT the line names, if any."""
    return next(iter(not_built_keys(line)), None)


def argv_of(line: str) -> list[str]:
    """The arguments of a quoted line, as the shell would split them, without `tpdask`."""
    return shlex.split(line)[1:]


def kind(line: str) -> str:
    """What the test does with a quoted line: see the module's docstring."""
    if line in NOT_COMMANDS:
        return "not a command"
    if not_built(line):
        return "not built"
    if is_synopsis(line):
        return "synopsis"
    if line in SKIPPED or command_words(line)[:1] in ([name] for name in SKIPPED_COMMANDS):
        return "skipped"
    return "run"


LINES = quoted_lines()
KINDS = {line: kind(line) for line in LINES}


def lines_of(wanted: str) -> list[str]:
    """The quoted lines of one kind, sorted."""
    return sorted(line for line, k in KINDS.items() if k == wanted)


#: `tpdask COMMAND --help` and the like, for every command
EXPANDED = sorted({line.replace("COMMAND", name) for line in lines_of("synopsis")
                   if "COMMAND" in line.split() and not is_synopsis(line.replace("COMMAND", "x"))
                   for name in COMMAND_SPECS})


def test_the_lists_of_this_module_are_still_true():
    for listed in (SKIPPED, EXPECTED, NOT_COMMANDS):
        for line in listed:
            assert line in LINES, f"no page quotes {line!r} any more: remove it from this module"
    for line in EXPECTED:
        assert KINDS[line] == "run", line
    for name in SKIPPED_COMMANDS:
        assert name in COMMAND_SPECS and any(command_words(l)[:1] == [name] for l in LINES), name
    for key in NOT_BUILT:
        built = key.split()[-1] in EXPORTS if key.startswith("export ") else key in COMMAND_SPECS
        assert not built, f"`tpdask {key}` is built now: say so in the docs and remove it here"
        assert any(key in not_built_keys(line) for line in LINES), f"no page names `tpdask {key}`"
    assert len(lines_of("run")) >= 15 and len(EXPANDED) >= len(COMMAND_SPECS)


def test_commands_not_built_are_refused_by_the_parser():
    """(One test over the lines, not one per line: with every contract built there are
    none, and an empty parametrisation would be a skipped test.)"""
    for line in lines_of("not built"):
        words = command_words(line)
        if words[0] == "export":   # the export command exists: its WHAT is refused when it runs
            assert words[1].split("|")[0] not in EXPORTS
            continue
        with pytest.raises(UsageError, match="unknown command"):
            cli_args.parse([words[0]], COMMAND_SPECS, GLOBAL_FLAGS)


@pytest.mark.parametrize("line", lines_of("synopsis"))
def test_a_synopsis_names_a_command_and_only_options_it_takes(line):
    words = command_words(line)
    name = words[1] if words[:1] == ["help"] else words[0] if words else None
    if name == "COMMAND":
        return   # run for every command below
    assert name in COMMAND_SPECS, f"{line!r}: no command {name!r}"
    known = {*COMMAND_SPECS[name].flags, *GLOBAL_FLAGS, "help", "h"}
    for option in re.findall(r"(?<![\w-])--?([a-z][a-z0-9_-]*)", line):
        assert option.replace("-", "_") in known, f"{line!r}: `tpdask {name}` has no --{option}"
    if name == "export" and len(words) > 1 and re.fullmatch(r"[a-z_|]+", words[1]):
        assert set(words[1].split("|")) <= set(EXPORTS), line


@pytest.mark.parametrize("line", lines_of("skipped"))
def test_a_skipped_command_line_is_still_a_valid_one(line):
    cli_args.parse(argv_of(line), COMMAND_SPECS, GLOBAL_FLAGS)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A data folder holding DAY (a tiny day of the audience model: archived, processed and
    analysed) and yesterday (the default day: a few loose samples, processed and analysed,
    not archived), with a viewer `some_login`, as the pages' examples expect."""
    from jobs.analyse import analyse_command as analyse
    from jobs.process_day import process_command as process
    from tpdask.archive.pack import archive_day
    from tpdask.simulator.audience import AudienceConfig, write_day

    config = make_config(tmp_path_factory.mktemp("docs"))
    write_day(config.samples_dir, DAY, AudienceConfig(seed=3, scale=0.001))
    t0 = day_bounds(yesterday())[0]
    write_samples(config, yesterday(), [sample(t0 + i * 300, {"s": ["ann", "some_login"]})
                                        for i in range(3)])
    quiet = {"log": lambda message: None}
    archive_day(config, DAY, **quiet)
    for day in (DAY, yesterday()):
        process(config, day, local=True, **quiet)
        analyse(config, [day], local=True, **quiet)
    return config.data_dir


def with_data_dir(argv: list[str], data: Path) -> list[str]:
    """argv without the --data_dir it names (data/demo, /srv/tpdask …), on `data` instead
    (`tpdask` alone stays alone: with an option and no command it is a usage error)."""
    if not argv:
        return []
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token.replace("-", "_").startswith("__data_dir"):
            skip = "=" not in token
        else:
            out.append(token)
    return ["--data_dir", str(data), *out]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One local Dask cluster (two worker processes, as `process` starts on this machine)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster:
        yield cluster.scheduler_address


def on_dask(argv: list[str], request: pytest.FixtureRequest) -> list[str]:
    """`process` and `analyse` lines that would start a local cluster get the shared one."""
    words = command_words("tpdask " + " ".join(argv))
    if words[:1] in (["process"], ["analyse"]) and not {"--local", "--scheduler"} & {
            a.partition("=")[0] for a in argv}:
        return [*argv, "--scheduler", request.getfixturevalue("scheduler")]
    return argv


def run_line(argv: list[str], prepared: Path, tmp_path: Path,
             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run argv in this process on a copy of the prepared folder; its exit code."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data, symlinks=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TPDASK_NEW_PASSWORD", "a password for the docs")
    capsys.readouterr()
    return main(with_data_dir(argv, data))


@pytest.fixture(autouse=True)
def no_tpdask_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's TPDASK_* settings (but the tests' own) do not reach the commands."""
    for name in [n for n in os.environ if n.startswith("TPDASK_")
                 and not n.startswith("TPDASK_TEST_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize("line", sorted({tuple(with_data_dir(argv_of(line), Path("-"))): line
                                         for line in lines_of("run")}.values()))
def test_a_quoted_command_line_runs_offline(line, prepared, tmp_path, capsys, monkeypatch,
                                            request):
    code = run_line(on_dask(argv_of(line), request), prepared, tmp_path, capsys, monkeypatch)
    expected, why = EXPECTED.get(line, (0, ""))
    output = capsys.readouterr()
    assert code == expected, (f"`{line}` ({', '.join(LINES[line])}) exited {code}, not "
                              f"{expected} {why}\n{output.err[-2000:]}")


@pytest.mark.parametrize("line", EXPANDED)
def test_help_as_the_docs_show_it(line, capsys):
    assert main(argv_of(line)) == 0
    assert capsys.readouterr().out.startswith("usage: tpdask ")
