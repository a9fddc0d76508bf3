"""`tpdask demo`: every stage built so far, end to end, on built-in data.

The Twitch simulator serves a day of the audience model with its clock running fast; the
real collector (helix source: the moderator token's chats, in full) collects that day
over HTTP, the days after it (a week in all by default) are written straight from the
same model (:func:`generate_days`), the archiver packs and verifies it, the day processor turns it into viewer-days
on a local Dask cluster, the analyser finds bots, streamer statistics, profiles and the
day's audience overlap, and the verifier checks every account seen against the
simulator's Helix `users` (whose renamed, suspended and deleted accounts are known, so the
demo counts any status that came out wrong). It ends with the website serving the demo's
data, with a `visitor` account whose password is made anew each time
(:func:`serve_demo_site`).
"""

from __future__ import annotations

import datetime
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.analyse import analyse_command
from jobs.insight import broadcasts, flows
from jobs.overlap import overlap
from jobs.process_day import lake_day_dir, process_command
from tpdask.archive.pack import ArchiveReport, archive_day
from tpdask.collect.collector import Collector, helix_selector
from tpdask.collect.credentials import Credentials
from tpdask.collect.sources.helix import HelixSource
from tpdask.collect.twitch import TwitchClient
from tpdask.days import day_bounds
from tpdask.errors import ConfigError
from tpdask.log import Log, print_log
from tpdask.ops import check_health
from tpdask.ops.health import Health
from tpdask.privacy.erase import erase
from tpdask.privacy.keys import pseudonym_key
from tpdask.privacy.sessions import sessions_table
from tpdask.settings import Config
from tpdask.simulator import SimOptions, Simulator
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.verify import verify


@dataclass
class DemoResult:
    day: str                        # the day collected over HTTP
    ticks: int
    samples: int
    missed: list[int]
    archive: ArchiveReport
    report: dict
    top: list[tuple[str, float, int]]
    analysis: dict
    overlap: list[dict]             # the day's pairs, by Jaccard, highest first
    communities: int
    broadcasts: list[dict]          # the day's broadcasts (with stream health)
    flows: list[dict]               # the day's audience flows, most viewers first
    view_botted: list[str]          # the simulator's view-botted channels (the truth)
    verify: dict | None             # None: skipped (pseudonymous mode)
    wrong_statuses: int             # statuses that differ from the simulator's truth
    sessions: dict                  # the research export's rows, users and streams
    erased: str                     # the viewer the demo erased
    erase_text: str                 # what the erasure removed where
    erased_left: int                # lake rows and store records still naming it (0)
    health: Health                  # `tpdask status` of the demo's data folder
    days: list[str]                 # every day of the demo: the collected one, then the
                                    # generated ones

    @property
    def period(self) -> str:
        """The demo's days in words: ``2022-08-01`` or ``2022-08-01 to 2022-08-07``."""
        return self.days[0] if len(self.days) == 1 else f"{self.days[0]} to {self.days[-1]}"


def collect_simulated_day(config: Config, sim: Simulator, client: TwitchClient,
                          day: str) -> tuple[int, list[int]]:
    """Run the collector against the simulator for one whole simulated day."""
    start = day_bounds(day)[0]
    select = helix_selector(client, "fr", 100, [])
    source = HelixSource(client, log=lambda m: None)
    source.observe(select(start))       # warm-up: tokens, the model of the day, the 403s
    sim.clock.reanchor(start)
    collector = Collector(config.samples_dir, select, source, sim.clock, config.interval,
                          log=lambda m: None)
    results = collector.run(first_ts=start, until_ts=start + 86400)
    written = {r.ts for r in results if r.path}
    missed = [ts for ts in range(start, start + 86400, config.interval) if ts not in written]
    return len(written), missed


def _fresh_demo_day(config: Config, day: str) -> None:
    """Start the demo's day from nothing, but never touch a data folder the demo did not make."""
    marker = config.data_dir / ".tpdask-demo"
    leftovers = [config.samples_dir / day, config.archive_dir / f"{day}.7z",
                 config.archive_dir / f"{day}.manifest.json", config.quarantine_dir / day]
    if any(p.exists() for p in leftovers):
        if not marker.exists():
            raise ConfigError(f"{config.data_dir} already holds data for {day}; run the demo "
                              "with an empty --data_dir (make demo uses data/demo)")
        for path in leftovers:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    marker.touch()


def generate_days(config: Config, model: AudienceConfig, first: str, count: int,
                  workers: int, log: Log) -> list[str]:
    """The ``count - 1`` days after ``first``, written straight from the audience model the
    simulator serves (the same seed: the same streamers, viewers, favourites and
    view-botted channels, on other days), then archived and processed: a week's trends,
    flows and suspects to find without collecting every day over HTTP, which takes a few
    minutes a day at the demo's speed while writing a day takes seconds."""
    days = [(datetime.date.fromisoformat(first) + datetime.timedelta(days=i)).isoformat()
            for i in range(1, count)]
    for n, day in enumerate(days, 2):
        _fresh_demo_day(config, day)
        write_day(config.samples_dir, day, model)
        archive_day(config, day, lambda m: None)
        process_command(config, day, workers=workers, log=lambda m: None)
        log(f"    {day} generated, archived and processed ({n}/{count})")
    return days


def run_demo(config: Config, day: str, scale: float = 0.02, workers: int = 2,
             speed: float = 800, moderated: int = 10, days: int = 7,
             log: Log = print_log) -> DemoResult:
    if pseudonym_key() is not None:
        days = 1              # generated days would hold plain logins: collected days only
    _fresh_demo_day(config, day)
    # the demo compresses a day into about a minute, so it lifts the real-time rate limit
    options = SimOptions(mod_top=moderated, rate_limit=1_000_000)
    model = AudienceConfig(seed=7, scale=scale, interval=config.interval, view_botted=2)
    with Simulator(day, model, speed=speed, start=day_bounds(day)[0], options=options) as sim:
        creds = Credentials(sim.client_id, sim.client_secret, sim.user_token,
                            sim.user_refresh_token)
        client = TwitchClient(creds, sim.urls["helix_url"], sim.urls["auth_url"], log=log)
        log(f"1/7 collecting {day} from the Twitch simulator (scale {scale}, {speed:g}x real "
            f"time, helix source over HTTP; the token moderates the top {moderated} channels, "
            "the others answer 403 and are skipped) ...")
        samples, missed = collect_simulated_day(config, sim, client, day)
        log(f"    {samples} samples written, {len(missed)} ticks missed (collector overran)")
        log("2/7 archiving the day (verified before the raw files go) ...")
        archive = archive_day(config, day, log)
        log(f"3/7 processing the archive on a local Dask cluster of {workers} workers ...")
        report = process_command(config, day, workers=workers, log=log)
        if days > 1:
            log(f"    and the {days - 1} days after it, written straight from the audience "
                "model (seconds a day, where collecting one takes minutes) ...")
        all_days = [day] + (generate_days(config, model, day, days, workers, log)
                            if days > 1 else [])
        log(f"4/7 analysing {len(all_days)} day(s): bots, streamer statistics, profiles, the "
            "per-day broadcasts ...")
        analysis = analyse_command(config, all_days, workers=workers, log=log)
        log("5/7 the audience overlap, the broadcasts and their health, the flows of "
            f"{all_days[0]} to {all_days[-1]} ...")
        pairs, groups = overlap(config, all_days[0], all_days[-1], log=log)
        found = broadcasts(config, all_days[0], all_days[-1], log=log)
        moves = flows(config, all_days[0], all_days[-1], log=log)
        if pseudonym_key() is None:
            log("6/7 verifying every account seen through the simulator's Helix users ...")
            checked: dict | None = verify(config, log=log, client=client)
            wrong = _wrong_statuses(config, sim)
        else:
            log("6/7 verify skipped: pseudonymous mode (Twitch cannot look pseudonyms up)")
            checked, wrong = None, 0
    table = read_lake_day(lake_day_dir(config, day))
    top = top_streamers(table, 10) if table is not None else []
    log("7/7 personal data: the research export without names, one viewer erased from every "
        "copy (the day analysed again), then the install's health ...")
    export = sessions_table(config, day, day, bots=False)
    sessions = {"rows": len(export), "users": len(pc.unique(export.column("user_id"))),
                "streams": len(pc.unique(export.column("stream_id")))}
    erased = str(pc.min(table.column("viewer")).as_py()) if table is not None else ""
    erase_text = erase(config, erased, archives=True, log=log).text(erased) if erased else ""
    if erased:                          # results read the rewritten lake days
        analyse_command(config, all_days, workers=workers, log=log)
    left = _still_naming(config, day, erased)
    return DemoResult(day=day, ticks=samples + len(missed), samples=samples, missed=missed,
                      archive=archive, report=report, top=top, analysis=analysis,
                      overlap=sorted(pairs, key=lambda d: (-d["jaccard"], d["a"], d["b"])),
                      communities=len(set(groups.values())), verify=checked,
                      wrong_statuses=wrong, broadcasts=found,
                      flows=sorted(moves, key=lambda f: (-f["viewers"], f["from"], f["to"])),
                      view_botted=sim.world.model(day).view_botted, sessions=sessions,
                      erased=erased, erase_text=erase_text, erased_left=left,
                      health=check_health(config), days=all_days)


def _still_naming(config: Config, day: str, login: str) -> int:
    """Lake rows and store records of ``day`` that still name ``login`` (after an erasure: 0)."""
    from tpdask.stores import open_store

    table = read_lake_day(lake_day_dir(config, day))
    in_lake = 0 if table is None else pc.sum(pc.equal(table.column("viewer"), login)).as_py()
    with open_store(config.store) as store:
        in_store = sum(1 for r in store.iter_viewer_days(day) if r["viewer"] == login)
    return int(in_lake or 0) + in_store


def _wrong_statuses(config: Config, sim: Simulator) -> int:
    """Statuses unlike the simulator's truth. A viewer seen only on the generated days has
    no user id (only the collector's helix source gives ids): renamed since, it can only be
    told gone (its old login answers nothing), which is what verify says, so that counts
    as right."""
    from tpdask.simulator.accounts import expected_status
    from tpdask.stores import open_store

    def expected(status: dict) -> tuple[str, str | None]:
        want = expected_status(sim.world.accounts, status["viewer"])
        return ("gone", None) if want[0] == "renamed" and status["user_id"] is None else want

    with open_store(config.store) as store:
        return sum(1 for s in store.iter_statuses()
                   if (s["status"], s["login_now"]) != expected(s))


def reset_demo_visitor(config: Config) -> str:
    """Create (or reset) the demo's ``visitor`` site account; returns its new password."""
    from tpdask.web.accounts import add_user

    password = secrets.token_urlsafe(12)
    add_user(config.data_dir, "visitor", "visitor", password)
    return password


def serve_demo_site(config: Config, port: int = 8000) -> None:
    """Serve the website on the demo's data until Ctrl-C, printing its address and the
    demo visitor account."""
    from tpdask.web.server import serve

    password = reset_demo_visitor(config)
    serve(config, host="127.0.0.1", port=port,
          banner=f"demo visitor account: user visitor, password {password} "
                 "(a new password at every demo)")


# ---- the day's top streamers, read from the lake (columnar, no per-record Python) ----

def read_lake_day(day_dir: Path) -> pa.Table | None:
    files = sorted(day_dir.glob("part-*.parquet")) if day_dir.is_dir() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files])


def top_streamers(table: pa.Table, n: int = 10) -> list[tuple[str, float, int]]:
    """(streamer, minutes watched, distinct viewers), the n streamers with most minutes."""
    entries = pc.list_flatten(table.column("streamers"))
    flat = pa.table({"streamer": pc.struct_field(entries, "streamer"),
                     "minutes": pc.struct_field(entries, "minutes")})
    grouped = flat.group_by("streamer").aggregate([("minutes", "sum"), ("minutes", "count")])
    grouped = grouped.sort_by([("minutes_sum", "descending"), ("streamer", "ascending")])
    return [(row["streamer"], row["minutes_sum"], row["minutes_count"])
            for row in grouped.slice(0, n).to_pylist()]
