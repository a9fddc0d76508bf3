"""What the website's pages show, read from the store, the lake and the archives.

A page is a few indexed store reads plus aggregates that change only when a job runs:
those (the dashboard's series, the streamer list, an overlap period's layout) are cached
in this process under a *data version* — the newest job ledger entry and the published
days —, which is itself read at most once every :data:`VERSION_TTL` seconds. So a page
costs a query or two while nothing changes, and shows a job's results within seconds of
the job recording its run.

Everything returned here is safe for a visitor unless a function says otherwise: viewer
logins never appear (viewers are pseudonyms, see :mod:`tpdask.web.pseudonyms`); streamer
channel names are public. Arguments are validated by the caller (:mod:`tpdask.web.views`).
"""

from __future__ import annotations

import datetime
import re
import secrets
import threading
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from tpdask.executor import report_name
from tpdask.running import running_dir, running_jobs
from tpdask.settings import Config
from tpdask.stores.base import Store
from tpdask.web.exposure import report_key_shown
from tpdask.web.pseudonyms import Pseudonyms, display_name

#: Seconds the data version is trusted before it is read again.
VERSION_TTL = 2.0
#: Seconds after which a cached aggregate is computed again in the background anyway.
REFRESH_AFTER = 60.0
#: Seconds the install's health is kept: the collector stopping writes no ledger entry.
HEALTH_MAX_AGE = 30.0
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SiteData:
    """The pages' data, from one store, with the caches of one server process."""

    def __init__(self, config: Config, store: Store, pseudonyms: Pseudonyms) -> None:
        self.config = config
        self.store = store
        self.pseudonyms = pseudonyms
        self._lock = threading.Lock()
        self._version: tuple[float, Any] = (0.0, None)
        self._cache: dict[str, tuple[Any, Any, float]] = {}
        self._refreshing: set[str] = set()
        self._name_locks: dict[str, threading.Lock] = {}   # names are few: pages, periods
        self._days: dict[tuple[str, str | None], dict[str, Any]] = {}

    # -- caching -------------------------------------------------------------------------

    def version(self) -> Any:
        checked, version = self._version
        if time.monotonic() - checked < VERSION_TTL and version is not None:
            return version
        jobs = self.store.latest_jobs(1)
        last = tuple((jobs[0][k] for k in ("job", "day", "status", "started_at",
                                            "finished_at"))) if jobs else ()
        version = (last, tuple(self.store.days()))
        self._version = (time.monotonic(), version)
        return version

    def cached(self, name: str, compute: Callable[[], Any], max_age: float | None = None) -> Any:
        """``compute()``, kept while the data version stays. Results written without a
        ledger entry (the overlap job records none) are caught by an age limit: past
        :data:`REFRESH_AFTER` seconds the kept value is still served while one thread
        computes it again, so no page waits for it. A value older than ``max_age``
        seconds is never served: the page computes it again (the health, which changes
        with the clock)."""
        version = self.version()
        hit = self._cache.get(name)
        if hit is not None and hit[0] == version and _young(hit, max_age):
            if time.monotonic() - hit[2] > REFRESH_AFTER and name not in self._refreshing:
                self._refreshing.add(name)
                threading.Thread(target=self._refresh, args=(name, compute, version),
                                 daemon=True).start()
            return hit[1]
        # one computation of an aggregate at a time: requests that miss together (a server
        # just started, its warm-up thread still busy) wait for it instead of repeating it
        with self._computing(name):
            hit = self._cache.get(name)
            if hit is not None and hit[0] == version and _young(hit, max_age):
                return hit[1]
            value = compute()
            self._keep(name, version, value)
            return value

    def _computing(self, name: str) -> threading.Lock:
        with self._lock:
            return self._name_locks.setdefault(name, threading.Lock())

    def _keep(self, name: str, version: Any, value: Any) -> None:
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[name] = (version, value, time.monotonic())

    def _refresh(self, name: str, compute: Callable[[], Any], version: Any) -> None:
        try:
            self._keep(name, version, compute())
        except Exception:  # noqa: BLE001 - the next page computes it and reports the error
            self._cache.pop(name, None)
        finally:
            self._refreshing.discard(name)

    # -- dashboard -----------------------------------------------------------------------

    def dashboard(self, admin: bool) -> dict[str, Any]:
        base = self.cached("dashboard", self._dashboard)
        jobs = [dict(job, report=flat_report(job["report"], admin),
                     performance=report_name(job["report"].get("performance_report"))
                     if admin and isinstance(job["report"], dict) else None)
                for job in self.cached("jobs", lambda: self.store.latest_jobs(10))]
        return {**base, "jobs": jobs, "running": self.running_jobs(admin),
                "health": self.health()}

    def health(self) -> dict[str, Any]:
        """The install's verdict and the reasons for it (:mod:`tpdask.ops`): the same as
        `tpdask status` says, and safe for any visitor (days, counts, ages, sizes; no path,
        no login). Kept :data:`HEALTH_MAX_AGE` seconds."""
        from tpdask.ops import check_health

        return self.cached("health", lambda: check_health(self.config, self.store).public(),
                           max_age=HEALTH_MAX_AGE)

    # -- which stored results are current ------------------------------------------------

    def freshness(self) -> dict[str, Any]:
        """What of the stored results no longer matches its inputs (a day processed again,
        an earlier day processed, the bot settings changed: :mod:`tpdask.analysis.basis`).
        Pages leave those results out and say so, never showing them as current."""
        return self.cached("freshness", self._freshness)

    def _freshness(self) -> dict[str, Any]:
        from tpdask.analysis.basis import inputs_of
        from tpdask.analysis.overlap import parse_period_scope
        from tpdask.analysis.plan import lake_runs

        inputs = inputs_of(self.config, lake_runs(self.config))
        bots, days = self.store.result_bases("bots"), self.store.result_bases("streamer_days")
        analysed = set(self.store.result_scopes("streamer_days")) | set(days)
        stale = sorted(d for d in analysed if d not in inputs.runs or bots.get(d) !=
                       inputs.bots(d) or days.get(d) != inputs.streamer_days(d))
        kept = self.store.result_bases("overlap")
        periods = []
        for scope in self.store.result_scopes("overlap"):
            period = parse_period_scope(scope)
            if period is None or kept.get(scope) != inputs.overlap(*period):
                periods.append(scope)
        unfinished = self.store.unfinished_publication()
        profiles = self.store.result_bases("profiles").get("") != inputs.profiles()
        return {"stale_days": stale, "stale_periods": periods,
                "profiles": profiles and self.store.count_results("profiles", "") > 0,
                "unfinished": unfinished["run"] if unfinished else None,
                "any": bool(stale or periods or unfinished or profiles and
                            self.store.count_results("profiles", "") > 0)}

    def current_days(self) -> set[str]:
        """The analysed days whose results match their inputs now."""
        fresh = self.freshness()
        if fresh["unfinished"]:
            return set()
        stale = set(fresh["stale_days"])
        return {d for d in self.store.result_scopes("streamer_days") if d not in stale}

    def _dashboard(self) -> dict[str, Any]:
        from tpdask.process.lake import day_run, read_times

        days = self.store.days()
        analysed = self.current_days()
        daily = []
        for day in days:
            # a day's figures change only when the day is processed again (a new run)
            key = (day, day_run(self.config.lake_dir, day))
            figures = self._days.get(key)
            if figures is None:
                times = read_times(self.config.lake_dir, day).to_pylist()
                figures = {"day": day, "viewers": self.store.count_viewer_days(day),
                           **collection_gaps(times, day, self.config.interval)}
                self._days[key] = figures
            daily.append({**figures, "analysed": day in analysed})
        archives = [{"day": p.name.removesuffix(".7z"), "bytes": p.stat().st_size}
                    for p in sorted(Path(self.config.archive_dir).glob("*.7z"))
                    if DAY.match(p.name.removesuffix(".7z"))]
        return {"freshness": self.freshness(),
                "viewers_tracked": self.store.count_results("profiles", ""),
                "days_processed": len(days), "days_analysed": len(analysed & set(days)),
                "daily": daily, "archives": archives,
                "archive_bytes": sum(a["bytes"] for a in archives),
                "accounts": self.store.status_counts()}

    def warm_up(self) -> None:
        """Compute what the first visitors would otherwise wait for (a server starting)."""
        self.dashboard(admin=False)
        self.streamers()
        period = self.default_period()
        if period:
            self.overlap(period)

    def running_jobs(self, admin: bool) -> list[dict[str, Any]]:
        """The jobs of this data folder running now (see :mod:`tpdask.running`), with their
        Dask dashboard link for admins only: the dashboard has no login of its own."""
        return [{"job": str(entry.get("job", "")), "started_at": entry.get("started_at"),
                 "dashboard": entry.get("dashboard") if admin else None}
                for entry in running_jobs(running_dir(self.config.data_dir))]

    # -- streamers -----------------------------------------------------------------------

    def streamers(self) -> list[dict[str, Any]]:
        return self.cached("streamers", self._streamers)

    def _streamers(self) -> list[dict[str, Any]]:
        by: dict[str, dict[str, Any]] = {}
        current = self.current_days()
        for day, name, doc in self.store.iter_results("streamer_days"):
            if day not in current:
                continue
            s = by.setdefault(name, {"streamer": name, "days": 0, "minutes": 0.0,
                                     "viewers_sum": 0, "peak_viewers": 0, "last_day": day,
                                     "peak_viewer_count": 0})
            s["days"] += 1
            s["minutes"] += doc.get("minutes", 0)
            s["viewers_sum"] += doc.get("viewers", 0)
            s["peak_viewers"] = max(s["peak_viewers"], doc.get("viewers", 0))
            s["peak_viewer_count"] = max(s["peak_viewer_count"], doc.get("peak_viewer_count") or 0)
            s["last_day"] = max(s["last_day"], day)
        rows = []
        for s in by.values():
            s["avg_viewers"] = round(s.pop("viewers_sum") / s["days"], 1)
            s["minutes"] = round(s["minutes"])
            rows.append(s)
        return sorted(rows, key=lambda s: (-s["minutes"], s["streamer"]))

    def streamer(self, login: str) -> dict[str, Any] | None:
        current = self.current_days()
        days = [doc for day, _, doc in self.store.iter_results("streamer_days", key=login)
                if day in current]
        if not days:
            return None
        series = [{k: d.get(k) for k in ("day", "samples", "viewers", "minutes", "new_viewers",
                                         "returning_viewers", "avg_chatters", "peak_chatters",
                                         "avg_viewer_count", "peak_viewer_count")}
                  for d in days]
        games: dict[str, int] = {}
        for d in days:
            for game, samples in (d.get("games") or {}).items():
                games[game] = games.get(game, 0) + samples
        period = self.default_period()
        found = self.overlap(period) if period else {"by_streamer": {}, "communities": {},
                                                      "community_names": {}}
        neighbours = found["by_streamer"].get(login, [])
        community = found["communities"].get(login)
        if community is not None:
            community = found.get("community_names", {}).get(community)
        hours = {g: round(n * self.config.interval / 3600, 2) for g, n in games.items()}
        return {"streamer": login, "days": series,
                "games": sorted(hours.items(), key=lambda g: (-g[1], g[0]))[:15],
                "period": period, "community": community, "neighbours": neighbours[:20]}

    # -- overlap -------------------------------------------------------------------------

    def periods(self) -> list[str]:
        return self.cached("periods", lambda: [
            p for p in self.store.result_scopes("overlap")
            if p not in self.freshness()["stale_periods"] and not self.freshness()["unfinished"]])

    def default_period(self) -> str | None:
        """The newest period (latest end, then the widest), at the default threshold
        without bots when there is one."""
        periods = self.periods()
        if not periods:
            return None

        def rank(scope: str) -> tuple:
            span, _, rest = scope.partition(":")
            since, _, until = span.partition("..")
            return (until, -_ordinal(since), rest == "min_minutes=10:bots=0")
        return max(periods, key=rank)

    def overlap(self, period: str) -> dict[str, Any]:
        return self.cached("overlap:" + period, lambda: self._overlap(period))

    def _overlap(self, period: str) -> dict[str, Any]:
        import networkx as nx

        pairs = [doc for _, _, doc in self.store.iter_results("overlap", period)]
        groups = {key: doc["community"]
                  for _, key, doc in self.store.iter_results("communities", period)}
        audience: dict[str, int] = {}
        by_streamer: dict[str, list[dict[str, Any]]] = {}
        for p in pairs:
            if p["share_a"]:
                audience[p["a"]] = round(p["shared"] / p["share_a"])
            if p["share_b"]:
                audience[p["b"]] = round(p["shared"] / p["share_b"])
            for me, other, share in ((p["a"], p["b"], p["share_a"]),
                                     (p["b"], p["a"], p["share_b"])):
                by_streamer.setdefault(me, []).append(
                    {"streamer": other, "shared": p["shared"], "jaccard": round(p["jaccard"], 4),
                     "share": round(share, 4), "lift": p.get("lift")})
        for rows in by_streamer.values():
            rows.sort(key=lambda r: (-r["jaccard"], r["streamer"]))
        strongest = sorted(pairs, key=lambda p: (-p["jaccard"], p["a"], p["b"]))[:400]
        graph = nx.Graph()
        graph.add_nodes_from(sorted(audience))
        graph.add_weighted_edges_from(((p["a"], p["b"], p["jaccard"]) for p in strongest),
                                      weight="jaccard")
        layout = nx.spring_layout(graph, weight="jaccard", seed=1) if len(graph) else {}
        nodes = [{"streamer": s, "x": round(float(layout[s][0]), 4),
                  "y": round(float(layout[s][1]), 4), "audience": audience.get(s, 0),
                  "community": groups.get(s, -1)} for s in sorted(layout)]
        edges = [{"a": p["a"], "b": p["b"], "jaccard": round(p["jaccard"], 4),
                  "x0": nodes_xy(layout, p["a"])[0], "y0": nodes_xy(layout, p["a"])[1],
                  "x1": nodes_xy(layout, p["b"])[0], "y1": nodes_xy(layout, p["b"])[1]}
                 for p in strongest]
        members: dict[int, list[str]] = {}
        for s, k in groups.items():
            members.setdefault(k, []).append(s)
        # a community is named after its biggest channel (its largest audience)
        names = {k: max(v, key=lambda s: (audience.get(s, 0), s)) + "'s community"
                 for k, v in members.items()}
        for node in nodes:
            node["community_name"] = names.get(node["community"], "no community")
        return {"period": period, "pairs": len(pairs), "nodes": nodes, "edges": edges,
                "communities": groups, "community_names": names,
                "community_members": [{"community": k, "name": names[k],
                                       "streamers": sorted(v, key=lambda s: (
                                           -audience.get(s, 0), s))}
                                      for k, v in sorted(members.items())],
                "top_pairs": [{k: p.get(k) for k in ("a", "b", "shared", "jaccard", "share_a",
                                                     "share_b", "lift")}
                              for p in strongest[:30]],
                "by_streamer": by_streamer}

    # -- bots and accounts ---------------------------------------------------------------

    def bot_days(self) -> list[str]:
        return self.cached("bot_days", lambda: sorted(self.current_days() &
                                                      set(self.store.result_scopes("bots"))))

    def bots(self, day: str, admin: bool) -> dict[str, Any]:
        docs = [doc for _, _, doc in self.store.iter_results("bots", day)]
        reasons: dict[str, int] = {}
        rows = []
        for doc in docs:
            for r in doc["reasons"]:
                reasons[r] = reasons.get(r, 0) + 1
            token = self.pseudonyms.token(doc["viewer"])
            row = {"token": token, "name": display_name(token), "reasons": doc["reasons"]}
            if admin:
                row["login"] = doc["viewer"]
            rows.append(row)
        rows.sort(key=lambda r: r["name"])
        per_day = self.cached("bots_per_day", lambda: [
            {"day": d, "bots": self.store.count_results("bots", d)} for d in self.bot_days()])
        return {"day": day, "days": self.bot_days(), "bots": rows[:500], "count": len(rows),
                "reasons": reasons, "per_day": per_day,
                "accounts": self.cached("accounts", self.store.status_counts)}

    def account_list(self, limit: int = 200) -> list[dict[str, Any]]:
        """Admins only: the first statuses by login."""
        return list(islice(self.store.iter_statuses(), limit))

    # -- viewers -------------------------------------------------------------------------

    def random_viewer(self) -> str | None:
        """A viewer drawn uniformly among the profiles (None when there is none). The
        profile keys are read once per data version (about 20 bytes a viewer); picking
        the first key after a random string instead favoured the viewers after the big
        gaps between logins: 16 viewers got a third of the draws."""
        keys = self.cached("profile_keys", lambda: self.store.result_keys(
            "profiles", "", "", max(1, self.store.count_results("profiles", ""))))
        return secrets.choice(keys) if keys else None


def _young(hit: tuple[Any, Any, float], max_age: float | None) -> bool:
    return max_age is None or time.monotonic() - hit[2] <= max_age


def nodes_xy(layout: dict, name: str) -> tuple[float, float]:
    x, y = layout[name]
    return round(float(x), 4), round(float(y), 4)


def _ordinal(day: str) -> int:
    try:
        return datetime.date.fromisoformat(day).toordinal()
    except ValueError:
        return 0


def collection_gaps(times: list[int], day: str, interval: int) -> dict[str, Any]:
    """Samples of a day, the ticks missed (against one per interval from midnight) and the
    longest stretch without a sample, minutes."""
    from tpdask.days import day_bounds

    start = day_bounds(day)[0]
    end = start + 86400
    expected = 86400 // interval
    if not times:
        return {"samples": 0, "missed": expected, "longest_gap_minutes": 1440}
    edges = [start - interval, *sorted(times), end]
    longest = max(b - a for a, b in zip(edges, edges[1:])) - interval
    return {"samples": len(times), "missed": max(expected - len(set(times)), 0),
            "longest_gap_minutes": round(max(longest, 0) / 60)}


def flat_report(report: Any, admin: bool, prefix: str = "", depth: int = 0) -> list[list]:
    """A job report as [key, value] rows: numbers, list lengths, days; other text only
    for admins (a report may one day name a viewer; a visitor never sees one), and for
    visitors only the rows whose key is made of report words
    (:func:`tpdask.web.exposure.report_key_shown`: a key may hold a login too)."""
    rows = _flat_report(report, admin, prefix, depth)
    return rows if admin else [r for r in rows if report_key_shown(r[0])]


def _flat_report(report: Any, admin: bool, prefix: str = "", depth: int = 0) -> list[list]:
    rows: list[list] = []
    if isinstance(report, dict):
        if depth >= 3:
            return [[prefix.rstrip("."), f"{len(report)} entries"]]
        for key, value in report.items():
            name = f"{prefix}{key}"
            rows += _flat_report(value, admin, name + "." if isinstance(value, dict) else name,
                                 depth + 1)
        return rows
    if isinstance(report, bool) or report is None:
        return [[prefix, str(report).lower()]]
    if isinstance(report, (int, float)):
        return [[prefix, report]]
    if isinstance(report, list):
        if report and all(isinstance(v, str) and DAY.match(v) for v in report):
            return [[prefix, ", ".join(report[:5]) + (" …" if len(report) > 5 else "")]]
        return [[prefix, f"{len(report)} items"]]
    if isinstance(report, str) and (admin or DAY.match(report)):
        return [[prefix, report[:300]]]
    return []
