"""Progress messages: every long-running piece takes a `log` callable; the default prints
to standard error, tests pass one that collects or ignores."""

from __future__ import annotations

import sys
from typing import Callable

Log = Callable[[str], None]


def print_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
