"""Seeded audience model: realistic Twitch chat-presence days in sample contract v1.

Used by the tests, ``make demo``, ``tpdask bench`` (a full day, fast) and the Twitch
simulator ("who is in which chat at time t").  Everything is drawn once per day with
numpy into flat arrays; a sample is then a vectorised lookup, a few milliseconds.

Model choices:

* **Accounts** are a fixed population.  Viewer ``i`` always has the same login and user
  id, whatever the seed, day or scale (a smaller scale is a prefix of a larger one), so
  several simulated days share their viewers.  Logins are 3-4 consonant-vowel syllables
  (unique decoding: every syllable ends in one of ``aeio``) of a bijective scramble of
  ``i``, plus a decoration without vowels before any digit or ``_`` (``42``, ``_gaming``,
  ``xx``), so distinct indices give distinct logins.  Streamer logins have 2 syllables,
  hence never equal a viewer's; bot names do not decode into syllables (the tests check
  that no two accounts share a login).  Viewers are stored in alphabetical order, so
  chatter lists come out sorted like the old tmi dumps.
* **Streamers** (seed-dependent) have Zipf popularity ``1/rank**1.1``, a habitual start
  hour (morning, afternoon/evening or late) and stream length (2-10 h); each day jitters
  them.  A late stream running past midnight goes on the next morning: a day gets the
  tail of the previous day's late stream (as the previous day drew it), ``started_at``
  on the previous day, so the broadcast is one across both days.
* **Viewers** have 1-3 favourite streamers (popularity-weighted, seed-dependent, stable
  across days).  Each day a viewer makes ``1 + Poisson(engagement)`` stays (engagement
  is lognormal: most drop in once, a few watch all day); a stay picks a favourite
  (the first one more often) and lasts a heavy-tailed time (75 %: lognormal, median
  12 min; 25 %: median 110 min), never shorter than one interval (so every stay is seen
  at least once) nor longer than the live segment it falls in.  Stays of different
  streamers overlap freely: some viewers are in two chats at once.
* **Bots** (nightbot, ...) sit in every live chat at every instant.
* **View-botted channels** (``view_botted``, none by default) report a Twitch viewer count
  15-25 times their chat, where the others' is 2.5-5 times (logged-out viewers): what a
  bought audience looks like to the stream health signal (``view_botted`` lists them).
* Variants never change the underlying behaviour: ``gaps`` and ``dirty`` use their own
  random streams, and dirty entries are either the clean login re-cased/padded, a
  duplicate, or an *extra* invalid entry.  So normalising a dirty day (strip, lower,
  drop invalid, dedupe) gives exactly the clean day.

Determinism: ``numpy.random.default_rng`` seeded with ``[seed, stream, day ordinal]``
(never Python ``hash()``); same config + day + numpy version gives byte-identical files.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import orjson

from tpdask.errors import ConfigError
from tpdask.files import atomic_write, fsync_dir

DAY = 86400
VIEWERS_AT_SCALE_1 = 900_000
EXTRA_STAYS = 3.4  # mean extra stays per viewer; tuned for ~20M observations at scale 1
DIRTY_RATE = 0.002  # fraction of chatter entries given a dirty twin or form

_ONSETS = "b c d f g j k l m n p r s t v z ch sh th tr br gr kr pl fl st dr pr cl bl fr gl".split()
_SYLL = np.array([o + v for o in _ONSETS for v in "aeio"])  # 128 syllables
_VIEWER_WORDS = np.array("_tv _fr _off _yt _gaming _lol _pro _ttv _music _art "
                         "x xx tv gg hd zz ttv _".split())
_STREAMER_DECOS = ("",) * 5 + tuple("tv _tv _off _live x _ _fr lv ttv gg _".split())
_BOTS = "nightbot streamelements wizebot moobot streamlabs fossabot sery_bot soundalerts".split()
_GAMES = ("Just Chatting", "League of Legends", "Fortnite", "Minecraft", "VALORANT",
          "Grand Theft Auto V", "Counter-Strike", "Teamfight Tactics", "Rocket League",
          "Apex Legends", "World of Warcraft", "EA Sports FC 25", "Hearthstone", "Music",
          "Art", "Elden Ring", "The Sims 4", "Pokémon Trading Card Game Live")
_STREAM_FIELDS = ("user_id", "viewer_count", "title", "game_name", "language", "started_at")
_TITLES = ("!drops ranked jusqu'au bout", "CHILL DU SOIR | !discord", "on tryhard la ranked",
           "Découverte du nouveau patch", "Soirée communauté !giveaway",
           "Let's go le marathon", "Petit stream tranquille", "Réaction aux news + jeux",
           "Tournoi entre potes ce soir", "speedrun any% WR attempts")


@dataclass(frozen=True)
class AudienceConfig:
    """Every knob of the audience model; the defaults are the reference day."""

    seed: int = 1
    """Seed of all randomness (>= 0): streamers, favourites, stays, jitter, gaps, dirt."""
    scale: float = 1.0
    """Viewer population = 900,000 x scale (~20M observations, ~300 MB of JSON at 1.0)."""
    n_streamers: int = 100
    """Streamers in the model; each is live once a day (two segments if wrapping)."""
    interval: int = 300
    """Sampling interval in seconds; must divide 86400; ticks are i*interval + 0..5 s."""
    language: str = "fr"
    """Stream language written in the metadata."""
    n_bots: int = 3
    """List bots present in every live chat in every sample."""
    gaps: bool = False
    """Drop ticks: one 20-60 min outage and two single missed ticks."""
    dirty: bool = False
    """Make ~0.2 % of entries dirty (case, padding, duplicate, invalid extra entries)."""
    with_ids: bool = False
    """Add ``chatter_ids`` parallel to ``chatters`` in each stream."""
    view_botted: int = 0
    """Streamers whose Twitch viewer count is inflated by bought viewers, as a view-botted
    channel's is: 15-25 times their chat instead of 2.5-5 (drawn among the 4th to 10th
    most popular, from their own random stream: the other streamers do not change)."""

    def __post_init__(self):
        for ok, rule in ((isinstance(self.seed, int) and self.seed >= 0, "seed is an int >= 0"),
                         (self.scale > 0, "scale > 0"),
                         (1 <= self.n_streamers <= 16384, "n_streamers in 1..16384"),
                         (self.interval >= 10 and DAY % self.interval == 0,
                          "interval >= 10 divides 86400"),
                         (self.n_bots >= 0, "n_bots >= 0"),
                         (0 <= self.view_botted <= max(0, min(7, self.n_streamers - 3)),
                          "view_botted in 0..7, among the 4th to 10th streamers")):
            if not ok:
                raise ConfigError(f"bad audience config ({rule} is required): {self}")


def _jittered(base: np.ndarray, base_len: np.ndarray, rng, n: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """One day's start (seconds after midnight) and length of each streamer's stream: its
    habits jittered by the day's random stream (its first draws)."""
    start = np.clip(base * 3600 + rng.normal(0, 1800, n), 0, DAY - 1800).astype(np.int64)
    length = np.clip(base_len * 3600 + rng.normal(0, 1800, n), 5400, 36000).astype(np.int64)
    return start, length


def _syllables(x: np.ndarray, k: int) -> np.ndarray:
    """k syllables spelling the base-128 digits of x (uniquely decodable)."""
    out = _SYLL[x & 127]
    for d in range(1, k):
        out = np.strings.add(out, _SYLL[(x >> (7 * d)) & 127])
    return out


def viewer_logins(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Logins and numeric user ids of viewers ``0..n-1`` (seed- and scale-independent).

    Core: 3 syllables of a bijective scramble p of i (plus a 4th syllable for ~35 %),
    or 5 syllables of i itself past 2**21 viewers: the syllable count separates the
    classes and p is unique inside one, so cores are distinct.  The decoration never
    starts with a vowel, so it cannot extend the core: logins are distinct."""
    i = np.arange(n, dtype=np.int64)
    m = (1 << 21) - 1
    p = (i * 0x9E3B5 + 0x2A1F3) & m  # odd multiplier: a bijection of [0, 2**21)
    p ^= p >> 11
    p = (p * 0x5BD1B) & m
    h = (i * 0x2545F491 + 0x1234567) % 1000003
    kind, r = h % 100, h // 100
    core = _syllables(p, 3).astype("<U15")
    four = (r % 20) < 7
    core[four] = _syllables(p[four] | ((r[four] % 128) << 21), 4)
    big = i > m
    if big.any():
        core[big] = _syllables(i[big], 5)
    deco = np.full(n, "", dtype="<U12")
    w = _VIEWER_WORDS[r % len(_VIEWER_WORDS)]
    for lo, hi, val in ((25, 45, (r % 100).astype("<U4")),
                        (45, 60, (1985 + r % 25).astype("<U4")),
                        (60, 80, w),
                        (80, 90, np.strings.add("_", (r % 1000).astype("<U4"))),
                        (90, 100, np.strings.add(w, (r % 100).astype("<U4")))):
        sel = (kind >= lo) & (kind < hi)
        deco[sel] = val[sel]
    ids = 100_000_000 + (i * 2654435761) % (1 << 29)  # bijection: distinct stable ids
    return np.strings.add(core, deco), ids


class AudienceModel:
    """One simulated UTC day; see the module docstring for the model."""

    def __init__(self, config: AudienceConfig, day: str):
        try:
            date = _dt.date.fromisoformat(day) if len(day) == 10 else None
        except (TypeError, ValueError):
            date = None
        if date is None:
            raise ConfigError(f"day must be YYYY-MM-DD, got {day!r}")
        self.config, self.day = config, day
        self.day_start = int(_dt.datetime(date.year, date.month, date.day,
                                          tzinfo=_dt.timezone.utc).timestamp())
        self._ordinal = date.toordinal()
        self._cache: tuple | None = None
        pop = np.random.default_rng([config.seed, 0])
        day_rng = np.random.default_rng([config.seed, 1, self._ordinal])
        self._build_streamers(pop, day_rng)
        self._build_viewers(pop)
        self._build_stays(day_rng)
        self._build_ticks(np.random.default_rng([config.seed, 2, self._ordinal]))

    # ---------------------------------------------------------------- building
    def _build_streamers(self, pop, rng):
        c, n = self.config, self.config.n_streamers
        cores = pop.choice(128 * 128, n, replace=False)
        deco = pop.integers(0, len(_STREAMER_DECOS), n)
        self.streamer_logins = [str(_SYLL[x >> 7] + _SYLL[x & 127]) + _STREAMER_DECOS[k]
                                for x, k in zip(cores.tolist(), deco.tolist())]
        self.streamer_ids = [str(10_000_000 + (s * 7919 + 17) % (1 << 23)) for s in range(n)]
        rank = np.arange(1, n + 1)
        w = rank ** -1.1
        self._popularity = w / w.sum()
        self._ratio = pop.uniform(2.5, 5.0, n)  # viewer_count / chatter count
        if c.view_botted:
            botted = np.random.default_rng([c.seed, 4])
            chosen = botted.choice(np.arange(3, min(10, n)), c.view_botted, replace=False)
            self._ratio[chosen] = botted.uniform(15.0, 25.0, c.view_botted)
        self.view_botted = sorted(self.streamer_logins[s] for s in
                                  (chosen.tolist() if c.view_botted else []))
        mode = pop.random(n)
        base = np.where(mode < 0.15, pop.normal(9, 1.2, n),
                        np.where(mode < 0.88, pop.normal(16, 2.5, n), pop.normal(21.5, 1, n)))
        base_len = np.minimum(2 + pop.gamma(2.0, 1.4, n), 10)
        start, length = _jittered(base, base_len, rng, n)
        # yesterday's streams, jittered as yesterday: a late one still on this morning keeps
        # its started_at, so a broadcast over midnight is one broadcast across both days
        before, before_length = _jittered(base, base_len, np.random.default_rng(
            [c.seed, 1, self._ordinal - 1]), n)
        self._games = [_GAMES[k] for k in rng.integers(0, len(_GAMES), n)]
        self._titles = [_TITLES[k] for k in rng.integers(0, len(_TITLES), n)]
        seg = []  # (streamer, start, end, started_at) relative to day_start
        for s in range(n):
            a, b = int(before[s]), int(before[s] + before_length[s])
            if b > DAY + 1800:  # wraps: yesterday's stream is still on this morning
                seg.append((s, 0, b - DAY, a - DAY))
            a, b = int(start[s]), int(start[s] + length[s])
            seg.append((s, a, min(b, DAY), a))
        arr = np.array(seg, dtype=np.int64)
        self._seg_s, self._seg_a, self._seg_b, self._seg_started = arr.T
        self.bot_logins = sorted(_BOTS[: c.n_bots] + [
            f"chatbot_{k}" for k in range(max(0, c.n_bots - len(_BOTS)))])
        self.bot_ids = [str(1_000_000 + k) for k in range(c.n_bots)]

    def _build_viewers(self, pop):
        n = self.n_viewers = max(1, round(VIEWERS_AT_SCALE_1 * self.config.scale))
        logins, ids = viewer_logins(n)
        order = np.argsort(logins, kind="stable")
        self._logins = logins[order].astype(object)
        self._ids_num = ids[order]
        self._ids: np.ndarray | None = None
        nfav = pop.choice(3, n, p=[0.5, 0.3, 0.2]) + 1
        fav = pop.choice(self.config.n_streamers, (n, 3), p=self._popularity)
        fav[:, 1] = np.where(nfav > 1, fav[:, 1], fav[:, 0])
        fav[:, 2] = np.where(nfav > 2, fav[:, 2], fav[:, 1])
        self._fav, self._nfav = fav, nfav

    def _build_stays(self, rng):
        n, iv = self.n_viewers, self.config.interval
        engagement = rng.lognormal(0.0, 1.0, n)
        counts = 1 + rng.poisson(EXTRA_STAYS * engagement / engagement.mean())
        v = np.repeat(np.arange(n, dtype=np.int32), counts)
        m = len(v)
        slot = np.where(rng.random(m) < 0.55, 0, rng.integers(0, 6, m) % self._nfav[v])
        s = self._fav[v, slot]
        first = np.searchsorted(self._seg_s, np.arange(self.config.n_streamers))
        nseg = np.bincount(self._seg_s, minlength=self.config.n_streamers)
        seglen = self._seg_b - self._seg_a
        g = first[s]
        two = nseg[s] == 2
        total = seglen[g] + np.where(two, seglen[np.minimum(g + 1, len(seglen) - 1)], 0)
        g = g + (two & (rng.random(m) * total >= seglen[g]))
        long = rng.random(m) < 0.25
        dur = np.where(long, rng.lognormal(np.log(6600), 0.7, m),
                       rng.lognormal(np.log(720), 0.8, m))
        dur = np.minimum(np.maximum(dur.astype(np.int64), iv + 6), seglen[g])
        start = self._seg_a[g] + (rng.random(m) * (seglen[g] - dur + 1)).astype(np.int64)
        order = np.argsort(start, kind="stable")
        self._st_start = start[order].astype(np.int32)
        self._st_end = (start + dur)[order].astype(np.int32)
        self._st_key = (s.astype(np.int64) * n + v)[order]  # streamer * n + viewer
        self._max_dur = int(dur.max())

    def _build_ticks(self, rng):
        iv = self.config.interval
        k = DAY // iv
        rel = np.arange(k, dtype=np.int64) * iv + rng.integers(0, 6, k)
        keep = np.ones(k, dtype=bool)
        if self.config.gaps and k > 4:
            span = min(k - 2, max(1, -(-int(rng.integers(20, 61)) * 60 // iv)))
            at = int(rng.integers(1, k - span))
            keep[at: at + span] = False
            free = np.flatnonzero(keep)
            keep[rng.choice(free, min(2, len(free) - 1), replace=False)] = False
        self._ticks = (self.day_start + rel[keep]).tolist()

    # ---------------------------------------------------------------- queries
    def _rel(self, ts: int) -> int:
        t = int(ts) - self.day_start
        if not 0 <= t < DAY:
            raise ConfigError(f"ts {ts} is not within day {self.day}")
        return t

    def _snapshot(self, t: int):
        """(live segment indices, sorted unique keys, key bounds per live segment) at t."""
        if self._cache is not None and self._cache[0] == t:
            return self._cache[1]
        live = np.flatnonzero((self._seg_a <= t) & (t < self._seg_b))
        lo = np.searchsorted(self._st_start, t - self._max_dur, "right")
        hi = np.searchsorted(self._st_start, t, "right")
        act = np.flatnonzero(self._st_end[lo:hi] > t) + lo
        keys = np.sort(self._st_key[act])  # a viewer's overlapping stays count once
        keys = keys[np.concatenate((keys[:1] == keys[:1], keys[1:] != keys[:-1]))]
        n = self.n_viewers
        s = self._seg_s[live]
        bounds = np.searchsorted(keys, np.stack([s * n, (s + 1) * n]))
        snap = (live, keys, bounds)
        self._cache = (t, snap)
        return snap

    def timestamps(self) -> list[int]:
        """Sample timestamps of the day (after gaps), sorted."""
        return list(self._ticks)

    def _live(self, ts: int) -> list[tuple[dict, np.ndarray]]:
        """(Helix-like record, sorted viewer indices) per live stream, by viewers."""
        live, keys, bounds = self._snapshot(self._rel(ts))
        out = []
        for j, g in enumerate(live.tolist()):
            s = int(self._seg_s[g])
            viewers = keys[bounds[0, j]: bounds[1, j]] % self.n_viewers
            count = len(viewers) + self.config.n_bots
            started = _dt.datetime.fromtimestamp(self.day_start + int(self._seg_started[g]),
                                                 _dt.timezone.utc)
            login = self.streamer_logins[s]
            rec = {"user_id": self.streamer_ids[s], "user_login": login,
                   "user_name": login.capitalize(), "type": "live",
                   "viewer_count": int(count * self._ratio[s]) + s % 7,
                   "title": self._titles[s], "game_name": self._games[s],
                   "language": self.config.language,
                   "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "chatter_count": count}
            out.append((rec, viewers))
        out.sort(key=lambda r: (-r[0]["viewer_count"], r[0]["user_login"]))
        return out

    def live_streams(self, ts: int) -> list[dict]:
        """Helix-like stream records live at ``ts`` (any second of the day), most
        viewers first: user_id, user_login, user_name, type, viewer_count, title,
        game_name, language, started_at, chatter_count."""
        return [rec for rec, _ in self._live(ts)]

    def _lists(self, viewers: np.ndarray, with_ids: bool):
        logins = self._logins[viewers].tolist()
        ids = self._id_strings()[viewers].tolist() if with_ids else None
        for b, bid in zip(self.bot_logins, self.bot_ids):
            k = bisect.bisect_left(logins, b)
            logins.insert(k, b)
            if ids is not None:
                ids.insert(k, bid)
        return logins, ids

    def chatters(self, ts: int, streamer: str) -> list[str]:
        """Clean, sorted logins (viewers and bots) in ``streamer``'s chat at ``ts``
        (any second of the day); [] when the streamer is offline or unknown."""
        for rec, viewers in self._live(ts):
            if rec["user_login"] == streamer:
                return self._lists(viewers, False)[0]
        return []

    def sample_at(self, ts: int) -> dict:
        """The contract-v1 sample for timestamp ``ts`` (normally one of timestamps())."""
        c = self.config
        t = self._rel(ts)
        rng = np.random.default_rng([c.seed, 3, self._ordinal, t]) if c.dirty else None
        streams = {}
        for rec, viewers in self._live(ts):
            chat, ids = self._lists(viewers, c.with_ids)
            if rng is not None:
                _dirty(chat, ids, rng)
            entry = {k: rec[k] for k in _STREAM_FIELDS}
            entry["chatters"] = chat
            if ids is not None:
                entry["chatter_ids"] = ids
            streams[rec["user_login"]] = entry
        return {"version": 1, "ts": int(ts), "source": "sim", "streams": streams}

    def samples(self) -> Iterator[dict]:
        """All samples of the day in ts order."""
        for ts in self._ticks:
            yield self.sample_at(ts)

    def _id_strings(self) -> np.ndarray:
        if self._ids is None:
            self._ids = self._ids_num.astype("<U12").astype(object)
        return self._ids

    def users(self) -> dict[str, str]:
        """login -> user_id of every account: viewers, streamers and bots."""
        out = dict(zip(self._logins.tolist(), self._id_strings().tolist()))
        out.update(zip(self.streamer_logins, self.streamer_ids))
        out.update(zip(self.bot_logins, self.bot_ids))
        return out


def _dirty(chat: list[str], ids: list[str] | None, rng) -> None:
    """Dirty ~DIRTY_RATE of ``chat`` in place; strip().lower() + dedupe + drop invalid
    restores the clean list.  Kinds: UPPER, MiXed, padded, duplicate, and extra invalid
    entries (too long, '-', '!', empty) whose ids (with_ids) are "0"."""
    for _ in range(int(rng.binomial(len(chat), DIRTY_RATE))):
        k = int(rng.integers(0, len(chat)))
        clean = chat[k]
        kind = int(rng.integers(0, 8))
        extra = None
        if kind == 0:
            chat[k] = clean.upper()
        elif kind == 1:
            chat[k] = "".join(ch.upper() if n % 2 else ch for n, ch in enumerate(clean))
        elif kind == 2:
            pad = ("\t", " ", "\t ")[int(rng.integers(0, 3))]
            chat[k] = " " * int(rng.integers(1, 3)) + clean + pad
        elif kind == 3:
            extra, eid = chat[k], (ids[k] if ids is not None else None)
        else:
            extra = (clean * 4 + "_x" * 13, clean[:2] + "-" + clean[2:], clean + "!", "")[kind - 4]
            eid = "0"
        if extra is not None:
            at = int(rng.integers(0, len(chat) + 1))
            chat.insert(at, extra)
            if ids is not None:
                ids.insert(at, eid)


def write_day(samples_root: Path, day: str, config: AudienceConfig) -> list[Path]:
    """Write the day's samples to ``samples_root/<day>/<ts>.json`` atomically
    (temp file in the same folder, fsync, os.replace); return the paths in ts order."""
    model = AudienceModel(config, day)
    folder = Path(samples_root) / day
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in model.samples():
        paths.append(atomic_write(folder / f"{sample['ts']}.json", orjson.dumps(sample),
                                  durable=False))
    fsync_dir(folder)
    return paths
