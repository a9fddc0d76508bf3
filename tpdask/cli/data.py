"""The data commands: export (JSON lines), status, import_tmi."""

from __future__ import annotations

import sys
from pathlib import Path

from tpdask import settings
from tpdask.cli.base import Commands, ExitCode
from tpdask.days import parse_day, parse_period
from tpdask.errors import TpdaskError, UsageError


class DataCommands(Commands):
    def export(self, what: str, day: str | int | None = None, since: str | int | None = None,
               until: str | int | None = None, min_minutes: float | None = None,
               bots: bool | None = None, viewer: str | None = None,
               within: float | None = None, format: str | None = None,
               out: str | None = None) -> None:
        """Export WHAT as JSON lines (sessions: CSV or Parquet), to --out FILE (written
        atomically, 0600) or standard output (-).

        The folder of FILE must exist; --out naming a folder, a missing folder or a path
        that may not be written is an error before anything is done (exit 1).

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

    def status(self, json: bool = False, access_log: bool = False, limit: int = 100) -> None:
        """The install's health at a glance, and one verdict: ok, warning or failing.

        Collector: the newest sample (loose or archived) older than two intervals is
        failing, more than status_missing_ticks ticks missed today or yesterday a warning.
        The last archive, process and analyse run of each of the last 7 days and the last
        verify: a failed one is failing; a day with samples not archived, processed and
        analysed status_due_hours after it ends is a warning. Archives and their sizes;
        the store's size (no store before the first process is fine; unreachable is
        failing); files quarantined in the last 7 days (warning); free disk space
        (status_disk_* settings); jobs running now. --json prints one JSON object.
        Exit 0 ok, 1 warning, 2 failing, also when it cannot judge (a wrong command
        line or setting). The rules: docs/operations.md.

        --access_log shows instead which website account opened which viewer's page or
        lookup, and when, newest first (the last --limit, 100), with the viewers' logins:
        an operator's view, as the data folder is (docs/web.md). Exit 0.
        """
        import orjson

        if access_log:
            from tpdask.web.access_log import access_text, read_access_log

            if int(limit) < 1:
                raise UsageError("--limit must be at least 1")
            rows = read_access_log(self._config().data_dir, int(limit))
            print(orjson.dumps({"access_log": [r.to_json() for r in rows]}).decode()
                  if json else access_text(rows))
            return

        from tpdask.ops import check_health, health_text
        from tpdask.ops.health import unjudged

        try:
            health = check_health(self._config())
        except TpdaskError as exc:       # a setting it cannot read: the check is broken
            health = unjudged(str(exc))
        print(orjson.dumps(health.to_json()).decode() if json else health_text(health))
        if health.exit_code:
            raise ExitCode(health.exit_code)

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
    from tpdask.export import check_out, export_viewer_days

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
    if what in ("overlap", "broadcasts", "flows", "sessions"):
        if since is None or until is None:
            raise UsageError(f"export {what} needs --since YYYY-MM-DD --until YYYY-MM-DD")
        first, last = parse_period(since, until)
    if what == "sessions":
        from tpdask.privacy.sessions import export_sessions

        if fmt is None:
            raise UsageError("export sessions needs --format rappaz (CSV) or --format parquet")
        check_out(out)
        return export_sessions(config, first, last, str(fmt), bool(bots), out)
    if what == "broadcasts":
        from jobs.insight import export_broadcasts

        check_out(out)
        return export_broadcasts(config, first, last, out)
    if what == "flows":
        from jobs.insight import check_within, export_flows

        if within is not None:
            check_within(float(within))
        check_out(out)
        return export_flows(config, first, last, None if within is None else float(within),
                            out)
    if what == "overlap":
        if min_minutes is not None and float(min_minutes) < 0:
            raise UsageError(f"--min_minutes must be 0 or more, got {min_minutes}")
        check_out(out)
        return export_overlap(config, first, last,
                              None if min_minutes is None else float(min_minutes), bool(bots), out)
    if what not in ("profiles", "status") and day is None:
        raise UsageError(f"export {what} needs --day YYYY-MM-DD")
    check_out(out)                   # before any work: a bad --out leaves nothing behind
    if what == "profiles":
        return export_profiles(config, viewer, out)
    if what == "status":
        from tpdask.verify import export_status

        return export_status(config, out)
    if what == "viewer_days":
        return export_viewer_days(config, parse_day(day), out)
    return export_day_results(config, what, parse_day(day), out)
