"""The `tpdask` command line: the list of commands, the class fire runs, and exit codes.

Each command parses its arguments, calls one library function and prints; the commands
live in one module per group (pipeline, data, site, tools). Only here are TpdaskError
exceptions turned into a message and an exit code. The whole command line is checked by
:mod:`tpdask.cli.args` against the commands' signatures before fire runs any of them.

Exit codes: 0 done, 1 error (TpdaskError), 2 bad command line (nothing ran), 3 nothing to
export, 4 part of a chain failed (``tpdask nightly``), 130 interrupted, 141 standard
output closed early (``tpdask export … | head``); ``tpdask status`` exits with its
verdict instead: 0 ok, 1 warning, 2 failing.
"""

from __future__ import annotations

import os
import sys

import fire

from tpdask import progress, settings
from tpdask.cli import args as cli_args
from tpdask.cli.base import ExitCode
from tpdask.cli.data import DataCommands
from tpdask.cli.pipeline import PipelineCommands
from tpdask.cli.privacy import PrivacyCommands
from tpdask.cli.site import SiteCommands
from tpdask.cli.tools import ToolCommands
from tpdask.errors import NoRecordsError, PartialError, TpdaskError, UsageError

EXIT_ERROR, EXIT_USAGE, EXIT_NO_RECORDS, EXIT_PARTIAL = 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_PIPE = 130, 141

COMMANDS = (
    ("collect", "the always-on collector: one sample of the tracked chats every interval"),
    ("demo", "a simulated day through every stage: collect, archive, process, analyse, verify"),
    ("archive", "pack a day's samples into archive/<day>.7z, verified, then delete them"),
    ("process", "turn a day's samples into viewer-days in the lake and the store (Dask)"),
    ("analyse", "bots, streamer-day statistics and profiles from processed days (Dask)"),
    ("verify", "check the accounts seen in the chats through Helix users: active, renamed, gone"),
    ("nightly", "the nightly chain for a day or a range: archive, process, prune, analyse, "
                "verify"),
    ("export", "export viewer_days, bots, streamer_days, overlap, profiles, status, "
               "broadcasts or flows as JSON lines; sessions as research data without names"),
    ("import_tmi", "turn old tmi chatters dumps (DIR/<channel>/…) into samples"),
    ("erase", "remove a viewer from every copy (samples, lake, store; --archives), keep it out"),
    ("prune", "apply the retention settings: delete the days they no longer keep (--dry_run)"),
    ("bench", "time a job (process, analyse, insight, verify, nightly) or the website (web)"),
    ("status", "the install's health: ok, warning or failing, with the reasons (exit 0/1/2)"),
    ("simulate", "serve the Twitch simulator (Helix, OAuth, IRC, tmi) driven by the audience model"),
    ("web", "serve the website: dashboard, streamers, overlap, bots, anonymised viewers"),
    ("users", "the website's accounts: users add NAME --role admin|visitor, users list, users remove NAME"),
)

#: optional parameters a command also takes as positional words (`users add NAME`)
POSITIONAL = {"users": ("name",), "bench": ("job",)}


def usage() -> str:
    lines = ["tpdask: Twitch audience measurement on Dask.", "", "Commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS]
    lines += ["", "Global options (command line, else environment, else default):"]
    lines += [f"  --{s.name:<14} [{s.env}] {s.help}" for s in settings.SETTINGS]
    lines += ["", "Run `tpdask COMMAND --help` for a command's options."]
    return "\n".join(lines)


class Tpdask(PipelineCommands, DataCommands, PrivacyCommands, SiteCommands, ToolCommands):
    """Twitch audience measurement on Dask. Run `tpdask` alone for the list of commands."""


COMMAND_SPECS = {name: cli_args.command_spec(name, text, getattr(Tpdask, name),
                                             POSITIONAL.get(name, ()))
                 for name, text in COMMANDS}
GLOBAL_FLAGS = {s.name: cli_args.Flag(s.name, s.kind, s.default) for s in settings.SETTINGS}


def main(argv: list[str] | None = None) -> int:
    """Run a command line; returns the exit code (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        code = run(argv)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()


def run(argv: list[str]) -> int:
    """Check argv, then show help or let fire run the command; TpdaskError → exit code."""
    if not argv:
        print(usage())
        return 0
    try:
        parsed = cli_args.parse(argv, COMMAND_SPECS, GLOBAL_FLAGS)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if parsed.help:
        spec = COMMAND_SPECS.get(parsed.command or "")
        print(cli_args.help_text(spec, GLOBAL_FLAGS) if spec else usage())
        return 0
    try:
        fire.Fire(Tpdask, command=list(parsed.fire_argv), name="tpdask")
    except ExitCode as exc:          # the command printed its answer; the code is its verdict
        return exc.code
    except NoRecordsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_RECORDS
    except UsageError as exc:        # a flag combination only the command itself can judge
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PartialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PARTIAL
    except TpdaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except fire.core.FireExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        progress.choose(None)      # the command's --progress ends with it (tests run many)
    return 0


def quiet_broken_pipe() -> int:
    """The reader of standard output went away (`| head`): stop quietly, as Unix tools do.

    Python would report the pipe again when it flushes stdout at exit, so stdout is pointed
    at /dev/null first (the recipe of the Python docs, "Note on SIGPIPE"). The exit code is
    141, the status of a tool killed by SIGPIPE, so `set -o pipefail` scripts see the same.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
