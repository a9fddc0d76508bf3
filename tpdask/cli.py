"""The `tpdask` command line: a thin python-fire layer over the library.

Each command parses its arguments, calls one library function and prints. Only here are
TpdaskError exceptions turned into a message and an exit code. The whole command line is
checked by tpdask.cli_args against the methods below before fire runs any of them.

Exit codes: 0 done, 1 error (TpdaskError), 2 bad command line (nothing ran), 3 nothing to
export, 130 interrupted, 141 standard output closed early (``tpdask export … | head``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import fire

from tpdask import cli_args, settings
from tpdask.days import parse_day, yesterday
from tpdask.errors import ConfigError, NoRecordsError, TpdaskError, UsageError
from tpdask.log import count_row

EXIT_ERROR, EXIT_USAGE, EXIT_NO_RECORDS, EXIT_INTERRUPTED, EXIT_PIPE = 1, 2, 3, 130, 141

COMMANDS = (
    ("collect", "the always-on collector: one sample of the tracked chats every interval"),
    ("demo", "a simulated day through every stage: collect, archive, process, analyse, verify"),
    ("archive", "pack a day's samples into archive/<day>.7z, verified, then delete them"),
    ("process", "turn a day's samples into viewer-days in the lake and the store (Dask)"),
    ("analyse", "bots, streamer-day statistics and profiles from processed days (Dask)"),
    ("verify", "check the accounts seen in the chats through Helix users: active, renamed, gone"),
    ("export", "export viewer_days, bots, streamer_days, overlap, profiles or status as JSON lines"),
    ("import_tmi", "turn old tmi chatters dumps (DIR/<channel>/…) into samples"),
    ("bench", "time a job (process, analyse, verify) or the website (web) on generated data"),
    ("status", "what the store holds: days, and the last job runs"),
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


class Tpdask:
    """Twitch audience measurement on Dask. Run `tpdask` alone for the list of commands."""

    def __init__(self, data_dir: str | None = None, store: str | None = None,
                 interval: int | None = None, max_gap: int | None = None,
                 helix_url: str | None = None, auth_url: str | None = None,
                 irc_url: str | None = None, tmi_url: str | None = None,
                 dashboard_host: str | None = None, bot_concurrent: int | None = None,
                 bot_hours: float | None = None, bot_list: str | tuple | None = None,
                 web_workers: int | None = None, web_session_hours: float | None = None,
                 web_login_failures: int | None = None, web_login_window: int | None = None,
                 web_secure_cookies: bool | None = None):
        self._given = dict(data_dir=data_dir, store=store, interval=interval, max_gap=max_gap,
                           helix_url=helix_url, auth_url=auth_url, irc_url=irc_url,
                           tmi_url=tmi_url, dashboard_host=dashboard_host,
                           bot_concurrent=bot_concurrent, bot_hours=bot_hours,
                           bot_list=bot_list, web_workers=web_workers,
                           web_session_hours=web_session_hours,
                           web_login_failures=web_login_failures,
                           web_login_window=web_login_window,
                           web_secure_cookies=web_secure_cookies)

    def _config(self) -> settings.Config:
        return settings.resolve(**self._given)

    def _existing_config(self) -> settings.Config:
        """The config of a read-only command: a data folder that is named or holds the store
        must exist already (a mistyped --data_dir is an error, not an empty folder)."""
        config = self._config()
        named = self._given["data_dir"] is not None or os.environ.get("TPDASK_DATA_DIR")
        store_file = settings.sqlite_path(config.store)
        holds_store = store_file is not None and config.data_dir in store_file.parents
        if (named or holds_store) and not config.data_dir.is_dir():
            raise ConfigError(f"no data folder at {config.data_dir}: check --data_dir "
                              "(or TPDASK_DATA_DIR)")
        return config

    def archive(self, day: str | int | None = None) -> None:
        """Archive a day's samples (default yesterday UTC) into archive/<day>.7z plus a manifest.

        Raw files are deleted only after the archive is read back and checked against the
        manifest; late samples of an archived day are added to it.
        """
        from tpdask.archive.pack import archive_day

        report = archive_day(self._config(), parse_day(day) if day is not None else yesterday())
        print(report.text())

    def import_tmi(self, folder: str, tz: str = "UTC") -> None:
        """Turn old tmi chatters dumps in FOLDER/<channel>/ into samples (one per --interval slot).

        --tz names the IANA time zone of the collecting machine, for dumps named by local time
        (<Y>-<M>-<D>-<HH>-<MM>_dump.json); <unix_ts>.json dumps need none.
        """
        from tpdask.collect.import_tmi import import_tmi

        report = import_tmi(self._config(), Path(str(folder)), tz=str(tz))
        print(report.text())

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

    def analyse(self, day: str | int | None = None, since: str | int | None = None,
                until: str | int | None = None, scheduler: str | None = None,
                workers: int | None = None, local: bool = False) -> None:
        """Analyse --day D (default yesterday UTC) or every processed day of --since D1 --until D2.

        Computes each day's bots and streamer statistics and merges every processed day into
        the viewer profiles, on a local Dask cluster or --scheduler tcp://host:8786; --workers
        N, --local as for process. Bot rules: the bot_concurrent, bot_hours, bot_list settings.
        """
        from jobs.analyse import run

        config = self._config()
        report = run(config, analyse_days(config, day, since, until), scheduler=scheduler,
                     workers=workers, local=local, rules=config.bot_rules())
        print_analyse_report(report)

    def verify(self, limit: int | None = None, secrets_file: str | None = None) -> None:
        """Check the accounts seen in the chats through Helix users: active, renamed or gone.

        Never-checked accounts first, then those checked longest ago; --limit N checks at
        most N. 100 keys a call (logins, then the ids of those not found), inside the rate
        limit; each call's results are stored before the next, so a killed run loses at most
        one call and the next run picks up the accounts it did not reach. Credentials:
        TPDASK_CLIENT_ID and TPDASK_CLIENT_SECRET (an app token is enough), or
        --secrets_file (0600). Prints the report, which is also kept in the job ledger.
        """
        from tpdask.verify import verify

        report = verify(self._existing_config(), limit=limit, secrets_file=secrets_file)
        print(f"\nverified {report['checked']:,} accounts in {report['seconds']} s with "
              f"{report['calls']:,} Helix users calls")
        for key in ("active", "renamed", "gone", "changed", "new_accounts", "synced_days"):
            value = report[key]
            print(count_row(key, len(value) if isinstance(value, list) else value))
        store = report.get("store", {})
        print("  accounts in the store: " + ", ".join(f"{k} {v:,}" for k, v in sorted(store.items())))

    def export(self, what: str, day: str | int | None = None, since: str | int | None = None,
               until: str | int | None = None, min_minutes: float = 10, bots: bool = False,
               viewer: str | None = None, out: str | None = None) -> None:
        """Export WHAT as JSON lines, to --out FILE (written atomically) or standard output (-).

        viewer_days --day D, bots --day D, streamer_days --day D, overlap --since D1 --until
        D2 [--min_minutes 10] [--bots], profiles [--viewer LOGIN], status (account statuses
        by viewer). Nothing to export (a day not processed or not analysed, an unknown
        viewer, no account checked) is an error (exit 3), and no file is written.
        """
        target = None if out in (None, "-") else str(out)
        count = run_export(self._existing_config(), str(what), day=day, since=since,
                           until=until, min_minutes=min_minutes, bots=bots, viewer=viewer,
                           out=target)
        if target:
            print(f"wrote {count} {what} records to {target}", file=sys.stderr)

    def demo(self, day: str | int = "2022-08-01", scale: float = 0.02, workers: int = 2,
             speed: float = 800, port: int = 8000) -> None:
        """A simulated day through every stage: collect, archive, process, analyse, verify.

        --scale S of the audience model (0.02: ~18,000 viewers), --speed S simulated seconds
        per real second (800: a day in 108 s), --workers N for the Dask cluster. Then serves
        the website on http://127.0.0.1:PORT (--port, 0: a free one) with a `visitor`
        account whose new random password it prints, until Ctrl-C.
        """
        from jobs.process_day import lake_day_dir
        from tpdask.demo import run_demo

        config = self._config()
        result = run_demo(config, parse_day(day), scale=float(scale), workers=int(workers),
                          speed=float(speed))
        print(f"\ncollector: {result.samples} of {result.ticks} ticks written")
        print(f"archive:   {result.archive.text()}")
        print_report(result.report)
        print(f"\nTop streamers of {result.day} by minutes watched (moderated channels):")
        print(f"  {'streamer':<24} {'minutes':>10} {'viewers':>8}")
        for streamer, minutes, viewers in result.top:
            print(f"  {streamer:<24} {minutes:>10,.0f} {viewers:>8,}")
        counts = result.analysis["per_day"][result.day]
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(counts["bot_reasons"].items()))
        print(f"\nAnalysed: {counts['viewers']:,} viewers, {counts['streamers']} streamers, "
              f"{counts['bots']:,} bots ({reasons or 'none'})")
        print(f"Top overlapping pairs of {result.day} ({len(result.overlap):,} pairs, "
              f"{result.communities} communities):")
        print(f"  {'a':<20} {'b':<20} {'shared':>7} {'jaccard':>8}")
        for pair in result.overlap[:5]:
            print(f"  {pair['a']:<20} {pair['b']:<20} {pair['shared']:>7,} {pair['jaccard']:>8.3f}")
        v = result.verify
        print(f"Verified {v['checked']:,} accounts with {v['calls']:,} Helix users calls: "
              f"{v['active']:,} active, {v['renamed']:,} renamed, {v['gone']:,} gone "
              f"({result.wrong_statuses} unlike the simulator's truth)")
        print("\nWhere the data is:")
        print(f"  archive     {config.archive_dir / (result.day + '.7z')} (+ .manifest.json)")
        print(f"  quarantine  {config.quarantine_dir / result.day}/")
        print(f"  lake        {lake_day_dir(config, result.day)}/")
        print(f"  store       {config.store}")
        print(f"\nNext: tpdask --data_dir {config.data_dir} export streamer_days --day {result.day}"
              f"\n      tpdask --data_dir {config.data_dir} export profiles | head\n")
        from tpdask.demo import serve_demo_site

        serve_demo_site(config, int(port))

    def bench(self, job: str = "process", scale: float = 1.0, workers: int | None = None,
              baseline_scale: float = 0.25, days: int | None = None,
              accounts: int = 10_000, records: int = 1_000_000, clients: int = 8,
              seconds: float = 30, peer: str | None = None) -> None:
        """Time a job at scale S (1 = 100 streamers, ~20M observations, ~900K viewers a day).

        JOB (or --job) process (default): `process` of the seeded day from its .7z, against
        the single-process baseline at --baseline_scale (0 skips it); --peer duckdb also
        times a DuckDB query doing the same inversion on the same day (bench extra).
        analyse: `analyse` of each of --days N (7) days after the ones before, then their
        overlap. verify: `verify` of --accounts N accounts against the simulator. The store is --store when given
        (e.g. a MongoDB URI), else a fresh SQLite file. web: the website's answer times
        (dashboard, a streamer page, a viewer page) with --clients N (8) concurrent clients
        for --seconds S (30), on a data folder of about --records N (1,000,000) viewer-day
        records over --days N (30) processed and analysed days, built once under
        <data_dir>/bench/web-<records>-<days>/. Figures go to <data_dir>/bench/.
        """
        if job == "web":
            from tpdask.bench.web import bench_web, table as web_table

            print(web_table(bench_web(self._config(), int(records), int(days or 30),
                                      clients=int(clients), seconds=float(seconds),
                                      workers=workers)))
            return
        store = self._given["store"] or os.environ.get("TPDASK_STORE")
        if job == "analyse":
            from tpdask.bench.analyse import bench_analyse, table as analyse_table

            print(analyse_table(bench_analyse(self._config(), float(scale), int(days or 7),
                                              workers=workers, store=store)))
            return
        if job == "verify":
            from tpdask.bench.verify import bench_verify

            result = bench_verify(int(accounts), store=store)
            print(", ".join(f"{k} {v}" for k, v in result.items()))
            return
        if job != "process":
            raise UsageError(f"bench --job {job!r}: choose process, analyse, verify or web")
        from tpdask.bench.process import BenchPlan, run_bench, table

        plan = BenchPlan(scale=float(scale), store=store, workers=workers,
                         baseline_scale=float(baseline_scale), peer=peer)
        print(table(run_bench(self._config(), plan)))

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
            for run in store.job_runs()[:10]:
                r = run["report"]
                print(f"  {run['job']:<8} {run['day'] or '-':<22} {run['status']:<6} "
                      f"viewers={r.get('viewers', r.get('checked', '-'))} "
                      f"seconds={r.get('seconds', '-')}")

    def simulate(self, port: int = 8080, irc_port: int = 6667, day: str | int | None = None,
                 speed: float = 60.0, scale: float = 0.01, seed: int = 1,
                 start: str | int | None = None, host: str = "127.0.0.1",
                 chaos: float = 0.0) -> None:
        """Serve the Twitch simulator until Ctrl-C or SIGTERM: Helix, OAuth, IRC and tmi endpoints.

        --day D (default today, UTC) from --start HH:MM (default 15:00 UTC) at --speed
        simulated seconds per real second; --scale S of the audience model; --chaos F
        injects random faults into a fraction F of requests. Steer it with /_sim/ (docs/simulator.md).
        """
        import time

        from tpdask.simulator.audience import AudienceConfig
        from tpdask.days import day_of
        from tpdask.simulator import SimOptions, Simulator, parse_start

        the_day = parse_day(day) if day is not None else day_of(int(time.time()))
        sim = Simulator(the_day, AudienceConfig(seed=int(seed), scale=float(scale)),
                        speed=float(speed), start=parse_start(the_day, start),
                        options=SimOptions(chaos=float(chaos)))
        sim.start(host=host, http_port=int(port), irc_port=int(irc_port))
        sim.stop_on_sigterm()  # before the banner: whoever reads it may stop us at once
        state, urls, mod = sim.state(), sim.urls, sim.moderator
        print(f"Twitch simulator: {the_day}, scale {scale}, speed {speed}x, "
              f"simulated now {state['now_iso']}", flush=True)
        for key in ("helix_url", "auth_url", "irc_url", "tmi_url", "control_url"):
            print(f"  {key:<14} {urls[key]}")
        print(f"  client_id      {sim.client_id}\n  client_secret  {sim.client_secret}")
        print(f"  user_token     {sim.user_token}  (moderator {mod['login']}, id {mod['id']}, "
              f"moderates {len(mod['channels'])} channels)")
        print(f"  refresh_token  {sim.user_refresh_token}")
        print(f"  clock          start {sim.clock.start_ts:.0f}, speed {sim.clock.speed:g} "
              f"(follow it: SimClock.from_state(GET /_sim/state ['clock']))")
        print("These are fake credentials of the simulator. Ctrl-C stops it.", flush=True)
        sim.serve_forever()

    def web(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve the website on http://HOST:PORT (uvicorn) until Ctrl-C or SIGTERM.

        Reads the configured store, the lake and the archives while jobs write them;
        --web_workers N server processes. Accounts: `tpdask users add`. Logins and
        passwords are never logged (the access log is off).
        """
        from tpdask.web.server import serve

        serve(self._existing_config(), host=str(host), port=int(port))

    def users(self, action: str, name: str | None = None, role: str | None = None) -> None:
        """The website's accounts: add NAME --role admin|visitor, list, remove NAME.

        `add` reads the password from TPDASK_NEW_PASSWORD when set, else asks for it twice
        (at least 8 characters); adding an existing name replaces its role and password and
        ends its sessions. `remove` ends the user's sessions too. Accounts live in
        <data_dir>/web/site.sqlite (0600), not in the analytics store.
        """
        from tpdask.web import accounts

        data_dir = self._config().data_dir
        if action == "list":
            if name is not None or role is not None:
                raise UsageError("users list takes no NAME nor --role")
            for user, user_role, created in accounts.list_users(data_dir):
                print(f"{user:<32} {user_role:<8} since {format_time(created)}")
            return
        if action not in ("add", "remove"):
            raise UsageError(f"users {action!r}: choose add, list or remove")
        if name is None:
            raise UsageError(f"users {action} needs NAME: tpdask users {action} NAME")
        accounts.check_name(name)
        if action == "remove":
            if role is not None:
                raise UsageError("users remove takes no --role")
            ended = accounts.remove_user(data_dir, str(name))
            print(f"removed {name} ({ended} sessions ended)")
            return
        if role is None:
            raise UsageError("users add needs --role admin or --role visitor")
        accounts.check_role(role)
        new = accounts.add_user(data_dir, str(name), str(role), accounts.read_new_password())
        print(f"{'added' if new else 'updated'} {role} {name}")


def format_time(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


EXPORTS = ("viewer_days", "bots", "streamer_days", "overlap", "profiles", "status")


def run_export(config: settings.Config, what: str, day: str | int | None,
               since: str | int | None, until: str | int | None, min_minutes: float,
               bots: bool, viewer: str | None, out: str | None) -> int:
    """Check that WHAT gets the flags it needs (and no other), then export it."""
    from jobs.overlap import export_overlap
    from tpdask.analysis.export import export_day_results, export_profiles
    from tpdask.export import export_viewer_days

    if what not in EXPORTS:
        raise UsageError(f"cannot export {what!r}; choose one of: {', '.join(EXPORTS)}")
    given = {"--day": day, "--since": since, "--until": until, "--viewer": viewer,
             "--bots": bots or None, "--min_minutes": None if min_minutes == 10 else min_minutes}
    wanted = {"overlap": {"--since", "--until", "--bots", "--min_minutes"},
              "profiles": {"--viewer"}, "status": set()}.get(what, {"--day"})
    extra = sorted(flag for flag, value in given.items() if value is not None and flag not in wanted)
    if extra:
        raise UsageError(f"export {what} does not take {', '.join(extra)}")
    if what == "overlap":
        if since is None or until is None:
            raise UsageError("export overlap needs --since YYYY-MM-DD --until YYYY-MM-DD")
        return export_overlap(config, parse_day(since), parse_day(until), float(min_minutes),
                              bool(bots), out)
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
    first, last = parse_day(since), parse_day(until)
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
    except NoRecordsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_RECORDS
    except UsageError as exc:        # a flag combination only the command itself can judge
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TpdaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except fire.core.FireExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
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
