"""Least exposure: what a visitor's answers leave out or blur (issue 19, item 5).

Admins see everything; a visitor sees only what docs/web.md promises, and three rules
apply on top of the pseudonyms:

- **Job reports, by key as well as by value** (:func:`report_key_shown`): a report row
  reaches a visitor only when every segment of its key is a word of
  :data:`REPORT_WORDS` (the names tpdask's jobs give their figures), a day, or text no
  login can be (``part-00000``, ``store after the buckets``). A report
  keyed by data (``{"per_viewer": {"somelogin": 3}}``) would otherwise show a login in
  the key, whatever the value is.
- **Sessions at hour resolution** (:func:`hour_sessions`): a visitor's viewer page draws
  each session from the start of its first hour to the end of its last, merged with the
  same streamer's sessions that then touch. The exact 5-minute timeline would let someone
  who saw a chat at a given minute recognise the viewer behind a pseudonym.
- **Small groups** (:func:`mask_small`): a count of viewers below ``web_min_group``
  (default 5), and the shares and overlaps computed from it, are replaced by
  ``"fewer than 5"`` in every page and data answer; 0 stays 0 (it covers nobody). The
  fields that count viewers are :data:`COUNT_FIELDS`, whatever page they are on, so a
  new page is covered when it names its counts the same way.
"""

from __future__ import annotations

import re
from typing import Any

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: The words job reports use as keys (the ledger's reports of process, analyse, overlap,
#: verify, archive, nightly, erase, prune): shown to visitors, any other key is not.
REPORT_WORDS = frozenset("""
day days since until scope scopes seconds phase_seconds workers viewers samples streams
streamers records observations invalid invalid_entries duplicates quarantined buckets parts
rows bytes files members archive archives lake store size compressed ratio manifest
updated_days updated report reported rebuilt_buckets contributions merge publish
overlaps_updated insights_updated broadcast_days per_day bots profiles streamer_days
overlap pairs communities min_minutes checked active renamed gone unchanged calls batches
limit stages stage status skipped ok failed error errors deleted pruned kept
retention erased suppressed minutes viewer_days new_viewers returning_viewers flows
broadcasts statuses read written processed analysed verified archived nightly took
performance_report dashboard tick ticks missed interval max_gap version source
bucket_seconds encode invert contributed_days entries files_quarantined inputs
archive_sha256 loose chatter_ids parquet times merge_task_seconds bot_reasons
processed_days profiles_deleted profiles_written run samples_read sessions
store_writer_seconds suppressed_entries unpack_seconds
""".split())
#: What a login can be (the inversion rule's pattern, any case): a key segment that
#: cannot be one is no login, whatever it says.
LOGIN_LIKE = re.compile(r"^[a-z0-9_]{1,25}$", re.IGNORECASE)

#: Fields that count viewers (or viewer-days) wherever they appear in a page's data.
COUNT_FIELDS = frozenset({
    "viewers", "new_viewers", "returning_viewers", "avg_viewers", "peak_viewers",
    "shared", "audience", "bots", "leavers", "active", "renamed", "gone", "viewer_days",
    "came", "went_viewers", "known"})
#: Fields computed from a count of the same row: blurred with it.
DERIVED_FIELDS = frozenset({"jaccard", "share", "share_a", "share_b", "lift", "gone_share",
                            "loyalty"})


def report_key_shown(key: str) -> bool:
    """Whether a visitor may see a job report row of this dotted key."""
    return all(part in REPORT_WORDS or DAY.match(part) or not LOGIN_LIKE.match(part)
               for part in key.split(".") if part)


def fewer_than(min_group: int) -> str:
    return f"fewer than {min_group}"


def mask_small(data: Any, min_group: int) -> Any:
    """``data`` (a page's data: dicts and lists) with every count of :data:`COUNT_FIELDS`
    from 1 to ``min_group`` - 1 replaced by "fewer than N", and the row's
    :data:`DERIVED_FIELDS` with it. A new structure; ``data`` is not changed."""
    if min_group <= 1:
        return data
    if isinstance(data, list):
        return [mask_small(v, min_group) for v in data]
    if not isinstance(data, dict):
        return data
    out: dict[Any, Any] = {}
    small = False
    for key, value in data.items():
        if key in COUNT_FIELDS and _small(value, min_group):
            out[key] = fewer_than(min_group)
            small = True
        elif key in COUNT_FIELDS and isinstance(value, dict):
            # {name: count}: accounts by status, where each count is a group
            out[key] = {k: fewer_than(min_group) if _small(v, min_group) else
                        mask_small(v, min_group) for k, v in value.items()}
        else:
            out[key] = mask_small(value, min_group)
    if small:
        for key in DERIVED_FIELDS & out.keys():
            if isinstance(out[key], (int, float)) and not isinstance(out[key], bool):
                out[key] = fewer_than(min_group)
    return out


def _small(value: Any, min_group: int) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        0 < value < min_group


def hour_sessions(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sessions ``{"streamer", "start", "end"}`` widened to whole UTC hours (start down to
    its hour, end up to the end of its hour) and merged per streamer where they then
    overlap or touch; ordered by start, then streamer."""
    by: dict[str, list[list[int]]] = {}
    for s in sorted(sessions, key=lambda s: (s["streamer"], s["start"])):
        start = s["start"] - s["start"] % 3600
        end = s["end"] - s["end"] % 3600 + 3600
        runs = by.setdefault(s["streamer"], [])
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    merged = [{"streamer": name, "start": a, "end": b}
              for name, runs in by.items() for a, b in runs]
    return sorted(merged, key=lambda s: (s["start"], s["streamer"]))
