"""The bot rules of the analytics contract, applied to what the contributions measured.

The contributions keep, per viewer and day, the two measures the rules read — the day's
samples and the most streams that listed the viewer at one sample — not the verdict. So
the rules (settings ``bot_concurrent``, ``bot_hours``, ``bot_list``) are applied when
results are made, and a change of them never needs the lake read again. Over several
days the same rules on the largest of each measure say whether the viewer was flagged on
any of the days: ``always_on`` on some day ⟺ its largest day's samples reach the hours;
``concurrent`` on some day ⟺ its largest count of streams at one sample exceeds the limit.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tpdask.settings import BotRules

REASONS = ("always_on", "concurrent", "known")      # sorted: the order reasons are listed in


def flags(viewers: pa.Array, samples: np.ndarray, peak_streams: np.ndarray, rules: BotRules,
          interval: int) -> dict[str, np.ndarray]:
    """reason → boolean mask over the viewers."""
    return {
        "always_on": np.asarray(samples, dtype=np.int64) * interval >= rules.hours * 3600,
        "concurrent": np.asarray(peak_streams, dtype=np.int64) > rules.concurrent,
        "known": np.asarray(pc.fill_null(pc.is_in(viewers, value_set=pa.array(
            rules.known, pa.string())), False), dtype=bool),
    }


def is_bot(viewers: pa.Array, samples: np.ndarray, peak_streams: np.ndarray, rules: BotRules,
           interval: int) -> np.ndarray:
    """Boolean mask: flagged by any rule."""
    masks = flags(viewers, samples, peak_streams, rules, interval)
    return masks["always_on"] | masks["concurrent"] | masks["known"]


def reasons(viewers: pa.Array, samples: np.ndarray, peak_streams: np.ndarray, rules: BotRules,
            interval: int) -> list[list[str]]:
    """The sorted reasons of each viewer (an empty list: not a bot)."""
    masks = flags(viewers, samples, peak_streams, rules, interval)
    found: list[list[str]] = [[] for _ in range(len(viewers))]
    for name in REASONS:
        for i in np.flatnonzero(masks[name]).tolist():
            found[i].append(name)
    return found
