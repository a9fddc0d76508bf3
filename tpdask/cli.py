"""The `tpdask` command line: a thin python-fire layer over the library.

Each command parses its arguments, calls one library function and prints. Only here are
TpdaskError exceptions turned into a message and an exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import fire
import orjson

from tpdask import settings
from tpdask.days import parse_day, yesterday
from tpdask.errors import ConfigError, TpdaskError

COMMANDS = (
    ("demo", "generate a day with the audience model, process it and print a summary"),
    ("process", "turn a day's samples into viewer-days in the lake and the store (Dask)"),
    ("export", "export viewer_days of a day as JSON lines"),
    ("bench", "time the day job at a given scale from a .7z archive, against a baseline"),
    ("status", "what the store holds: days, and the last job runs"),
)


def usage() -> str:
    lines = ["tpdask: Twitch audience measurement on Dask.", "", "Commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS]
    lines += ["", "Global options (command line, else environment, else default):"]
    lines += [f"  --{s.name:<10} [{s.env}] {s.help}" for s in settings.SETTINGS]
    lines += ["", "Run `tpdask COMMAND --help` for a command's options."]
    return "\n".join(lines)


class Tpdask:
    """Twitch audience measurement on Dask. Run `tpdask` alone for the list of commands."""

    def __init__(self, data_dir: str | None = None, store: str | None = None,
                 interval: int | None = None, max_gap: int | None = None,
                 helix_url: str | None = None, auth_url: str | None = None,
                 irc_url: str | None = None):
        self._given = dict(data_dir=data_dir, store=store, interval=interval, max_gap=max_gap,
                           helix_url=helix_url, auth_url=auth_url, irc_url=irc_url)

    def _config(self) -> settings.Config:
        return settings.resolve(**self._given)

    def process(self, day: str | int | None = None, scheduler: str | None = None,
                workers: int | None = None, local: bool = False) -> None:
        """Process a day (default yesterday UTC) on a local Dask cluster, or --scheduler tcp://host:8786.

        --workers N sets the local cluster's worker processes (default: one per core);
        --local runs in this process without Dask, for debugging.
        """
        from jobs.process_day import run

        report = run(self._config(), parse_day(day) if day is not None else yesterday(),
                             scheduler=scheduler, workers=workers, local=local)
        print_report(report)

    def export(self, what: str, day: str | int | None = None, out: str | None = None) -> None:
        """Export `viewer_days` of --day D as JSON lines, to --out FILE or standard output."""
        from tpdask.export import export_viewer_days

        if what != "viewer_days":
            raise ConfigError(f"cannot export {what!r}; this version exports: viewer_days")
        if day is None:
            raise ConfigError("export viewer_days needs --day YYYY-MM-DD")
        count = export_viewer_days(self._config(), parse_day(day), out)
        if out:
            print(f"wrote {count} viewer-day records to {out}", file=sys.stderr)

    def demo(self, day: str | int = "2022-08-01", scale: float = 0.02, workers: int = 2) -> None:
        """Generate a day with the audience model (dirty, with gaps), process it, print a summary."""
        from jobs.process_day import lake_day_dir
        from tpdask.demo import run_demo

        config = self._config()
        result = run_demo(config, parse_day(day), scale=float(scale), workers=int(workers))
        print_report(result.report)
        print(f"\nTop streamers of {result.day} by minutes watched:")
        print(f"  {'streamer':<24} {'minutes':>10} {'viewers':>8}")
        for streamer, minutes, viewers in result.top:
            print(f"  {streamer:<24} {minutes:>10,.0f} {viewers:>8,}")
        print("\nWhere the data is:")
        print(f"  samples     {config.samples_dir / result.day}/ ({result.sample_files} files)")
        print(f"  quarantine  {config.quarantine_dir / result.day}/")
        print(f"  lake        {lake_day_dir(config, result.day)}/")
        print(f"  store       {config.store}")
        print(f"\nNext: tpdask --data_dir {config.data_dir} export viewer_days --day {result.day}")

    def bench(self, scale: float = 1.0, workers: int | None = None,
              baseline_scale: float = 0.25) -> None:
        """Time `process` on the seeded scale-S day (1 = 100 streamers, ~20M observations).

        The store is --store when given (e.g. a MongoDB URI), else a fresh SQLite file;
        --baseline_scale 0 skips the single-process baseline. Figures go to data/bench/.
        """
        from tpdask.bench import BenchPlan, run_bench, table

        store = self._given["store"] or os.environ.get("TPDASK_STORE")
        plan = BenchPlan(scale=float(scale), store=store, workers=workers,
                         baseline_scale=float(baseline_scale))
        print(table(run_bench(self._config(), plan)))

    def status(self) -> None:
        """Days in the store and the most recent job runs."""
        from tpdask.stores import open_store

        config = self._config()
        with open_store(config.store) as store:
            days = store.days()
            print(f"store: {config.store}")
            print(f"days with viewer_days: {len(days)}" + (f" ({days[0]} … {days[-1]})" if days else ""))
            for run in store.job_runs()[:10]:
                r = run["report"]
                print(f"  {run['job']:<8} {run['day']}  {run['status']:<6} "
                      f"viewers={r.get('viewers', '-')} seconds={r.get('seconds', '-')}")


def print_report(report: dict) -> None:
    print(f"\nday {report['day']} processed in {report['seconds']} s on {report['workers']} workers")
    for key in ("samples_read", "files_quarantined", "invalid_entries", "entries",
                "observations", "viewers", "sessions", "buckets"):
        print(f"  {key:<18} {report[key]:>12,}")
    for line in report.get("quarantined", [])[:20]:
        print(f"  quarantined: {line}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv in (["-h"], ["--help"], ["help"]):
        print(usage())
        return 0
    try:
        fire.Fire(Tpdask, command=argv, name="tpdask")
    except TpdaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except fire.core.FireExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
