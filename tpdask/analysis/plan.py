"""What one `analyse` must do so that every stored result is true again.

From the lake (each processed day's run), the analyser's own files (each day's
contributions and the lake run they came from) and the store (the basis each result was
published with), the plan lists:

- the days whose contributions must be computed (missing, from another run, of an older
  format, or incomplete on disk);
- the days whose ``bots`` and ``streamer_days`` must be made: the days asked for, and every
  analysed day whose results no longer match their inputs (a backfill of an earlier day
  changes later days' new viewers; a day processed again changes its own; a change of the
  bot settings changes all);
- the days whose per-day broadcast results (:mod:`tpdask.analysis.broadcast_days`) must
  be made: those of the report, and every analysed day whose broadcasts' inputs changed
  (a neighbouring day processed, or first analysed before they existed);
- the stored overlap periods to make again, and whether the profiles are out of date.

Everything else is left as it is: a backfill of one day in a month of history computes
that day's contributions, merges them, and re-tallies the later analysed days from their
kept contributions, without reading their lake again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tpdask.analysis.basis import Inputs, neighbours
from tpdask.analysis.contributions import read_day_manifest
from tpdask.analysis.overlap import parse_period_scope
from tpdask.errors import ConfigError
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores.base import Store


def analysis_dir(config: Config) -> Path:
    return config.lake_dir / "analysis"


def contrib_dir(config: Config, day: str) -> Path:
    return analysis_dir(config) / "contrib" / f"day={day}"


def contrib_run(config: Config, day: str) -> str | None:
    """The lake run the day's contributions were computed from, when they are whole."""
    manifest = read_day_manifest(contrib_dir(config, day))
    return None if manifest is None else manifest["run"]


def lake_runs(config: Config, asked: list[str] = ()) -> dict[str, str]:
    """Every processed day → the run that wrote it; ConfigError when an asked day is not
    processed or a day was processed before the lake kept its sample times."""
    processed = lake.processed_days(config.lake_dir)
    missing = [day for day in asked if day not in processed]
    if missing:
        raise ConfigError(f"not processed yet: {', '.join(missing)} — run `tpdask process "
                          f"--day {missing[0]}` first")
    runs = {day: lake.day_run(config.lake_dir, day) for day in processed}
    old = [day for day, run in runs.items() if run is None]
    if old:
        raise ConfigError(f"{len(old)} days were processed before the lake kept their sample "
                          f"times ({old[0]} …): run `tpdask process --day {old[0]}` again for each")
    return {day: str(run) for day, run in runs.items()}


def broadcasts_scope(since: str, until: str) -> str:
    return f"{since}..{until}"


def flows_scope(since: str, until: str, within: float) -> str:
    return f"{since}..{until}:within={within:g}"


_INSIGHT_SCOPE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})(?::within=([0-9.]+))?")


def parse_insight_scope(scope: str) -> tuple[str, str, float | None] | None:
    """(since, until, within or None) of a broadcasts or flows scope; None otherwise."""
    match = _INSIGHT_SCOPE.fullmatch(scope)
    if match is None:
        return None
    return match.group(1), match.group(2), float(match.group(3)) if match.group(3) else None


def statuses_version(store: Store) -> str:
    """What gone_share depends on in the store: the last verify run that finished."""
    runs = [r for r in store.job_runs("verify") if r["status"] == "done"]
    return f"{runs[0]['started_at']:.6f}" if runs else ""


def insight_basis(config: Config, inputs: Inputs, store: Store, since: str, until: str,
                  within: float | None = None) -> str:
    """The basis of a period's broadcasts (``within`` None: with the health settings and
    the account statuses) or flows."""
    if within is None:
        return inputs.insight(since, until,
                              health=[config.health_min_viewers, config.health_ratio],
                              statuses=statuses_version(store))
    return inputs.insight(since, until, within=float(within))


@dataclass(frozen=True)
class AnalysisPlan:
    inputs: Inputs                      # every processed day's run, the settings
    asked: tuple[str, ...]
    contribute: tuple[str, ...]         # days whose contributions are computed
    report: tuple[str, ...]             # days whose bots and streamer_days are made
    overlaps: tuple[str, ...]           # stored overlap scopes made again
    profiles_stale: bool
    insights: tuple[tuple[str, str], ...] = ()   # (broadcasts|flows, scope) made again
    broadcasts: tuple[str, ...] = ()    # days whose broadcast_days (…) are made

    @property
    def lake_days(self) -> tuple[str, ...]:
        """The days whose lake this run reads (and so holds): contributions need the
        viewer-days and times, streamer-days the streams table, a day's broadcasts the
        streams and times of the days around it."""
        around = {d for day in self.broadcasts for d in neighbours(day) if d in self.inputs.runs}
        return tuple(sorted(set(self.contribute) | set(self.report) | set(self.broadcasts)
                            | around))

    @property
    def updated(self) -> tuple[str, ...]:
        """Analysed days not asked for whose results are made again."""
        return tuple(d for d in self.report if d not in self.asked)


def plan_analysis(config: Config, store: Store, asked: list[str], inputs: Inputs) -> AnalysisPlan:
    runs = inputs.runs
    contribute = tuple(d for d in runs if contrib_run(config, d) != runs[d])
    bots, days = store.result_bases("bots"), store.result_bases("streamer_days")
    analysed = set(store.result_scopes("streamer_days")) | set(days)
    stale = {d for d in analysed & set(runs)
             if bots.get(d) != inputs.bots(d) or days.get(d) != inputs.streamer_days(d)}
    report = tuple(sorted(stale | set(asked)))
    stored = store.result_bases("overlap")
    overlaps = []
    for scope in sorted(set(store.result_scopes("overlap")) | set(stored)):
        period = parse_period_scope(scope)
        if period is not None and any(period[0] <= d <= period[1] for d in runs) and \
                stored.get(scope) != inputs.overlap(*period):
            overlaps.append(scope)
    profiles_stale = store.result_bases("profiles").get("") != inputs.profiles()
    made = store.result_bases("broadcast_days")
    broadcasts = tuple(sorted({d for d in (analysed | set(made)) & set(runs)
                               if made.get(d) != inputs.broadcast_days(d)} | set(report)))
    insights = []
    for kind in ("broadcasts", "flows"):
        kept = store.result_bases(kind)
        for scope in sorted(set(store.result_scopes(kind)) | set(kept)):
            period = parse_insight_scope(scope)
            if period is not None and any(period[0] <= d <= period[1] for d in runs) and \
                    kept.get(scope) != insight_basis(config, inputs, store, *period):
                insights.append((kind, scope))
    return AnalysisPlan(inputs=inputs, asked=tuple(asked), contribute=contribute,
                        report=report, overlaps=tuple(overlaps), profiles_stale=profiles_stale,
                        insights=tuple(insights), broadcasts=broadcasts)
