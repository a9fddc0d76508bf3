"""Days: the unit of every batch job. A day is a UTC date written YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt

from tpdask.errors import ConfigError, UsageError

DAY_SECONDS = 86400


def parse_day(value: object) -> str:
    """Accept 2024-01-10, 20240110 (fire turns it into an int) or a date; return 'YYYY-MM-DD'."""
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    raise ConfigError(f"not a day: {value!r}; write it as YYYY-MM-DD, e.g. 2024-01-10")


def parse_period(since: object, until: object) -> tuple[str, str]:
    """(D1, D2) of --since D1 --until D2, each read by :func:`parse_day`; a period that
    ends before it starts is a command-line mistake (UsageError)."""
    first, last = parse_day(since), parse_day(until)
    if first > last:
        raise UsageError(f"--since {first} is after --until {last}: give the earlier day "
                         "to --since")
    return first, last


def yesterday() -> str:
    return (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).strftime("%Y-%m-%d")


def day_bounds(day: str) -> tuple[int, int]:
    """[start, end) of a UTC day in unix seconds."""
    start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    first = int(start.timestamp())
    return first, first + DAY_SECONDS


def day_of(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


def days_between(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last``, both included (YYYY-MM-DD, in order)."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat()
            for i in range((end - start).days + 1)]
