"""Pages from Jinja2 templates (autoescaped), and the data blocks the charts read.

Charts are drawn in the browser by BokehJS from JSON embedded in the page as
``<script type="application/json">`` blocks: not executed, so the Content-Security-Policy
can stay ``script-src 'self'``. :func:`json_block` escapes ``<``, ``>`` and ``&`` as
``\\u003c`` …, so no value (a stream title with ``</script>`` in it) can end the block.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from tpdask.web.static_files import static_url

HERE = Path(__file__).parent


def json_block(data: Any) -> Markup:
    text = orjson.dumps(data).decode()
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    try:
        return f"{round(value):,}"
    except (TypeError, ValueError):
        return str(value)


def duration(minutes: Any) -> str:
    """Minutes as hours and minutes ("3 h 05 min", "45 min")."""
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool):
        return "–" if minutes is None else str(minutes)
    h, m = divmod(round(minutes), 60)
    return f"{h:,} h {m:02d} min" if h else f"{m} min"


def human(value: Any) -> str:
    """A count in human units: 950, 12.3 k, 1.2 M (text as it is)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–" if value is None else str(value)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value:,.0f}"


def period(scope: Any) -> str:
    """An overlap period's scope in words: "1 Aug 2022 – 3 Aug 2022, viewers with 10+
    minutes with a streamer" (", bots included" when they are)."""
    from tpdask.analysis.overlap import parse_period_scope

    parsed = parse_period_scope(str(scope)) if scope else None
    if parsed is None:
        return "–" if not scope else str(scope)
    since, until, min_minutes, bots = parsed
    days = _day(since) if since == until else f"{_day(since)} – {_day(until)}"
    return (f"{days}, viewers with {min_minutes:g}+ minutes with a streamer"
            + (", bots included" if bots else ""))


def _day(day: str) -> str:
    d = datetime.date.fromisoformat(day)
    return f"{d.day} {d.strftime('%b %Y')}"


def percent(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage ("5.1 %"); text (a blurred "fewer than 5") as it is."""
    if value is None:
        return "–"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value * 100:,.{digits}f} %"
    return str(value)


def size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB"):
        if nbytes < 1024:
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:,.1f} GB"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,
)
ENV.filters.update(json_block=json_block, when=when, number=number, size=size,
                   percent=percent, duration=duration, human=human, period=period)
ENV.globals.update(static_url=static_url)


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)
