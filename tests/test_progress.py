"""Progress of the long commands: timestamped lines when standard error is not a terminal,
a bar when it is (run under a pseudo-terminal), TPDASK_PROGRESS / --progress forcing
either or none; standard output, exit codes and reports unchanged."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.support import make_config, sample, write_samples
from tpdask import progress as progress_module
from tpdask.cli.main import main
from tpdask.log import count_row, print_log, progress

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
T0 = 1659312000
STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z "
STAMPED = re.compile("^" + STAMP)
BAR = "█"           # tqdm's full block, drawn only by a bar


@pytest.fixture(autouse=True)
def no_progress_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's TPDASK_PROGRESS does not reach the tests."""
    monkeypatch.delenv("TPDASK_PROGRESS", raising=False)


def small_day(tmp_path: Path) -> Path:
    """A day of 30 samples of two streams; its data folder."""
    config = make_config(tmp_path)
    write_samples(config, DAY, [sample(T0 + 300 * k, {"s1": [f"v{i}" for i in range(k, k + 40)],
                                                      "s2": ["v1", f"x{k}"]})
                                for k in range(30)])
    return config.data_dir


def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """`tpdask ARGS` with standard output and error pipes (not terminals); the output as
    written (a bar's carriage returns kept, which text mode would make newlines)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TPDASK_")
            or k.startswith("TPDASK_TEST_")}
    result = subprocess.run([sys.executable, "-m", "tpdask", *args], capture_output=True,
                            timeout=300, env={**base, "PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


def run_in_terminal(args: list[str], env: dict | None = None) -> tuple[int, str]:
    """`tpdask ARGS` with standard error a pseudo-terminal of 100 x 30 (standard output a
    pipe, as in `tpdask … > report.txt`); its exit code and what the terminal received."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TPDASK_")
            or k.startswith("TPDASK_TEST_")}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave,
                            env={**base, "PYTHONPATH": str(ROOT), **(env or {})})
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:            # the child closed the terminal (EIO on Linux)
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.stdout.read()
    return proc.wait(timeout=60), screen.decode(errors="replace")


# ---- the default: lines when standard error is not a terminal ------------------------------

def test_process_off_a_terminal_writes_timestamped_lines(tmp_path, capsys):
    """In process, standard error captured (not a terminal): every line it writes starts
    with the UTC time, the phases say how far they are, the report on stdout is as before."""
    data = small_day(tmp_path)
    assert main(["--data_dir", str(data), "process", "--day", DAY, "--local"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines and all(STAMPED.match(line) for line in lines), err
    assert any(re.match(STAMP + r"process 2022-08-01: 30 sample files", x) for x in lines)
    assert re.search(STAMP + r"parse\+partition: 0/1 tasks \(0%\), ", err)
    assert re.search(STAMP + r"parse\+partition: 1/1 tasks \(100%\), [\d.]+ s$", err, re.M)
    assert re.search(STAMP + r"invert\+write: 4/4 tasks \(100%\), [\d.]+ s$", err, re.M)
    assert BAR not in err and "\r" not in err
    assert out.startswith("\nday 2022-08-01 processed in ") and not re.search(STAMP, out)
    assert count_row("viewers", 99) + "\n" in out


def test_lines_are_few_however_many_steps(monkeypatch):
    """A phase of 100,000 steps writes a bounded number of lines: its start and end when
    quick; a line per tenth at most (and one a minute) when slow."""
    written: list[str] = []
    monkeypatch.setattr(progress_module, "write_line", written.append)
    with progress_module.LineProgress("quick", 100_000) as bar:
        for _ in range(100_000):
            bar.update()
    assert [x.split(", ")[0] for x in written] == ["quick: 0/100,000 tasks (0%)",
                                                   "quick: 100,000/100,000 tasks (100%)"]
    written.clear()
    monkeypatch.setattr(progress_module, "LINE_GAP", 0.0)
    with progress_module.LineProgress("slow", 100_000, "dumps") as bar:
        for _ in range(100_000):
            bar.update()
    assert len(written) == 11 and written[5].startswith("slow: 50,000/100,000 dumps (50%)")


def test_lines_of_bytes_and_of_unknown_totals(monkeypatch):
    written: list[str] = []
    monkeypatch.setattr(progress_module, "write_line", written.append)
    with progress_module.LineProgress("write 2022-08-01.7z", 297_900_000, "B") as bar:
        bar.update(297_900_000)
    assert written[-1].startswith("write 2022-08-01.7z: 297.9/297.9 MB (100%), ")
    with progress_module.LineProgress("verify", None, "accounts") as bar:
        bar.update(1200)
        bar.note("3 gone")
    assert re.fullmatch(r"verify: 1,200 accounts, [\d.]+ s, 3 gone", written[-1])


def test_a_plain_log_callable_gets_the_executors_messages():
    """A log that is not the default (a test's list, a quiet lambda) gets plain messages
    every tenth, as the executors always wrote them (tests/test_worker_faults.py waits
    for one)."""
    said: list[str] = []
    with progress(said.append, "invert+write", 4) as bar:
        for _ in range(4):
            bar.update()
    assert said == [f"  invert+write: {i}/4" for i in range(1, 5)]
    said.clear()
    with progress(said.append, "contributions", 100) as bar:
        for _ in range(100):
            bar.update()
    assert len(said) == 10 and said[-1] == "  contributions: 100/100"


def test_messages_are_stamped_line_by_line(capsys):
    print_log("one\ntwo")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and re.fullmatch(STAMP + "one", err[0]) and err[1].endswith("Z two")


def test_import_tmi_and_archive_off_a_terminal(tmp_path):
    """Dumps read of the total; archive bytes written, then read back and checked."""
    dumps = tmp_path / "dumps"
    for k in range(12):
        path = dumps / "somechannel" / f"{T0 + 300 * k}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"chatter_count": 1, "chatters": {"viewers": ["someone"]}}')
    data = tmp_path / "data"
    imported = run(["--data_dir", str(data), "import_tmi", str(dumps)])
    assert imported.returncode == 0, imported.stderr
    assert re.search(STAMP + r"import_tmi: 12/12 dumps \(100%\), [\d.]+ s, 12 samples written$",
                     imported.stderr, re.M), imported.stderr
    assert imported.stdout.startswith("tmi import done in ")
    archived = run(["--data_dir", str(data), "archive", "--day", DAY])
    assert archived.returncode == 0, archived.stderr
    err = archived.stderr
    assert all(STAMPED.match(x) for x in err.splitlines()), err
    assert re.search(STAMP + r"write 2022-08-01\.7z: [\d.]+/[\d.]+ kB \(100%\)", err), err
    assert re.search(STAMP + r"check 2022-08-01\.7z: [\d.]+/[\d.]+ kB \(100%\)", err), err
    assert archived.stdout.startswith("day 2022-08-01: ")


def test_bench_verify_off_a_terminal_counts_the_accounts_checked(tmp_path):
    result = run(["--data_dir", str(tmp_path), "bench", "--job", "verify", "--accounts", "250"])
    assert result.returncode == 0, result.stderr
    assert re.search(STAMP + r"verify: 250/250 accounts \(100%\), [\d.]+ s, \d+ active, "
                     r"\d+ renamed, \d+ gone$", result.stderr, re.M), result.stderr
    assert result.stdout.startswith("accounts 250, ")


# ---- a terminal: bars ---------------------------------------------------------------------

def test_process_on_a_terminal_draws_bars(tmp_path):
    """On Dask (one worker), standard error a terminal: a bar per phase, the messages above
    them without a timestamp; the report goes to standard output as before."""
    data = small_day(tmp_path)
    code, screen = run_in_terminal(["--data_dir", str(data), "process", "--day", DAY,
                                    "--workers", "1"])
    assert code == 0, screen
    assert "process 2022-08-01: 30 sample files" in screen and not re.search(STAMP, screen)
    assert re.search(r"\rparse\+partition: 100%\|█+\| 1/1 ", screen), screen
    assert re.search(r"\rinvert\+write: 100%\|█+\| 4/4 ", screen), screen
    assert re.search(r"\rinvert\+write:  *0%\|", screen)       # drawn as it went


def test_the_setting_forces_lines_on_a_terminal(tmp_path):
    data = small_day(tmp_path)
    code, screen = run_in_terminal(["--data_dir", str(data), "process", "--day", DAY,
                                    "--local"], env={"TPDASK_PROGRESS": "lines"})
    assert code == 0, screen
    lines = [x for x in screen.replace("\r", "").splitlines() if x]
    assert BAR not in screen and all(STAMPED.match(x) for x in lines), screen
    assert any("invert+write: 4/4 tasks (100%)" in x for x in lines)


def test_the_setting_forces_bars_off_a_terminal_and_the_command_line_wins(tmp_path):
    data = small_day(tmp_path)
    args = ["--data_dir", str(data), "process", "--day", DAY, "--local"]
    bars = run(args, env={"TPDASK_PROGRESS": "bars"})
    assert bars.returncode == 0, bars.stderr
    assert re.search(r"\rinvert\+write: 100%\|█+\| 4/4 ", bars.stderr), bars.stderr
    lines = run([*args, "--progress", "lines"], env={"TPDASK_PROGRESS": "bars"})
    assert lines.returncode == 0 and BAR not in lines.stderr
    assert all(STAMPED.match(x) for x in lines.stderr.splitlines()), lines.stderr


def test_off_shows_no_progress_and_plain_messages(tmp_path):
    data = small_day(tmp_path)
    off = run(["--data_dir", str(data), "process", "--day", DAY, "--local"],
              env={"TPDASK_PROGRESS": "off"})
    assert off.returncode == 0, off.stderr
    assert off.stderr.startswith("process 2022-08-01: 30 sample files")
    assert "invert+write" not in off.stderr and not re.search(STAMP, off.stderr)
    assert count_row("viewers", 99) + "\n" in off.stdout


def test_an_unknown_progress_value_is_refused(tmp_path):
    result = run(["--data_dir", str(tmp_path), "process", "--day", DAY],
                 env={"TPDASK_PROGRESS": "loud"})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("error: --progress (TPDASK_PROGRESS) must be one of auto, bars, "
                             "lines, off, got 'loud'\n")
