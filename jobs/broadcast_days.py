"""The per-day broadcast results of an analyse run (:mod:`tpdask.analysis.broadcast_days`):
what the website merges over any range of days for its broadcast, ranking, game and health
pages, made for the days the plan lists and published with the run's other results.

On the client: each day's ``streams`` rows (and its neighbours', for the broadcasts that
end and the chats that arrive across midnight) give the sums, the curves, the ending
broadcasts and each streamer's main game. One task per state bucket then reads the days'
contributions for the gone counts (against the account statuses as they are now), the
flows of each broadcast and the game audiences; their parts add up on the client.
"""

from __future__ import annotations

from pathlib import Path

from tpdask.analysis import STATE_BUCKETS
from tpdask.analysis import broadcast_days as bd
from tpdask.analysis.basis import neighbours
from tpdask.analysis.plan import AnalysisPlan, contrib_dir, statuses_version
from tpdask.analysis.streams import read_streams
from tpdask.executor import Executor
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores.base import Publication, Store


class _Days:
    """The rows and last sample time of processed days, read once per run."""

    def __init__(self, config: Config, runs: dict[str, str]) -> None:
        self.config, self.runs = config, runs
        self._rows: dict[str, list[dict]] = {}

    def rows(self, day: str) -> list[dict]:
        if day not in self.runs:
            return []
        if day not in self._rows:
            self._rows[day] = bd.day_rows(read_streams(self.config.lake_dir, day))
        return self._rows[day]

    def last_sample(self, *days: str) -> int:
        return max((t for d in days if d in self.runs
                    for t in lake.read_times(self.config.lake_dir, d).to_pylist()), default=0)

    def contrib(self, day: str) -> str:
        return str(contrib_dir(self.config, day)) if day in self.runs else ""

    def ending(self, day: str) -> tuple[tuple[str, str, int], ...]:
        after = neighbours(day)[1]
        return bd.ending(self.rows(day), self.rows(after), self.last_sample(day, after))


def publish_broadcast_days(config: Config, plan: AnalysisPlan, store: Store,
                           publication: Publication, scratch: Path, executor: Executor) -> None:
    """Add the plan's days' broadcast_days, broadcast_curves and game_days (with their
    bases) to ``publication``."""
    if not plan.broadcasts:
        return
    from jobs.insight import statuses_by_bucket

    days = _Days(config, plan.inputs.runs)
    specs = []
    for day in plan.broadcasts:
        before, after = neighbours(day)
        specs.append(bd.DaySpec(
            day=day, contrib=days.contrib(day), before=days.contrib(before),
            after=days.contrib(after), ending=days.ending(day),
            ending_before=days.ending(before) if before in plan.inputs.runs else (),
            games=bd.main_games(days.rows(day))))
    files = statuses_by_bucket(store, scratch / "broadcast-days")
    tasks = [bd.BroadcastDaysTask(bucket=b, days=tuple(specs), statuses=files[b],
                                  rules=config.bot_rules(), interval=config.interval)
             for b in range(STATE_BUCKETS)]
    parts = executor.map(bd.broadcast_days_part, tasks, "broadcast days")
    version = statuses_version(store)
    for day in plan.broadcasts:
        rows = days.rows(day)
        made = bd.day_documents(day, rows, [p[day] for p in parts], bd.starts_at(rows),
                                version)
        basis = plan.inputs.broadcast_days(day)
        for kind, docs in made.items():
            publication.replaced[(kind, day)] = docs
            publication.bases[(kind, day)] = basis
