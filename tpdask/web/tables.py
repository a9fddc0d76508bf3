"""Every table of the site as CSV, through the same handler as its page (issue 21, item 6).

A route of :data:`tpdask.web.routes.ROUTES` names the tables its data holds (``tables``:
keys of the view's data whose value is a list of rows). ``?csv=<table>`` on the page
then answers that table as a CSV file instead of the page: the same view computed the
same data, after the same access checks and, for a visitor, the same blurring of small
groups (:mod:`tpdask.web.exposure`), so a download never shows more than the page.

Columns are the rows' keys in the order of their first appearance; a value that is a
list or a mapping is written as JSON; ``None`` as an empty field. A text field that a
spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return: a stream title can be anything) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson
from starlette.responses import Response

FORMULA = ("=", "+", "-", "@", "\t", "\r")
NAME = re.compile(r"^[a-z_]{1,40}$")


def csv_answer(rows: list[Any], name: str, filename: str) -> Response:
    """``rows`` (dicts, or lists for a table of pairs) as a CSV attachment."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if rows and isinstance(rows[0], dict):
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
    else:
        for row in rows:
            writer.writerow([cell(v) for v in (row if isinstance(row, (list, tuple)) else [row])])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{filename}-{name}.csv"'})


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value).decode()
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA):
        return "'" + text
    return text


def file_stem(path: str) -> str:
    """A download's name from the page's path: ``/streamers/chan_a`` → ``streamers-chan_a``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.strip("/")) or "dashboard"
    return stem[:80]
