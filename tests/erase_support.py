"""The erasure tests' history: two archived, processed and analysed days naming one login
in every kind of place (used by test_erase and test_erase_results)."""

from __future__ import annotations

from pathlib import Path

import orjson

from jobs.analyse import analyse_command
from jobs.process_day import process_command
from tpdask.archive.pack import archive_day
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store

DAYS = ["2022-08-01", "2022-08-02"]
LOGIN = "Erase_Me_Viewer"                # as a source might list it
WHO = LOGIN.lower()
QUIET = dict(log=lambda m: None)


def plant(paths: list[Path], first: int, count: int, streams: int = 1) -> None:
    """Put the login (and a user id) in the chats of ``streams`` streams of some samples."""
    for path in paths[first:first + count]:
        sample = orjson.loads(path.read_bytes())
        for stream in list(sample["streams"].values())[:streams]:
            stream["chatters"].append(f" {LOGIN} ")
            stream["chatter_ids"] = [str(100 + i) for i in range(len(stream["chatters"]))]
        path.write_bytes(orjson.dumps(sample))


def build(config: Config) -> None:
    """Two archived, processed and analysed days naming the login in every kind of place:
    samples of both days (late loose ones too), a bad sample (quarantined), a tmi dump in
    the quarantine, its user id, its account with a history, another account renamed to it."""
    for i, day in enumerate(DAYS):
        paths = write_day(config.samples_dir, day, AudienceConfig(seed=1, scale=0.002))
        plant(paths, 100 + 20 * i, 30, streams=2)
        (config.samples_dir / day / "1659400000.json").write_text(
            f'{{"version": 1, "ts": oops, "chatters": ["{LOGIN}"]}}')   # not JSON: quarantined
        archive_day(config, day, **QUIET)
    late = write_day(config.samples_dir, DAYS[1], AudienceConfig(seed=2, scale=0.002))[-3:]
    for path in write_day(config.samples_dir, DAYS[1], AudienceConfig(seed=2, scale=0.002)):
        if path not in late:
            path.unlink()
    plant(late, 0, 2)
    dumps = config.quarantine_dir / "import_tmi" / "somechannel"
    dumps.mkdir(parents=True)
    (dumps / "1659312000.json").write_text(f'{{"chatters": {{"viewers": ["{LOGIN}", "x"]')
    for day in DAYS:
        process_command(config, day, local=True, **QUIET)
    analyse_command(config, DAYS, local=True, **QUIET)
    with open_store(config.store) as store:
        store.sync_accounts(DAYS[0], [(WHO, "4242")])
        store.write_statuses([
            {"viewer": WHO, "user_id": "4242", "status": "active", "login_now": WHO,
             "checked_at": 1.0},
            {"viewer": "old_name_of_it", "user_id": "4242", "status": "renamed",
             "login_now": WHO, "checked_at": 1.0}])
