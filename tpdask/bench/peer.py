"""`tpdask bench --peer duckdb`: the same inversion as one DuckDB query, on the same raw day.

Run as its own measured process (``python -m tpdask.bench.peer FOLDER OUT DAY``) so its
wall time and memory are taken the way the job's are. It reads the day's sample files
(loose JSON: DuckDB reads no .7z, so the peer skips the decompression the job does),
normalises and validates every chatter entry as the job does (strip whitespace, lower,
``^[a-z0-9_]{1,25}$``), drops duplicate observations, and applies the inversion rule of
docs/contracts.md: a session is a run of consecutive sample indexes k whose sample times
are at most max_gap apart; samples and minutes per (viewer, streamer) and over their
union per viewer. It writes the viewer-days to one zstd Parquet file shaped as the lake's
(tpdask.process.inversion.LAKE_SCHEMA) and prints its counts as JSON, which the bench checks
against the job's. DuckDB is only in the ``bench`` extra.

The query is tuned: each step is a temp table (the JSON is parsed once), sessions are
islands of ``k - row_number()`` within a gap-free segment of the day's times (one window
function, no lag and running sum), and insertion order is not preserved.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from tpdask.errors import ConfigError
from tpdask.samples import LOGIN_PATTERN

PEERS = ("duckdb",)


def _steps(folder: Path, out: Path, interval: int, max_gap: int) -> list[str]:
    files = str(folder / "*.json").replace("'", "''")
    target = str(out).replace("'", "''")
    per_sample = interval / 60
    return [
        # the day's samples, JSON parsed once; streams is an object keyed by streamer
        f"""CREATE TEMP TABLE samples AS SELECT ts, streams FROM read_json('{files}',
            columns={{'ts': 'BIGINT',
                      'streams': 'MAP(VARCHAR, STRUCT(chatters JSON[]))'}},
            format='auto')""",
        # T: the day's sample times, their index k, and the gap-free segment of each
        f"""CREATE TEMP TABLE times AS
            SELECT ts, k, sum(brk) OVER (ORDER BY k) AS seg FROM (
              SELECT ts, k, CASE WHEN ts - lag(ts) OVER (ORDER BY k) <= {max_gap}
                                 THEN 0 ELSE 1 END AS brk
              FROM (SELECT ts, row_number() OVER (ORDER BY ts) AS k
                    FROM (SELECT DISTINCT ts FROM samples)))""",
        # observations: valid normalised logins (non-strings are invalid), deduplicated
        f"""CREATE TEMP TABLE obs AS
            SELECT DISTINCT ts, streamer, viewer FROM (
              SELECT ts, streamer,
                     lower(regexp_replace(entry ->> '$', '^\\s+|\\s+$', '', 'g')) AS viewer
              FROM (SELECT ts, e.key AS streamer, unnest(e.value.chatters) AS entry
                    FROM (SELECT ts, unnest(map_entries(streams)) AS e FROM samples))
              WHERE json_type(entry) = 'VARCHAR')
            WHERE regexp_full_match(viewer, '{LOGIN_PATTERN[1:-1]}')""",
        """CREATE TEMP TABLE sessions AS
            SELECT viewer, streamer, min(ts) AS s, max(ts) AS e, count(*) AS n FROM (
              SELECT o.viewer, o.streamer, o.ts, t.seg,
                     t.k - row_number() OVER (PARTITION BY o.viewer, o.streamer
                                             ORDER BY t.k) AS island
              FROM obs o JOIN times t USING (ts))
            GROUP BY viewer, streamer, seg, island""",
        f"""CREATE TEMP TABLE pairs AS
            SELECT viewer, streamer, sum(n)::INTEGER AS samples,
                   list([s, e] ORDER BY s) AS sessions
            FROM sessions GROUP BY viewer, streamer""",
        f"""CREATE TEMP TABLE viewers AS
            SELECT viewer, count(DISTINCT ts)::INTEGER AS samples, min(ts) AS first_ts,
                   max(ts) AS last_ts
            FROM obs GROUP BY viewer""",
        f"""COPY (
              SELECT v.viewer, '{{day}}' AS day, v.samples, (v.samples * {per_sample})::DOUBLE AS minutes,
                     v.first_ts, v.last_ts, p.streamers
              FROM viewers v JOIN (
                SELECT viewer, list({{'streamer': streamer, 'samples': samples,
                                      'minutes': (samples * {per_sample})::DOUBLE,
                                      'sessions': sessions}} ORDER BY streamer) AS streamers
                FROM pairs GROUP BY viewer) p USING (viewer)
            ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)""",
    ]


def run_peer(folder: Path, out: Path, day: str, interval: int = 300, max_gap: int = 900,
             threads: int | None = None) -> dict:
    """Invert the day in ``folder`` with DuckDB into ``out``; return its counts."""
    try:
        import duckdb
    except ImportError:
        raise ConfigError("bench --peer duckdb needs DuckDB: pip install -e '.[bench]'") from None
    con = duckdb.connect(config={"preserve_insertion_order": False,
                                 **({"threads": threads} if threads else {})})
    try:
        for step in _steps(folder, out, interval, max_gap):
            con.execute(step.replace("{day}", day))
        counts = {
            "entries": con.execute("SELECT count(*) FROM obs").fetchone()[0],
            "viewers": con.execute("SELECT count(*) FROM viewers").fetchone()[0],
            "sessions": con.execute("SELECT count(*) FROM sessions").fetchone()[0],
            "observations": con.execute("SELECT sum(n) FROM sessions").fetchone()[0],
        }
    finally:
        con.close()
    return {k: int(v or 0) for k, v in counts.items()}


def main(argv: list[str]) -> int:
    folder, out, day = Path(argv[0]), Path(argv[1]), argv[2]
    interval, max_gap = (int(argv[3]), int(argv[4])) if len(argv) > 4 else (300, 900)
    print(orjson.dumps(run_peer(folder, out, day, interval, max_gap)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
