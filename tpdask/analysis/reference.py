"""A plain-Python reference of the analytics contract of docs/contracts.md, from raw samples.

Slow and obvious on purpose: it is the oracle the fast (Dask) analyser is tested against.
Everything starts from `samples_by_day` (day "YYYY-MM-DD" -> that day's contract-v1 sample
dicts); the viewer-day records come from `tpdask.process.reference.reference_viewer_days`, the
reference of the inversion rule, and chatter entries are normalised and checked by its
helpers. P(v, s) is rebuilt from the records' sessions and the day's T list, as the
contract says the analyser does.

Readings of the contract (where it leaves a choice, the choice and why):

1. The lake = the days of `samples_by_day`. A day's samples are those of its list whose
   `ts` falls in that UTC day (others are ignored, as `reference_viewer_days` does).
   T = the sorted distinct `ts` of those samples, so two samples with the same ts are one
   k (the day job cannot see two: sample files are named `<ts>.json`).
2. Streamer keys are normalised by `strip().lower()` like logins (as the inversion
   reference does). Two keys of one k that normalise alike are one listing: chatters are
   the union, metadata is that of the first listing (samples in the given order, keys in
   the sample's order).
3. Bots, `concurrent`: the number of distinct streams whose chat lists the viewer at k,
   the viewer's own channel included ("in the chatters of ... streams", no exception).
   `always_on`: samples = |union over s of P(v, s)|, own channel included; ≥ is inclusive.
   `known`: the normalised login equals an entry of `known` (compared as given). Only
   viewers with a record that day can be flagged; an export row needs at least one reason.
4. "A bot for a period when flagged on any of its days": the period of
   `streamer_days --day D` is D alone (a day's export is fixed once that day is known, does
   not change when later days are analysed, and matches `export bots --day D`); the period
   of `overlap` is the lake days in [since, until]; the period of `profiles` is every day.
5. Own channel: the streamer's own login is dropped from its viewers, minutes, new and
   returning viewers, from overlap audiences, and from a profile's streamers, main_streamer
   and loyalty. It still counts wherever the contract says "everyone counted" or speaks of
   logins in the chat: streamer-day `samples`, `avg_chatters`, `peak_chatters`; and in a
   profile's `minutes` (the sum of the viewer-day minutes, which are the union's) and
   `hours` (every k of the viewer's union).
6. Streamer-day rows: one for every streamer with a record that day, i.e. named in some
   viewer-day record, even if that record is its own login alone (then viewers = 0).
   `samples` counts the k with at least one valid login in its chat (own login and bots
   included); `avg_chatters`/`peak_chatters` are over exactly those k. "Samples that list
   the stream" are the k whose sample has the stream's key, even with an empty or
   all-invalid chatters list. A listing whose `viewer_count` is not an int (missing, null,
   bool) is left out of `avg_viewer_count`/`peak_viewer_count`, which are null when no
   listing has one; a listing whose `game_name` is not a string is left out of `games`
   (a JSON object key cannot be null).
7. `new_viewers` / `returning_viewers` are counts. "An earlier day in the lake" = a day of
   `samples_by_day` before D; "a record with this streamer" = a viewer-day record of the
   viewer on that day whose streamers include it, whatever the viewer's bot status then.
   returning = viewers - new.
8. Overlap: A(s) = the non-bot (unless `bots`) viewers other than s whose minutes with s,
   summed over the lake days in [since, until] (inclusive, compared as YYYY-MM-DD), are
   ≥ min_minutes. Pairs a < b compare logins as strings; only pairs with shared ≥ 1.
9. Profiles list every viewer with a record, bots included: the export has no `--bots`,
   and its `bot` field would otherwise always be null. `viewer=` is normalised like a
   login; an unknown or invalid one gives []. `streamers` is in ranking order (most
   minutes, then login); `main_streamer` is its first; loyalty's denominator is every
   streamer of the viewer but its own channel (not only the top 10). days_active counts
   the days with a record (own-channel-only days included).
10. Numbers: minutes anywhere (streamer-day, profile, profile streamers, each hour) are
   samples × interval / 60, an int when whole, else a float, as `tpdask.process.reference` does;
   sums of minutes are computed from summed samples. `avg_*`, `jaccard`, `share_*` and
   `loyalty` are always floats (true division). Streamer-day types: streamer, day: str;
   samples, viewers, peak_chatters, new_viewers, returning_viewers: int; minutes: int or
   float; avg_chatters: float; avg_viewer_count: float or None; peak_viewer_count: int or
   None; games: {str: int}.
"""

from __future__ import annotations

from collections import defaultdict

from tpdask.days import day_bounds, parse_day
from tpdask.process.reference import _login, _minutes, reference_viewer_days

KNOWN_BOTS: tuple[str, ...] = (
    "nightbot", "streamelements", "moobot", "streamlabs", "fossabot",
    "wizebot", "soundalerts", "commanderroot", "sery_bot", "kofistreambot",
)


# ---- one day: samples, T, records, P --------------------------------------------------

def _day_samples(samples_by_day: dict[str, list[dict]], day: str) -> list[dict]:
    """The samples listed under `day` whose ts falls in that UTC day."""
    start, end = day_bounds(day)
    return [s for s in samples_by_day.get(day, []) if start <= s["ts"] < end]


def _times(samples: list[dict]) -> list[int]:
    """T: the sorted distinct ts of the day's samples."""
    return sorted({s["ts"] for s in samples})


def _records(samples_by_day: dict[str, list[dict]], day: str, interval: int,
             max_gap: int) -> dict[str, dict]:
    """The day's viewer-day records, from the inversion reference."""
    return reference_viewer_days(_day_samples(samples_by_day, day), day, interval, max_gap)


def _ks(sessions: list[list[int]], times: list[int]) -> set[int]:
    """P(v, s) rebuilt from its sessions (runs of consecutive k) and T."""
    index = {t: k for k, t in enumerate(times)}
    return {k for first, last in sessions for k in range(index[first], index[last] + 1)}


def _union(record: dict, times: list[int]) -> set[int]:
    """The viewer's k over all its streamers."""
    return set().union(*(_ks(s["sessions"], times) for s in record["streamers"].values()))


def _days(samples_by_day: dict[str, list[dict]]) -> list[str]:
    """The lake's days (keys written YYYY-MM-DD), sorted."""
    return sorted(samples_by_day)


# ---- bots -----------------------------------------------------------------------------

def _reasons(record: dict, times: list[int], interval: int, bot_concurrent: int,
             bot_hours: float, known: tuple[str, ...]) -> list[str]:
    """The sorted bot reasons of one viewer-day record (maybe none)."""
    streams_at = defaultdict(int)
    for stream in record["streamers"].values():
        for k in _ks(stream["sessions"], times):
            streams_at[k] += 1
    reasons = []
    if any(n > bot_concurrent for n in streams_at.values()):
        reasons.append("concurrent")
    if record["samples"] * interval >= bot_hours * 3600:
        reasons.append("always_on")
    if record["viewer"] in known:
        reasons.append("known")
    return sorted(reasons)


def _day_bots(samples_by_day: dict[str, list[dict]], day: str, interval: int, max_gap: int,
              bot_concurrent: int, bot_hours: float,
              known: tuple[str, ...]) -> dict[str, list[str]]:
    """viewer -> sorted reasons, for the viewers of `day` flagged at least once."""
    times = _times(_day_samples(samples_by_day, day))
    out = {}
    for viewer, record in _records(samples_by_day, day, interval, max_gap).items():
        reasons = _reasons(record, times, interval, bot_concurrent, bot_hours, known)
        if reasons:
            out[viewer] = reasons
    return out


def _bot_reasons(samples_by_day: dict[str, list[dict]], days: list[str], interval: int,
                 max_gap: int, bot_concurrent: int, bot_hours: float,
                 known: tuple[str, ...]) -> dict[str, list[str]]:
    """viewer -> sorted union of its reasons over `days` (a bot for that period)."""
    merged = defaultdict(set)
    for day in days:
        flagged = _day_bots(samples_by_day, day, interval, max_gap, bot_concurrent,
                            bot_hours, known)
        for viewer, reasons in flagged.items():
            merged[viewer].update(reasons)
    return {v: sorted(r) for v, r in merged.items()}


def reference_bots(samples_by_day: dict[str, list[dict]], interval: int = 300,
                   max_gap: int = 900, bot_concurrent: int = 3, bot_hours: float = 20,
                   known: tuple[str, ...] = KNOWN_BOTS) -> list[dict]:
    """`export bots` of every lake day: {"viewer", "day", "reasons"}, by (day, viewer)."""
    rows = []
    for day in _days(samples_by_day):
        flagged = _day_bots(samples_by_day, day, interval, max_gap, bot_concurrent,
                            bot_hours, known)
        rows += [{"viewer": v, "day": day, "reasons": r} for v, r in sorted(flagged.items())]
    return rows


# ---- streamer-day statistics ----------------------------------------------------------

def _listings(samples: list[dict]) -> dict[str, dict[int, dict]]:
    """streamer -> k -> {"chatters": valid distinct logins, "meta": first stream dict}."""
    index = {t: k for k, t in enumerate(_times(samples))}
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for sample in samples:
        k = index[sample["ts"]]
        for key, stream in sample["streams"].items():
            listing = out[key.strip().lower()].setdefault(k, {"chatters": set(), "meta": stream})
            listing["chatters"] |= {_login(e) for e in stream["chatters"]} - {None}
    return out


def _viewer_count_stats(listings: dict[int, dict]) -> tuple[float | None, int | None]:
    """Mean and max viewer_count over the listings that carry an int one."""
    counts = [m["meta"].get("viewer_count") for m in listings.values()]
    counts = [c for c in counts if isinstance(c, int) and not isinstance(c, bool)]
    if not counts:
        return None, None
    return sum(counts) / len(counts), max(counts)


def _games(listings: dict[int, dict]) -> dict[str, int]:
    """{game_name: samples} over the listings (non-string names left out)."""
    games: dict[str, int] = defaultdict(int)
    for listing in listings.values():
        name = listing["meta"].get("game_name")
        if isinstance(name, str):
            games[name] += 1
    return dict(sorted(games.items()))


def _seen_before(samples_by_day: dict[str, list[dict]], day: str, interval: int,
                 max_gap: int) -> set[tuple[str, str]]:
    """(viewer, streamer) pairs with a record on a lake day before `day`."""
    pairs = set()
    for earlier in (d for d in _days(samples_by_day) if d < day):
        for viewer, record in _records(samples_by_day, earlier, interval, max_gap).items():
            pairs |= {(viewer, s) for s in record["streamers"]}
    return pairs


def _streamer_day(streamer: str, day: str, listings: dict[int, dict], records: dict[str, dict],
                  bots: set[str], seen: set[tuple[str, str]], interval: int) -> dict:
    """One streamer-day row."""
    chatting = [len(m["chatters"]) for m in listings.values() if m["chatters"]]
    audience = sorted(v for v, r in records.items()
                      if streamer in r["streamers"] and v != streamer and v not in bots)
    new = [v for v in audience if (v, streamer) not in seen]
    avg_count, peak_count = _viewer_count_stats(listings)
    return {
        "streamer": streamer, "day": day, "samples": len(chatting),
        "viewers": len(audience),
        "minutes": _minutes(sum(records[v]["streamers"][streamer]["samples"]
                                for v in audience), interval),
        "avg_chatters": sum(chatting) / len(chatting), "peak_chatters": max(chatting),
        "new_viewers": len(new), "returning_viewers": len(audience) - len(new),
        "avg_viewer_count": avg_count, "peak_viewer_count": peak_count,
        "games": _games(listings),
    }


def reference_streamer_days(samples_by_day: dict[str, list[dict]], day: str,
                            interval: int = 300, max_gap: int = 900, bot_concurrent: int = 3,
                            bot_hours: float = 20,
                            known: tuple[str, ...] = KNOWN_BOTS) -> list[dict]:
    """`export streamer_days --day D`: one row per streamer with a record that day."""
    day = parse_day(day)
    records = _records(samples_by_day, day, interval, max_gap)
    listings = _listings(_day_samples(samples_by_day, day))
    bots = set(_day_bots(samples_by_day, day, interval, max_gap, bot_concurrent, bot_hours,
                         known))
    seen = _seen_before(samples_by_day, day, interval, max_gap)
    streamers = sorted({s for r in records.values() for s in r["streamers"]})
    return [_streamer_day(s, day, listings[s], records, bots, seen, interval)
            for s in streamers]


# ---- overlap --------------------------------------------------------------------------

def _audiences(samples_by_day: dict[str, list[dict]], days: list[str], min_minutes: float,
               excluded: set[str], interval: int, max_gap: int) -> dict[str, set[str]]:
    """streamer -> A(s): viewers (not excluded, not s) with ≥ min_minutes over `days`."""
    samples = defaultdict(int)                     # (viewer, streamer) -> samples
    for day in days:
        for viewer, record in _records(samples_by_day, day, interval, max_gap).items():
            for streamer, stream in record["streamers"].items():
                samples[(viewer, streamer)] += stream["samples"]
    audiences = defaultdict(set)
    for (viewer, streamer), n in samples.items():
        if viewer != streamer and viewer not in excluded and \
                _minutes(n, interval) >= min_minutes:
            audiences[streamer].add(viewer)
    return audiences


def _pair(a: str, b: str, audience_a: set[str], audience_b: set[str], n: int) -> dict:
    """One overlap row; ``n`` = the viewers in at least one audience (the lift's N)."""
    shared = len(audience_a & audience_b)
    return {"a": a, "b": b, "shared": shared,
            "jaccard": shared / len(audience_a | audience_b),
            "share_a": shared / len(audience_a), "share_b": shared / len(audience_b),
            "lift": shared * n / (len(audience_a) * len(audience_b))}


def reference_overlap(samples_by_day: dict[str, list[dict]], since: str, until: str,
                      min_minutes: float = 10, bots: bool = False, interval: int = 300,
                      max_gap: int = 900, bot_concurrent: int = 3, bot_hours: float = 20,
                      known: tuple[str, ...] = KNOWN_BOTS) -> list[dict]:
    """`export overlap --since D1 --until D2`: pairs a < b sharing ≥ 1 viewer, by (a, b)."""
    since, until = parse_day(since), parse_day(until)
    days = [d for d in _days(samples_by_day) if since <= d <= until]
    excluded = set() if bots else set(
        _bot_reasons(samples_by_day, days, interval, max_gap, bot_concurrent, bot_hours, known))
    audiences = _audiences(samples_by_day, days, min_minutes, excluded, interval, max_gap)
    names = sorted(audiences)
    n = len(set().union(*audiences.values()))
    return [_pair(a, b, audiences[a], audiences[b], n)
            for i, a in enumerate(names) for b in names[i + 1:]
            if audiences[a] & audiences[b]]


# ---- profiles -------------------------------------------------------------------------

def _new_profile() -> dict:
    """The running totals of one viewer, before any day."""
    return {"days": [], "samples": 0, "streamers": defaultdict(int), "hours": [0] * 24}


def _add_day(totals: dict, record: dict, times: list[int]) -> None:
    """Add one viewer-day record to the viewer's running totals."""
    totals["days"].append(record["day"])
    totals["samples"] += record["samples"]
    for streamer, stream in record["streamers"].items():
        totals["streamers"][streamer] += stream["samples"]
    for k in _union(record, times):
        totals["hours"][times[k] % 86400 // 3600] += 1


def _profile(viewer: str, totals: dict, reasons: list[str] | None, interval: int) -> dict:
    """One profile row from the viewer's running totals (values in samples)."""
    others = {s: n for s, n in totals["streamers"].items() if s != viewer}
    ranking = sorted(others, key=lambda s: (-others[s], s))
    main = ranking[0] if ranking else None
    return {
        "viewer": viewer, "first_day": min(totals["days"]), "last_day": max(totals["days"]),
        "days_active": len(totals["days"]), "minutes": _minutes(totals["samples"], interval),
        "streamers": {s: _minutes(others[s], interval) for s in ranking[:10]},
        "main_streamer": main,
        "loyalty": others[main] / sum(others.values()) if main else None,
        "hours": [_minutes(n, interval) for n in totals["hours"]],
        "bot": reasons,
    }


def reference_profiles(samples_by_day: dict[str, list[dict]], interval: int = 300,
                       max_gap: int = 900, bot_concurrent: int = 3, bot_hours: float = 20,
                       known: tuple[str, ...] = KNOWN_BOTS,
                       viewer: str | None = None) -> list[dict]:
    """`export profiles [--viewer LOGIN]` over every lake day, by viewer."""
    days = _days(samples_by_day)
    totals: dict[str, dict] = defaultdict(_new_profile)
    for day in days:
        times = _times(_day_samples(samples_by_day, day))
        for login, record in _records(samples_by_day, day, interval, max_gap).items():
            _add_day(totals[login], record, times)
    reasons = _bot_reasons(samples_by_day, days, interval, max_gap, bot_concurrent,
                           bot_hours, known)
    wanted = sorted(totals) if viewer is None else [_login(viewer)]
    return [_profile(v, totals[v], reasons.get(v), interval) for v in wanted if v in totals]
