"""Rankings of streamers and games over a date range, with the change against the
previous range of the same length (issue 21, item 2).

Figures of a range come from the per-day broadcast results (:mod:`tpdask.analysis.
broadcast_days`) of its analysed days, so a range costs no lake read: hours watched
(Twitch's viewer count × interval), average and peak viewers (Twitch's count over the
samples that had one), hours streamed (samples × interval), suspect broadcasts (stream
health rated over the range), and for streamers the new viewers of the range
(``streamer_days``). Each figure's change is ``(now - before) / before`` in %, null when
the previous range has nothing. Rows sort by any column and come in pages of
:data:`PAGE`.
"""

from __future__ import annotations

import datetime
from typing import Any

from tpdask.analysis import broadcast_days as bd
from tpdask.analysis.broadcasts import rate

PAGE = 25
PRESETS = (7, 30, 90)
COLUMNS = {"streamers": ("hours_watched", "avg_viewers", "peak_viewers", "hours_streamed",
                         "new_viewers", "suspect", "name"),
           "games": ("hours_watched", "avg_viewers", "peak_viewers", "hours_streamed",
                     "channels", "name")}
CHANGED = ("hours_watched", "avg_viewers", "hours_streamed")


def day_docs(data: Any) -> dict[str, list[dict[str, Any]]]:
    """day → its current broadcast_days documents (cached per data version)."""
    def compute() -> dict[str, list[dict[str, Any]]]:
        current = data.current_days()
        out: dict[str, list[dict[str, Any]]] = {}
        for day, _, doc in data.store.iter_results(bd.DAYS_KIND):
            if day in current:
                out.setdefault(day, []).append(doc)
        return out
    return data.cached("broadcast_day_docs", compute)


def new_viewers(data: Any) -> dict[str, dict[str, int]]:
    """day → streamer → its new viewers that day (cached per data version)."""
    def compute() -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for day, name, doc in data.store.iter_results("streamer_days"):
            out.setdefault(day, {})[name] = doc.get("new_viewers") or 0
        return out
    return data.cached("new_viewers", compute)


def previous(since: str, until: str) -> tuple[str, str]:
    """The range of the same length that ends the day before ``since``."""
    a, b = datetime.date.fromisoformat(since), datetime.date.fromisoformat(until)
    span = b - a + datetime.timedelta(days=1)
    return (a - span).isoformat(), (a - datetime.timedelta(days=1)).isoformat()


def figures(data: Any, kind: str, since: str, until: str) -> dict[str, dict[str, Any]]:
    """name → the range's figures (module docstring), cached per data version."""
    return data.cached(f"ranking:{kind}:{since}:{until}",
                       lambda: _figures(data, kind, since, until))


def _figures(data: Any, kind: str, since: str, until: str) -> dict[str, dict[str, Any]]:
    interval = data.config.interval
    docs = [d for day, ds in day_docs(data).items() if since <= day <= until for d in ds]
    out: dict[str, dict[str, Any]] = {}
    if kind == "streamers":
        merged = bd.merge_broadcasts(docs, interval)
        rate(merged, data.config.health_min_viewers, data.config.health_ratio)
        fresh = new_viewers(data)
        for b in merged.values():
            f = out.setdefault(b["streamer"], {"name": b["streamer"], "watched": 0.0,
                                               "counted": 0, "peak_viewers": 0, "samples": 0,
                                               "suspect": 0, "new_viewers": 0})
            f["watched"] += b["hours_watched"]
            f["samples"] += b["samples"]
            f["counted"] += round(b["hours_watched"] * 3600 / interval / b["avg_viewer_count"]) \
                if b["avg_viewer_count"] else 0
            f["peak_viewers"] = max(f["peak_viewers"], b["peak_viewer_count"] or 0)
            f["suspect"] += bool(b["suspect"])
        for day, by in fresh.items():
            if since <= day <= until:
                for name, n in by.items():
                    if name in out:
                        out[name]["new_viewers"] += n
    else:
        for d in docs:
            for game, (rows, viewer_sum, peak, _) in d["games"].items():
                f = out.setdefault(game, {"name": game, "watched": 0.0, "counted": 0,
                                          "peak_viewers": 0, "samples": 0, "streamers": set()})
                f["watched"] += viewer_sum * interval / 3600
                f["counted"] += rows
                f["samples"] += rows
                f["peak_viewers"] = max(f["peak_viewers"], peak)
                f["streamers"].add(d["streamer"])
    for f in out.values():
        f["hours_watched"] = round(f.pop("watched"), 1)
        counted = f.pop("counted")
        f["avg_viewers"] = round(f["hours_watched"] * 3600 / interval / counted, 1) \
            if counted else None
        f["hours_streamed"] = round(f.pop("samples") * interval / 3600, 1)
        if "streamers" in f:
            f["channels"] = len(f.pop("streamers"))
    return out


def ranking(data: Any, kind: str, since: str, until: str, sort: str, descending: bool,
            page: int) -> dict[str, Any]:
    """The page's data: one page of rows sorted by ``sort``, each with its changes."""
    now = figures(data, kind, since, until)
    before = figures(data, kind, *previous(since, until))
    rows = []
    for name, f in now.items():
        row = dict(f)
        old = before.get(name)
        for field in CHANGED:
            was = old.get(field) if old else None
            row[f"{field}_change"] = round(100 * (f[field] - was) / was, 1) \
                if was and f[field] is not None else None
        rows.append(row)

    def key(r: dict[str, Any]) -> tuple:
        value = r.get(sort)
        return (value is None, value if not descending or isinstance(value, str) else
                -value if value is not None else 0, r["name"])
    rows.sort(key=key)
    if descending and sort == "name":
        rows.reverse()
    pages = max(1, -(-len(rows) // PAGE))
    page = min(max(1, page), pages)
    return {"kind": kind, "since": since, "until": until, "previous": previous(since, until),
            "sort": sort, "order": "desc" if descending else "asc", "page": page,
            "pages": pages, "total": len(rows), "columns": COLUMNS[kind],
            "rows": rows[(page - 1) * PAGE: page * PAGE]}
