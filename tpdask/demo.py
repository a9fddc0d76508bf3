"""`tpdask demo`: the whole pipeline built so far, on a day from the audience model."""

from __future__ import annotations

from dataclasses import dataclass

from tpdask.audience import AudienceConfig, write_day
from tpdask.executor import Log, print_log
from tpdask.settings import Config
from tpdask.summary import read_lake_day, top_streamers


@dataclass
class DemoResult:
    day: str
    sample_files: int
    report: dict
    top: list[tuple[str, float, int]]


def run_demo(config: Config, day: str, scale: float = 0.02, workers: int = 2,
             log: Log = print_log) -> DemoResult:
    """Generate a dirty day with gaps, process it on a local Dask cluster, summarise it."""
    from jobs.process_day import lake_day_dir, run

    model = AudienceConfig(seed=7, scale=scale, interval=config.interval, gaps=True, dirty=True)
    log(f"1/3 generating {day} with the audience model (scale {scale}, gaps, dirty entries)")
    paths = write_day(config.samples_dir, day, model)
    log(f"2/3 processing {len(paths)} samples on a local Dask cluster of {workers} workers")
    report = run(config, day, workers=workers, log=log)
    log("3/3 summarising from the lake")
    table = read_lake_day(lake_day_dir(config, day))
    top = top_streamers(table, 10) if table is not None else []
    return DemoResult(day=day, sample_files=len(paths), report=report, top=top)
