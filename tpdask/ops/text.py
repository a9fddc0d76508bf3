"""The health as text for a person: the verdict and its reasons first, then one line (or
a few) per check. ``tpdask status`` prints it; ``--json`` prints :meth:`Health.to_json`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tpdask.ops.health import Health, ago, plural, utc


def health_text(health: Health) -> str:
    """The verdict line, its reasons, when it was checked, then each check's facts."""
    lines = [f"verdict: {health.verdict}"]
    lines += [f"  {r.level:<8} {r.text}" for r in health.reasons]
    lines.append(f"checked: {utc(health.checked_at)}")
    c = health.checks
    lines.append(f"data: {c['data']['data_dir']}")
    for name, describe in (("collector", _collector), ("archives", _archives),
                           ("store", _store), ("stages", _stages),
                           ("quarantine", _quarantine), ("disk", _disk),
                           ("running", _running)):
        if name in c:
            facts = c[name]
            lines += [f"{name}: could not be checked: {facts['error']}"] if set(facts) == {
                "error"} else describe(facts, health.checked_at)
    return "\n".join(lines)


def size(nbytes: float | None) -> str:
    """Bytes in binary units: 812 B, 1.5 KiB, 98.1 MiB, 1.2 GiB."""
    if nbytes is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def _short(ts: float | None) -> str:
    if ts is None:
        return "–"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%m-%d %H:%M")


def _collector(f: dict[str, Any], now: float) -> list[str]:
    if f.get("newest_sample_ts") is None:
        return ["collector: no sample found"]
    ticks = f.get("ticks", {})
    missed = "; ".join(
        f"{label} ({t['day']}) missed {t['missing']} of {t['expected']} ticks"
        for label, t in ticks.items())
    return [f"collector: newest sample {f['newest_sample_utc']}, "
            f"{ago(f['newest_sample_age_seconds'])} ago (stale after "
            f"{ago(f['stale_after_seconds'])}); {missed}"]


def _archives(f: dict[str, Any], now: float) -> list[str]:
    recent = ", ".join(f"{a['day']} {size(a['bytes'])}" for a in reversed(f["days"][-7:]))
    more = ", …" if f["count"] > 7 else ""
    return [f"archives: {f['count']}, {size(f['bytes'])} in all"
            + (f"; newest: {recent}{more}" if recent else "")]


def _store(f: dict[str, Any], now: float) -> list[str]:
    if not f.get("exists"):
        return [f"store: {f['uri']}: {f.get('error', 'not open')}"]
    days = (f" ({f['first_day']} … {f['last_day']})" if f["days"] else "")
    accounts = ", ".join(f"{k} {v:,}" for k, v in sorted(f["accounts"].items())) or "none yet"
    return [f"store: {f['uri']} ({size(f['bytes'])}): {plural(f['days'], 'day')} processed"
            f"{days}, {f['analysed_days']} analysed; accounts: {accounts}"]


def _stages(f: dict[str, Any], now: float) -> list[str]:
    lines = [f"stages (last run of each; a day is due {f['due_hours']:g} h after it ends):"]
    for row in f["days"]:
        if not row["samples"] and not any(row["runs"].values()) and not row["processed"]:
            lines.append(f"  {row['day']}  no samples")
            continue
        state = ", ".join(word if row[word] else f"not {word}"
                          for word in ("archived", "processed", "analysed"))
        waiting = f" ({row['waiting']} samples waiting)" if row["waiting"] else ""
        runs = ", ".join(f"{stage} {run['status']} {_short(run['started_at'])}"
                         if run else f"{stage} –" for stage, run in row["runs"].items())
        lines.append(f"  {row['day']}  {row['samples']} samples; {state}{waiting}; "
                     f"last runs: {runs}")
    verify = f.get("verify")
    lines.append(f"  verify      {verify['status']} {utc(verify['started_at'])}"
                 if verify else "  verify      never run")
    if "ledger" in f:
        lines.append(f"  (ledger {f['ledger']})")
    return lines


def _quarantine(f: dict[str, Any], now: float) -> list[str]:
    return [f"quarantine: {plural(f['recent'], 'file')} in the last {f['recent_days']} days, "
            f"{f['total']} in all"]


def _disk(f: dict[str, Any], now: float) -> list[str]:
    return [f"disk: {size(f['free_bytes'])} free of {size(f['total_bytes'])} "
            f"({f['free_percent']:.1f} %)"]


def _running(f: dict[str, Any], now: float) -> list[str]:
    jobs = [f"{j['job']} (pid {j['pid']}, since {utc(j['started_at'])})"
            if j.get("started_at") else f"{j['job']} (pid {j['pid']})" for j in f["jobs"]]
    return [f"running: {', '.join(jobs) if jobs else 'no job'}"]
