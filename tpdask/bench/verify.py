"""``bench_verify``: calls and seconds of a verify run over N accounts against the simulator.

The store and the lake are seeded directly (one published day whose viewers are N
accounts of the simulator's model, with their user ids in the lake's ``chatter_ids``), so
the figure is the verifier's alone: sync, Helix calls over loopback HTTP inside the
simulator's rate limit (800 points a minute, as Twitch), status and history writes.
Every status is compared with the simulator's truth.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyarrow as pa

from tpdask.log import Log, print_log
from tpdask.process import lake
from tpdask.settings import Config, resolve
from tpdask.simulator.audience import AudienceConfig
from tpdask.stores import open_store

DAY = "2022-08-01"


def seed_day(config: Config, day: str, pairs: list[tuple[str, str | None]],
             run: str = "seed") -> None:
    """Publish ``day`` with one minimal viewer-day record per login of ``pairs`` in the
    store, and the pairs that have an id in the lake's ``chatter_ids`` table."""
    t = 1659355200
    records = [{"viewer": v, "day": day, "samples": 1, "minutes": 5, "first_ts": t,
                "last_ts": t, "streamers": {"somestreamer": {"samples": 1, "minutes": 5,
                                                             "sessions": [[t, t]]}}}
               for v, _ in pairs]
    with open_store(config.store) as store:
        store.write_viewer_days(records, load=run)
        store.publish_day(day, run)
    with_ids = [(v, u) for v, u in pairs if u]
    table = pa.table({"viewer": [v for v, _ in with_ids], "user_id": [u for _, u in with_ids]},
                     schema=lake.CHATTER_IDS_SCHEMA)
    folder = lake.run_dir(config.lake_dir, "chatter_ids", day, run)
    lake.write_parquet(folder, "part-00000.parquet", table)
    lake.swap_dir(folder, lake.day_dir(config.lake_dir, "chatter_ids", day))


def bench_verify(accounts: int = 10_000, store: str | None = None, data_dir: str | None = None,
                 log: Log = print_log) -> dict:
    """Verify ``accounts`` viewers of the simulator's model (ids known) once; return calls,
    seconds and whether every status matches the simulator's truth. ``store`` defaults to
    a SQLite file in a temporary ``data_dir``."""
    from tpdask.collect.credentials import Credentials
    from tpdask.collect.twitch import TwitchClient
    from tpdask.simulator import Simulator
    from tpdask.simulator.accounts import expected_status
    from tpdask.verify.run import verify

    with tempfile.TemporaryDirectory(prefix="tpdask-bench-verify-") as tmp:
        folder = Path(data_dir or tmp)
        config = resolve(data_dir=str(folder), store=store)
        scale = accounts / 900_000 * 1.1
        with Simulator(DAY, AudienceConfig(scale=scale)) as sim:
            truth = sim.world.accounts
            protected = set(sim.world.streamer_logins) | set(sim.world.bot_logins)
            logins = sorted(x for x in truth.original if x not in protected)[:accounts]
            seed_day(config, DAY, [(x, truth.id_of(x)) for x in logins])
            creds = Credentials(sim.client_id, sim.client_secret)
            client = TwitchClient(creds, sim.urls["helix_url"], sim.urls["auth_url"],
                                  log=lambda m: None)
            started = time.perf_counter()
            report = verify(config, None, log, client=client)
            seconds = time.perf_counter() - started
            with open_store(config.store) as s:
                got = {x["viewer"]: (x["status"], x["login_now"]) for x in s.iter_statuses()}
            wrong = sum(got.get(x) != expected_status(truth, x) for x in logins)
    not_found = report["renamed"] + report["gone"]
    result = {"accounts": len(logins), "calls": report["calls"],
              "calls_least": -(-(len(logins) + not_found) // 100),
              "requests": report["requests"], "seconds": round(seconds, 2),
              "accounts_per_second": round(len(logins) / seconds, 1),
              "active": report["active"], "renamed": report["renamed"], "gone": report["gone"],
              "wrong": wrong}
    log(f"bench verify: {result}")
    return result
