"""Helpers of the results-stay-true checks: analyse, every export of analysed days read
back, and the same exports of a from-scratch analysis of a copy of the lake (used by
test_results_stay_true, test_erase_results and test_prune)."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from jobs.analyse import analyse_command
from jobs.overlap import export_overlap
from tests.support import make_config
from tpdask.analysis.export import export_day_results, export_profiles
from tpdask.settings import Config

QUIET = dict(log=lambda m: None)


def analyse(config: Config, *days: str) -> dict:
    return analyse_command(config, list(days), local=True, **QUIET)


def overlap_flags(config: Config) -> tuple[bool, ...]:
    """With bots, the period's overlap is every pair of streamers (19,900): FerretDB takes
    ~1 s per scan of that many results, so that export is held on SQLite alone."""
    return (False, True) if config.store.startswith("sqlite") else (False,)


def exports(config: Config, days: list[str], tmp: Path,
            flags: tuple[bool, ...] | None = None) -> dict:
    """Every export of the analysed ``days``, read back from the files they wrote."""
    tmp.mkdir(parents=True, exist_ok=True)
    out: dict = {}

    def read(name: str, write) -> list[dict]:
        path = tmp / name
        write(str(path))
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]

    for day in days:
        for kind in ("bots", "streamer_days"):
            out[kind, day] = read(f"{kind}-{day}", lambda p: export_day_results(config, kind,
                                                                                 day, p))
    out["profiles"] = read("profiles", lambda p: export_profiles(config, None, p))
    for bots in overlap_flags(config) if flags is None else flags:
        out["overlap", bots] = read(f"overlap-{bots}", lambda p: export_overlap(
            config, days[0], days[-1], 10, bots, p))
    return out


def from_scratch(config: Config, days: list[str], tmp: Path) -> dict:
    """The exports of a fresh analysis of all ``days`` at once over a copy of the lake."""
    fresh = make_config(tmp / "scratch-run", bot_concurrent=config.bot_concurrent,
                        bot_hours=config.bot_hours, bot_list=config.bot_list)
    shutil.copytree(config.lake_dir, fresh.lake_dir,
                    ignore=lambda folder, names: ["analysis"] if folder == str(config.lake_dir)
                    else [])
    analyse(fresh, *days)
    return exports(fresh, days, tmp / "scratch-exports", overlap_flags(config))
