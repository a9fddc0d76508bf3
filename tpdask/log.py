"""Progress messages: every long-running piece takes a `log` callable; the default prints
to standard error, tests pass one that collects or ignores."""

from __future__ import annotations

import sys
from typing import Callable

Log = Callable[[str], None]


def print_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def count_row(label: str, value: int, suffix: str = "") -> str:
    """One line of a printed report: the label, then the count right-aligned."""
    return f"  {label:<18} {value:>12,}{suffix}"
