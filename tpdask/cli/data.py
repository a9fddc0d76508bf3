"""The data commands: export (JSON lines), status, import_tmi."""

from __future__ import annotations

import sys
from pathlib import Path

from tpdask import settings
from tpdask.cli.base import Commands
from tpdask.days import parse_day
from tpdask.errors import UsageError


class DataCommands(Commands):
    def export(self, what: str, day: str | int | None = None, since: str | int | None = None,
               until: str | int | None = None, min_minutes: float | None = None,
               bots: bool | None = None, viewer: str | None = None,
               within: float | None = None, format: str | None = None,
               out: str | None = None) -> None:
        """Export WHAT as JSON lines (sessions: CSV or Parquet), to --out FILE (written
        atomically, 0600) or standard output (-).

        viewer_days --day D, bots --day D, streamer_days --day D, overlap --since D1 --until
        D2 [--min_minutes M (10 when not given)] [--bots], profiles [--viewer LOGIN], status
        (account statuses by viewer), broadcasts --since D1 --until D2 (with stream health),
        flows --since D1 --until D2 [--within MINUTES (15 when not given, at most 60)],
        sessions --since D1 --until D2 --format rappaz|parquet [--bots] (research data
        without names: CSV without header, or Parquet); a
        flag WHAT does not take is refused (exit 2). Nothing
        to export (a day not processed or not analysed, an unknown viewer, no account
        checked) is an error (exit 3), and no file is written; so are results out of date
        with their inputs (a day processed again, an earlier day processed, the bot
        settings changed): the message names the `tpdask analyse` to run.
        """
        target = None if out in (None, "-") else str(out)
        count = run_export(self._existing_config(), str(what), day=day, since=since,
                           until=until, min_minutes=min_minutes, bots=bots, viewer=viewer,
                           within=within, out=target, fmt=format)
        if target:
            print(f"wrote {count} {what} records to {target}", file=sys.stderr)

    def status(self) -> None:
        """Days in the store, analysed days and bots, accounts by status, the last job runs."""
        from tpdask.stores import open_store

        config = self._existing_config()
        with open_store(config.store, create=False) as store:
            days = store.days()
            analysed = store.result_scopes("streamer_days")
            print(f"store: {config.store}")
            print(f"days with viewer_days: {len(days)}" + (f" ({days[0]} … {days[-1]})" if days else ""))
            print(f"analysed days: {len(analysed)}" + (f" ({analysed[0]} … {analysed[-1]})"
                                                        if analysed else ""))
            if analysed:
                bots = sum(1 for _ in store.iter_results("bots", analysed[-1]))
                print(f"bots on {analysed[-1]}: {bots:,}")
            counts = store.status_counts()
            print("accounts: " + (", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
                                  or "none yet"))
            from tpdask.privacy.journal import pending

            for journal in pending(config.data_dir):
                print(f"unfinished erasure {journal['id']} (started {journal['runs']} times): "
                      "run the same `tpdask erase LOGIN` again to finish it")
            for run in store.job_runs()[:10]:
                r = run["report"]
                print(f"  {run['job']:<8} {run['day'] or '-':<22} {run['status']:<6} "
                      f"viewers={r.get('viewers', r.get('checked', '-'))} "
                      f"seconds={r.get('seconds', '-')}")

    def import_tmi(self, folder: str, tz: str = "UTC") -> None:
        """Turn old tmi chatters dumps in FOLDER/<channel>/ into samples (one per --interval slot).

        --tz names the IANA time zone of the collecting machine, for dumps named by local time
        (<Y>-<M>-<D>-<HH>-<MM>_dump.json); <unix_ts>.json dumps need none.
        """
        from tpdask.collect.import_tmi import import_tmi

        report = import_tmi(self._config(), Path(str(folder)), tz=str(tz))
        print(report.text())


EXPORTS = ("viewer_days", "bots", "streamer_days", "overlap", "profiles", "status",
           "broadcasts", "flows", "sessions")


def run_export(config: settings.Config, what: str, day: str | int | None,
               since: str | int | None, until: str | int | None, min_minutes: float | None,
               bots: bool | None, viewer: str | None, out: str | None,
               within: float | None = None, fmt: str | None = None) -> int:
    """Check that WHAT gets the flags it needs (and no other), then export it.

    A flag is given when it is not None: a default value given explicitly is given too
    (`export viewer_days --min_minutes 10` is refused like any other value)."""
    from jobs.overlap import export_overlap
    from tpdask.analysis.export import export_day_results, export_profiles
    from tpdask.export import export_viewer_days

    if what not in EXPORTS:
        raise UsageError(f"cannot export {what!r}; choose one of: {', '.join(EXPORTS)}")
    given = {"--day": day, "--since": since, "--until": until, "--viewer": viewer,
             "--bots": bots, "--min_minutes": min_minutes, "--within": within, "--format": fmt}
    wanted = {"overlap": {"--since", "--until", "--bots", "--min_minutes"},
              "broadcasts": {"--since", "--until"}, "flows": {"--since", "--until", "--within"},
              "sessions": {"--since", "--until", "--bots", "--format"},
              "profiles": {"--viewer"}, "status": set()}.get(what, {"--day"})
    extra = sorted(flag for flag, value in given.items() if value is not None and flag not in wanted)
    if extra:
        raise UsageError(f"export {what} does not take {', '.join(extra)}")
    if what in ("overlap", "broadcasts", "flows", "sessions") and (since is None or until is None):
        raise UsageError(f"export {what} needs --since YYYY-MM-DD --until YYYY-MM-DD")
    if what == "sessions":
        from tpdask.privacy.sessions import export_sessions

        if fmt is None:
            raise UsageError("export sessions needs --format rappaz (CSV) or --format parquet")
        return export_sessions(config, parse_day(since), parse_day(until), str(fmt),
                               bool(bots), out)
    if what == "broadcasts":
        from jobs.insight import export_broadcasts

        return export_broadcasts(config, parse_day(since), parse_day(until), out)
    if what == "flows":
        from jobs.insight import check_within, export_flows

        if within is not None:
            check_within(float(within))
        return export_flows(config, parse_day(since), parse_day(until),
                            None if within is None else float(within), out)
    if what == "overlap":
        return export_overlap(config, parse_day(since), parse_day(until),
                              None if min_minutes is None else float(min_minutes), bool(bots), out)
    if what == "profiles":
        return export_profiles(config, viewer, out)
    if what == "status":
        from tpdask.verify import export_status

        return export_status(config, out)
    if day is None:
        raise UsageError(f"export {what} needs --day YYYY-MM-DD")
    if what == "viewer_days":
        return export_viewer_days(config, parse_day(day), out)
    return export_day_results(config, what, parse_day(day), out)
