"""Progress of long commands on standard error: a bar on a terminal, timestamped lines
otherwise (a systemd journal, a file, a pipe), nothing when asked.

One place decides how, :func:`mode`: the ``progress`` setting (``--progress``, else
``TPDASK_PROGRESS``, else ``auto``); ``auto`` draws bars when standard error is a terminal
and writes plain lines otherwise.

- ``bars``: a tqdm bar per phase; messages are written above the bars (``tqdm.write``),
  so they never break one.
- ``lines``: every message and progress line starts with the UTC time
  (``2026-12-04T05:12:03Z``); a phase writes a line when it starts and when it ends, and
  in between when it crosses a tenth of its total or advanced for :data:`LINE_SECONDS`,
  but never sooner than :data:`LINE_GAP` after its last line: a quick phase writes two
  lines, a long one a dozen plus one a minute, however many tasks it has.
- ``off``: no progress; messages as plain lines, as before progress existed.

A long-running piece reports through the ``log`` it was given (see :mod:`tpdask.log`)::

    from tpdask.log import progress
    with progress(log, "invert+write", total=len(tasks)) as bar:
        for task in tasks:
            ...
            bar.update()            # or bar.update(nbytes), bar.note("12 gone")

With the default log (:data:`tpdask.log.print_log`, a :class:`StderrLog`) that draws a
bar or writes lines as above; with any other callable (a test's ``list.append``, a quiet
``lambda m: None``) it sends that callable a plain ``"  label: done/total"`` message every
tenth of the total, as the executors always did.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

from tpdask.settings import BY_NAME

#: the environment variable of the ``progress`` setting (:data:`tpdask.settings.SETTINGS`)
ENV = BY_NAME["progress"].env

#: in lines mode, a phase that advances writes a line at least this often, seconds
LINE_SECONDS = 60.0
#: ... and never two lines closer than this (but its last), seconds
LINE_GAP = 5.0

_chosen: str | None = None        # the command line's choice (set by the CLI)
_write_lock = threading.Lock()


def choose(value: str | None) -> None:
    """Record the command's ``progress`` setting (None: back to the environment's)."""
    global _chosen
    _chosen = value


def mode() -> str:
    """"bars", "lines" or "off" for this process now (``auto`` resolved against stderr)."""
    chosen = _chosen or os.environ.get(ENV, "").strip().lower() or "auto"
    if chosen in ("bars", "lines", "off"):
        return chosen
    return "bars" if _is_terminal(sys.stderr) else "lines"   # auto (or a value refused
                                                              # by the CLI already)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


def _size(stream) -> tuple[int, int]:
    """(columns, lines) of the terminal ``stream`` is; (0, 0) when not known."""
    try:
        return tuple(os.get_terminal_size(stream.fileno()))
    except (AttributeError, OSError, ValueError):
        return (0, 0)


def stamp(now: float | None = None) -> str:
    """The UTC time as lines mode writes it: ``2026-12-04T05:12:03Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


def amount(value: float, unit: str, scale: float | None = None) -> str:
    """A count as a progress line shows it: bytes in kB, MB or GB (after the size of
    ``scale``, the total: 12.5/297.9 MB), anything else with separators (1,234)."""
    if unit != "B":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    size = value if scale is None else scale
    for factor, name in ((1e9, "GB"), (1e6, "MB")):
        if size >= factor:
            return f"{value / factor:,.1f}" + ("" if scale else f" {name}")
    return f"{value / 1e3:,.1f}" + ("" if scale else " kB")


def byte_unit(total: float | None) -> str:
    return "GB" if (total or 0) >= 1e9 else "MB" if (total or 0) >= 1e6 else "kB"


class Progress:
    """One phase's progress: ``update`` as work is done, ``note`` a short status; closed
    on leaving the ``with`` block. This base class shows nothing (mode ``off``)."""

    def __init__(self, label: str, total: float | None, unit: str = "tasks"):
        self.label, self.total, self.unit = label, total, unit
        self.done: float = 0
        self.text = ""
        self.started = time.monotonic()

    def update(self, n: float = 1) -> None:
        self.done += n

    def note(self, text: str) -> None:
        self.text = text

    def close(self) -> None:
        pass

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BarProgress(Progress):
    """A tqdm bar on standard error; it stays on screen when the phase ends (unless it
    was drawn below another phase's bar, still running)."""

    def __init__(self, label: str, total: float | None, unit: str = "tasks"):
        super().__init__(label, total, unit)
        from tqdm import tqdm

        # a terminal of unknown size (0 x 0: a pty nobody sized) is taken as 80 x 24:
        # tqdm would draw a bar 0 columns wide, or hide it below row 0
        size = {"dynamic_ncols": True} if _size(sys.stderr)[0] else {"ncols": 80}
        self.bar = tqdm(total=total, desc=label, unit=f" {unit}" if unit != "B" else unit,
                        unit_scale=unit == "B", file=sys.stderr, leave=None,
                        mininterval=0.2, nrows=_size(sys.stderr)[1] or 24, **size)

    def update(self, n: float = 1) -> None:
        super().update(n)
        self.bar.update(n)

    def note(self, text: str) -> None:
        super().note(text)
        self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        self.bar.close()


class LineProgress(Progress):
    """Timestamped lines at a bounded rate (see the module's docstring)."""

    def __init__(self, label: str, total: float | None, unit: str = "tasks"):
        super().__init__(label, total, unit)
        self._lock = threading.Lock()
        self._shown = -1.0          # done at the last line written
        self._shown_at = self.started
        self._emit()

    def update(self, n: float = 1) -> None:
        with self._lock:
            before = self.done
            super().update(n)
            now = time.monotonic()
            if self.total and self.done >= self.total > before:
                self._emit(now)                                  # the end
            elif now - self._shown_at >= LINE_GAP and (
                    self._tenth(self.done) > self._tenth(self._shown)
                    or now - self._shown_at >= LINE_SECONDS):
                self._emit(now)

    def close(self) -> None:
        with self._lock:
            if self.done != self._shown:
                self._emit()

    def _tenth(self, done: float) -> int:
        return min(10, int(max(0.0, done) * 10 // self.total)) if self.total else 0

    def _emit(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._shown, self._shown_at = self.done, now
        write_line(self.line(now))

    def line(self, now: float | None = None) -> str:
        """``label: 3/12 tasks (25%), 4.2 s[, note]`` (without the timestamp)."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if self.total:
            unit = byte_unit(self.total) if self.unit == "B" else self.unit
            share = f" ({min(100, int(self.done * 100 // self.total))}%)"
            count = (f"{amount(self.done, self.unit, self.total)}/"
                     f"{amount(self.total, self.unit, self.total)} {unit}{share}")
        elif self.unit == "B":
            count = amount(self.done, self.unit)
        else:
            count = f"{amount(self.done, self.unit)} {self.unit}"
        return f"{self.label}: {count}, {elapsed:.1f} s" + (f", {self.text}" if self.text else "")


class MessageProgress(Progress):
    """For a plain log callable: ``"  label: done/total"`` every tenth of the total."""

    def __init__(self, log: Callable[[str], None], label: str, total: float | None,
                 unit: str = "tasks"):
        super().__init__(label, total, unit)
        self.log = log
        self._step = max(1, int(total or 0) // 10)

    def update(self, n: float = 1) -> None:
        before = self.done
        super().update(n)
        if self.total and (self.done // self._step > before // self._step
                           or self.done >= self.total > before):
            self._say()

    def close(self) -> None:
        if not self.total and self.done:
            self._say()

    def _say(self) -> None:
        if self.unit == "tasks":            # as the executors always said it
            count = f"{int(self.done)}" + (f"/{int(self.total)}" if self.total else "")
        elif self.unit == "B":
            count = (f"{amount(self.done, 'B', self.total)}/{amount(self.total, 'B', self.total)}"
                     f" {byte_unit(self.total)}" if self.total else amount(self.done, "B"))
        else:
            count = (f"{amount(self.done, self.unit)}" + (f"/{amount(self.total, self.unit)}"
                     if self.total else "") + f" {self.unit}")
        self.log(f"  {self.label}: {count}" + (f" ({self.text})" if self.text else ""))


def write_line(message: str) -> None:
    """Write ``message`` to standard error as the mode wants it, one line at a time."""
    how = mode()
    if how == "bars":
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)   # above the bars, which are drawn again
        return
    if how == "lines":
        now = stamp()
        message = "\n".join(f"{now} {line}" for line in message.split("\n"))
    with _write_lock:
        print(message, file=sys.stderr, flush=True)


class StderrLog:
    """The default ``log``: messages, and the progress of phases, on standard error as
    :func:`mode` says. Called like any log; :meth:`progress` starts a phase's progress."""

    def __call__(self, message: str) -> None:
        write_line(message)

    def progress(self, label: str, total: float | None, unit: str = "tasks") -> Progress:
        how = mode()
        if how == "bars":
            return BarProgress(label, total, unit)
        if how == "lines":
            return LineProgress(label, total, unit)
        return Progress(label, total, unit)

    def __repr__(self) -> str:
        return "print_log"


def progress(log: Callable[[str], None], label: str, total: float | None,
             unit: str = "tasks") -> Progress:
    """The progress of one phase of ``total`` ``unit`` (None: not known), shown where
    ``log`` shows things: a bar or timestamped lines for the default log, a few plain
    messages for any other callable."""
    start = getattr(log, "progress", None)
    if start is not None:
        return start(label, total, unit)
    return MessageProgress(log, label, total, unit)
