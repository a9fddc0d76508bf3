"""Progress messages: every long-running piece takes a `log` callable; the default prints
to standard error, tests pass one that collects or ignores.

The default, :data:`print_log`, writes as the ``progress`` setting says (a timestamp
before each line when standard error is not a terminal; above the bars when it is), and
:func:`progress` gives a phase's progress bar or lines through the same log (see
:mod:`tpdask.progress`).
"""

from __future__ import annotations

import time
from typing import Callable

from tpdask.progress import Progress, StderrLog, progress

Log = Callable[[str], None]

#: The default log: standard error, as :func:`tpdask.progress.mode` says.
print_log = StderrLog()

__all__ = ["Log", "Progress", "print_log", "progress", "count_row", "StepTimer",
           "sum_step_seconds"]


def count_row(label: str, value: int, suffix: str = "") -> str:
    """One line of a printed report: the label, then the count right-aligned."""
    return f"  {label:<18} {value:>12,}{suffix}"


class StepTimer:
    """Seconds per named step of one task, added up into ``seconds`` (a task's report)."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds
        self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        """Charge the time since the last lap to ``step``."""
        now = time.perf_counter()
        self.seconds[step] = round(self.seconds.get(step, 0) + now - self._clock, 3)
        self._clock = now


def sum_step_seconds(reports: list) -> dict[str, float]:
    """The ``seconds`` of many tasks' reports (see StepTimer) added up per step."""
    total: dict[str, float] = {}
    for report in reports:
        for step, seconds in report.seconds.items():
            total[step] = round(total.get(step, 0) + seconds, 2)
    return total
