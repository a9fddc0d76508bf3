"""The tools: bench (timed jobs), simulate (the Twitch simulator as a server), demo."""

from __future__ import annotations

import os

from tpdask.cli.base import Commands
from tpdask.cli.pipeline import print_report
from tpdask.days import parse_day
from tpdask.errors import UsageError
from tpdask.executor import check_workers


class ToolCommands(Commands):
    def bench(self, job: str = "process", scale: float = 1.0, workers: int | None = None,
              baseline_scale: float = 0.25, days: int | None = None,
              accounts: int = 10_000, records: int = 1_000_000, clients: int = 8,
              seconds: float = 30, peer: str | None = None) -> None:
        """Time a job at scale S (1 = 100 streamers, ~20M observations, ~900K viewers a day).

        JOB (or --job) process (default): `process` of the seeded day from its .7z, against
        the single-process baseline at --baseline_scale (0 skips it); --peer duckdb also
        times a DuckDB query doing the same inversion on the same day (bench extra).
        archive: `archive` of the seeded day from its loose samples, the archive's size and
        the CPU-seconds of reading it back in one pass, as the day job does.
        analyse: `analyse` of each of --days N (7) days after the ones before, then their
        overlap, then a backfill of the first day against all days from scratch. verify:
        `verify` of --accounts N accounts against the simulator. insight: `export
        broadcasts` and `export flows` over --days N (7) analysed days. nightly: `nightly` of the
        seeded day from its loose samples (archive, process, analyse). The store is --store
        when given (e.g. a MongoDB URI), else a fresh SQLite file. web: the website's answer times
        (dashboard, a streamer page, a viewer page) with --clients N (8) concurrent clients
        for --seconds S (30), on a data folder of about --records N (1,000,000) viewer-day
        records over --days N (30) processed and analysed days, built once under
        <data_dir>/bench/web-<records>-<days>/. Figures go to <data_dir>/bench/.
        """
        check_workers(workers)
        if job == "web":
            from tpdask.bench.web import bench_web
            from tpdask.bench.web import table as web_table

            print(web_table(bench_web(self._config(), int(records), int(days or 30),
                                      clients=int(clients), seconds=float(seconds),
                                      workers=workers)))
            return
        if job == "archive":
            from tpdask.bench.archive import bench_archive
            from tpdask.bench.archive import table as archive_table

            print(archive_table(bench_archive(self._config(), float(scale))))
            return
        store = self._given["store"] or os.environ.get("TPDASK_STORE")
        if job == "analyse":
            from tpdask.bench.analyse import bench_analyse
            from tpdask.bench.analyse import table as analyse_table

            print(analyse_table(bench_analyse(self._config(), float(scale), int(days or 7),
                                              workers=workers, store=store)))
            return
        if job == "verify":
            from tpdask.bench.verify import bench_verify

            result = bench_verify(int(accounts), store=store)
            print(", ".join(f"{k} {v}" for k, v in result.items()))
            return
        if job == "insight":
            from tpdask.bench.insight import bench_insight, table as insight_table

            print(insight_table(bench_insight(self._config(), float(scale), int(days or 7),
                                              workers=workers, store=store)))
            return
        if job == "nightly":
            from tpdask.bench.nightly import bench_nightly
            from tpdask.bench.nightly import table as nightly_table

            print(nightly_table(bench_nightly(self._config(), float(scale), workers=workers,
                                              store=store)))
            return
        if job != "process":
            raise UsageError(f"bench --job {job!r}: choose process, archive, analyse, insight, "
                             "verify, nightly or web")
        from tpdask.bench.process import BenchPlan, run_bench, table

        plan = BenchPlan(scale=float(scale), store=store, workers=workers,
                         baseline_scale=float(baseline_scale), peer=peer)
        print(table(run_bench(self._config(), plan)))

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

        from tpdask.days import day_of
        from tpdask.simulator import SimOptions, Simulator, parse_start
        from tpdask.simulator.audience import AudienceConfig

        the_day = parse_day(day) if day is not None else day_of(int(time.time()))
        sim = Simulator(the_day, AudienceConfig(seed=int(seed), scale=float(scale),
                                                view_botted=2),
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

    def demo(self, day: str | int = "2022-08-01", scale: float = 0.02, workers: int = 2,
             speed: float = 800, port: int = 8000, days: int = 7) -> None:
        """A simulated week through every stage: collect, archive, process, analyse, verify,
        then the research export, one viewer erased everywhere, and the health check.

        The first day is collected from the simulator over HTTP; the --days - 1 days after
        it (7 in all by default) are written straight from the same audience model, which
        takes seconds a day instead of minutes, so the site's trends, rankings, flows and
        suspect broadcasts span a week (in pseudonymous mode: the collected day only).

        --scale S of the audience model (0.02: ~18,000 viewers), --speed S simulated seconds
        per real second (800: a day in 108 s), --workers N for the Dask cluster. Then serves
        the website on http://127.0.0.1:PORT (--port, 0: a free one) with a `visitor`
        account whose new random password it prints, until Ctrl-C.
        """
        from jobs.demo import run_demo
        from jobs.process_day import lake_day_dir

        check_workers(workers)
        config = self._config()
        if int(days) < 1 or int(days) > 31:
            raise UsageError("--days is 1 to 31")
        result = run_demo(config, parse_day(day), scale=float(scale), workers=int(workers),
                          speed=float(speed), days=int(days))
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
        print(f"Top overlapping pairs of {result.period} ({len(result.overlap):,} pairs, "
              f"{result.communities} communities):")
        print(f"  {'a':<20} {'b':<20} {'shared':>7} {'jaccard':>8}")
        for pair in result.overlap[:5]:
            print(f"  {pair['a']:<20} {pair['b']:<20} {pair['shared']:>7,} {pair['jaccard']:>8.3f}")
        print_insight(result)
        v = result.verify
        if v is None:
            print("Verify skipped: pseudonymous mode (the viewers are keyed hashes of logins)")
        else:
            print(f"Verified {v['checked']:,} accounts with {v['calls']:,} Helix users calls: "
                  f"{v['active']:,} active, {v['renamed']:,} renamed, {v['gone']:,} gone "
                  f"({result.wrong_statuses} unlike the simulator's truth)")
        print_privacy(result)
        print("\nWhere the data is:")
        print(f"  archive     {config.archive_dir / (result.day + '.7z')} (+ .manifest.json)")
        print(f"  quarantine  {config.quarantine_dir / result.day}/")
        print(f"  lake        {lake_day_dir(config, result.day)}/")
        print(f"  store       {config.store}")
        print(f"\nNext: tpdask --data_dir {config.data_dir} export streamer_days --day {result.day}"
              f"\n      tpdask --data_dir {config.data_dir} export profiles | head\n")
        from jobs.demo import serve_demo_site

        serve_demo_site(config, int(port))


def print_privacy(result) -> None:
    """The demo's research export, its erasure and the health verdict of its data folder."""
    s = result.sessions
    print(f"\nResearch export (`tpdask export sessions --format rappaz`): {s['rows']:,} "
          f"sessions of {s['users']:,} users numbered from 0, {s['streams']:,} streams, no login")
    if result.erased:
        print(result.erase_text)
        print(f"  afterwards: {result.erased_left} lake rows or store records name it; the day "
              "was analysed again")
    health = result.health
    print(f"\n`tpdask status` of the demo folder: {health.verdict} (a demo's collector ran for "
          "one simulated day, long ago: the collector rule fails, as it should)")
    for r in health.reasons:
        print(f"  {r.level:<8} {r.text}")


def print_insight(result) -> None:
    """The demo day's suspect broadcasts (the view-bot signal) and its top audience flows."""
    suspect = [b for b in result.broadcasts if b["suspect"]]
    rated = sum(b["baseline"] is not None for b in result.broadcasts)
    print(f"\nStream health of {result.period}: {len(result.broadcasts)} broadcasts, {rated} rated, "
          f"{len(suspect)} suspect (the simulator view-bots {', '.join(result.view_botted)}):")
    for b in suspect:
        print(f"  {b['streamer']:<20} {b['avg_viewer_count']:>9,.0f} avg viewers, "
              f"{b['share']:.0%} logged in against {b['baseline']:.0%} for its peers")
    print(f"Top audience flows of {result.period} (where a chat goes within 15 minutes of the end):")
    for f in result.flows[:5]:
        print(f"  {f['from']:<20} → {f['to']:<20} {f['viewers']:>6,} viewers ({f['share']:.0%})")
