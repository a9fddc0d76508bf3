"""The pipeline's commands, in the order a day goes through them: collect, archive,
process, analyse, verify."""

from __future__ import annotations

from tpdask import settings
from tpdask.cli.base import Commands
from tpdask.days import days_between, parse_day, parse_period, yesterday
from tpdask.errors import ConfigError, JobError, PartialError, UsageError
from tpdask.executor import check_scheduler, check_workers
from tpdask.log import count_row


class PipelineCommands(Commands):
    def collect(self, once: bool = False, source: str = "helix", language: str = "fr",
                top: int = 100, always: str | tuple = "", secrets_file: str | None = None,
                ticks: int | None = None, speed: float | None = None,
                start: float | None = None, sim_clock: str | None = None) -> None:
        """Write one sample per interval until stopped (SIGTERM finishes the tick, exit 0).

        --source helix|irc|tmi|sim, --language fr, --top 100, --always a,b (always tracked),
        --once (one sample now), --ticks N (stop after N). Credentials: TPDASK_CLIENT_ID,
        TPDASK_CLIENT_SECRET (and TPDASK_USER_TOKEN for helix) or --secrets_file (0600).
        --speed S --start TS run a simulated clock; --sim_clock URL takes the clock of a
        running `tpdask simulate` from its state URL (http://host:port/_sim/state).
        """
        from tpdask.collect.collector import make_collector

        names = always if isinstance(always, (tuple, list)) else str(always).split(",")
        collector = make_collector(self._config(), source=source, language=str(language),
                                   top=int(top), always=[str(n) for n in names],
                                   secrets_file=secrets_file,
                                   speed=float(speed) if speed else None,
                                   start=float(start) if start is not None else None,
                                   sim_clock=sim_clock)
        collector.stop_on_signals()
        try:
            results = collector.run(once=bool(once), ticks=int(ticks) if ticks else None)
        finally:
            collector.source.close()
        written = sum(1 for r in results if r.path)
        print(f"collected {written} samples in {len(results)} ticks into {self._config().samples_dir}")

    def archive(self, day: str | int | None = None) -> None:
        """Archive a day's samples (default yesterday UTC) into archive/<day>.7z plus a manifest.

        Raw files are deleted only after the archive is read back and checked against the
        manifest; late samples of an archived day are added to it.
        """
        from tpdask.archive.pack import archive_day

        report = archive_day(self._config(), parse_day(day) if day is not None else yesterday())
        print(report.text())

    def process(self, day: str | int | None = None, scheduler: str | None = None,
                workers: int | None = None, local: bool = False) -> None:
        """Process a day (default yesterday UTC) on a local Dask cluster, or --scheduler tcp://host:8786.

        --workers N sets the local cluster's worker processes (default: one per core; up
        to 4 per core, at least 16); --scheduler takes the address `dask scheduler` prints;
        --local runs in this process without Dask, for debugging.
        """
        from jobs.process_day import process_command

        check_scheduler(scheduler)
        check_workers(workers)
        report = process_command(self._config(),
                                 parse_day(day) if day is not None else yesterday(),
                                 scheduler=scheduler, workers=workers, local=local)
        print_report(report)

    def analyse(self, day: str | int | None = None, since: str | int | None = None,
                until: str | int | None = None, scheduler: str | None = None,
                workers: int | None = None, local: bool = False) -> None:
        """Analyse --day D (default yesterday UTC) or every processed day of --since D1 --until D2.

        Computes each day's bots and streamer statistics and merges every processed day into
        the viewer profiles, on a local Dask cluster or --scheduler tcp://host:8786; --workers
        N, --local as for process. Bot rules: the bot_concurrent, bot_hours, bot_list settings.
        """
        from jobs.analyse import analyse_command

        check_scheduler(scheduler)
        check_workers(workers)
        config = self._config()
        report = analyse_command(config, analyse_days(config, day, since, until),
                                 scheduler=scheduler, workers=workers, local=local)
        print_analyse_report(report)

    def nightly(self, day: str | int | None = None, since: str | int | None = None,
                until: str | int | None = None, scheduler: str | None = None,
                workers: int | None = None, local: bool = False) -> None:
        """Run the nightly chain for --day D (default yesterday UTC) or every day of --since
        D1 --until D2: archive and process each day, then prune, analyse and verify.

        A stage with nothing to do is skipped, with the reason (a day already archived and
        processed from the same archive, no retention set for prune, results current, no
        Twitch credentials for verify, a day without samples), so a run after a failure or a kill resumes where the last
        stopped. One Dask cluster for the run (--workers N, or --scheduler tcp://host:8786;
        --local runs in this process). One nightly at a time, and it holds its days: a
        process or analyse of one of them refuses to start meanwhile. Exit 0 when no stage
        failed, 4 when some failed and others were done, 1 when nothing could be done.
        """
        from jobs.nightly import nightly

        check_scheduler(scheduler)
        check_workers(workers)
        report = nightly(self._config(), nightly_days(day, since, until), scheduler=scheduler,
                         workers=workers, local=local)
        print_nightly_report(report)
        if report["status"] == "partial":
            raise PartialError(f"{report['failed']} stages failed (see above); the next run "
                               "retries them")
        if report["status"] == "failed":
            raise JobError(f"{report['failed']} stages failed and none was done (see above)")

    def verify(self, limit: int | None = None, secrets_file: str | None = None) -> None:
        """Check the accounts seen in the chats through Helix users: active, renamed or gone.

        Never-checked accounts first, then those checked longest ago; --limit N checks at
        most N. 100 keys a call (logins, then the ids of those not found), inside the rate
        limit; each call's results are stored before the next, so a killed run loses at most
        one call and the next run picks up the accounts it did not reach. Credentials:
        TPDASK_CLIENT_ID and TPDASK_CLIENT_SECRET (an app token is enough), or
        --secrets_file (0600). One verify at a time per data folder. Prints the report,
        which is also kept in the job ledger.
        """
        from tpdask.verify import check_limit, verify

        report = verify(self._existing_config(), limit=check_limit(limit),
                        secrets_file=secrets_file)
        print(f"\nverified {report['checked']:,} accounts in {report['seconds']} s with "
              f"{report['calls']:,} Helix users calls")
        for key in ("active", "renamed", "gone", "changed", "new_accounts", "synced_days"):
            value = report[key]
            print(count_row(key, len(value) if isinstance(value, list) else value))
        store = report.get("store", {})
        print("  accounts in the store: " + ", ".join(f"{k} {v:,}" for k, v in sorted(store.items())))


def nightly_days(day: str | int | None, since: str | int | None,
                 until: str | int | None) -> list[str]:
    """The days `nightly` is asked for: --day D, every day of --since/--until, or yesterday."""
    if day is not None and (since is not None or until is not None):
        raise UsageError("nightly takes --day D or --since D1 --until D2, not both")
    if (since is None) != (until is None):
        raise UsageError("nightly --since D1 needs --until D2 (and the other way round)")
    if since is None:
        return [parse_day(day) if day is not None else yesterday()]
    return days_between(*parse_period(since, until))


def print_nightly_report(report: dict) -> None:
    print(f"\nnightly {report['days'][0]} … {report['days'][-1]}: {report['status']} in "
          f"{report['seconds']} s")
    for o in report["stages"]:
        reason = f" ({o['reason']})" if o["reason"] else ""
        print(f"  {o['day'] or '-':<11} {o['stage']:<8} {o['verdict']:<8}"
              f"{' ' + str(o['seconds']) + ' s' if o['verdict'] == 'done' else ''}{reason}")


def analyse_days(config: settings.Config, day: str | int | None, since: str | int | None,
                 until: str | int | None) -> list[str]:
    """The days `analyse` is asked for: --day D, the processed days of --since/--until, or
    yesterday."""
    from tpdask.process.lake import processed_days

    if day is not None and (since is not None or until is not None):
        raise UsageError("analyse takes --day D or --since D1 --until D2, not both")
    if (since is None) != (until is None):
        raise UsageError("analyse --since D1 needs --until D2 (and the other way round)")
    if since is None:
        return [parse_day(day) if day is not None else yesterday()]
    first, last = parse_period(since, until)
    days = [d for d in processed_days(config.lake_dir) if first <= d <= last]
    if not days:
        raise ConfigError(f"no processed day in {first} … {last}: run `tpdask process` first")
    return days


def print_analyse_report(report: dict) -> None:
    print(f"\nanalysed {len(report['days'])} days in {report['seconds']} s on "
          f"{report['workers']} workers ({report['processed_days']} processed days in the "
          f"profiles, {report['profiles_written']:,} profiles written)")
    for day, counts in report["per_day"].items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(counts["bot_reasons"].items()))
        print(f"  {day}: {counts['viewers']:,} viewers, {counts['streamers']} streamers, "
              f"{counts['bots']:,} bots" + (f" ({reasons})" if reasons else ""))


def print_report(report: dict) -> None:
    print(f"\nday {report['day']} processed in {report['seconds']} s on {report['workers']} workers")
    for key in ("samples_read", "files_quarantined", "invalid_entries", "entries",
                "observations", "viewers", "sessions", "buckets"):
        print(count_row(key, report[key]))
    for line in report.get("quarantined", [])[:20]:
        print(f"  quarantined: {line}")
