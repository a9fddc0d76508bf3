"""The day job's one store writer: loads the buckets' encoded rows while others still invert.

Phase-2 tasks write each bucket's store rows, already encoded for the backend, as a
part file (:func:`tpdask.process.store_rows.write_store_part`) in ``<scratch>/store/`` under a temp
name and rename it into place. A thread of the job's client watches that folder and
stages each finished part in the store under the run's load id, so the store step runs
on the core a worker leaves free (the client is otherwise idle in phase 2) instead of in
every task, where two workers queued on SQLite's single writer. Readers see nothing of it
until the job publishes the day (:meth:`tpdask.stores.base.Store.publish_day`): a run
killed while the writer works leaves only staged rows, which the next run drops.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tpdask.process.store_rows import PART_SUFFIXES
from tpdask.stores import Store

#: How often the writer looks for new parts while phase 2 runs.
POLL_S = 0.05
#: The test hook: seconds the writer waits after staging its first part (until the job
#: stops it), so a test can kill a run whose rows are staged but surely not published.
HOLD_ENV = "TPDASK_TEST_HOLD_AFTER_FIRST_PART"


class StoreWriter:
    """Stage every part that appears in ``folder`` until :meth:`finish` says no more come."""

    def __init__(self, store: Store, folder: Path, day: str, load: str) -> None:
        self.store, self.folder, self.day, self.load = store, folder, day, load
        self.rows = 0
        self.parts = 0
        self.seconds = 0.0            # time spent staging (reading parts and writing)
        self._done: set[str] = set()
        self._last = threading.Event()
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"store-writer-{day}", daemon=True)

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    def _ready(self) -> list[Path]:
        found = sorted(self.folder.glob("store-*")) if self.folder.is_dir() else []
        # parts only (store_rows.part_name), never a file SQLite might keep beside one
        return [p for p in found
                if p.suffix in PART_SUFFIXES.values() and p.name not in self._done]

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                last = self._last.is_set()     # read before listing: no part is missed
                for path in self._ready():
                    if self._abort.is_set():
                        return
                    started = time.perf_counter()
                    self.rows += self.store.stage_part(self.day, self.load, path)
                    self.seconds += time.perf_counter() - started
                    self.parts += 1
                    self._done.add(path.name)
                    path.unlink()
                    if self.parts == 1 and os.environ.get(HOLD_ENV):
                        self._abort.wait(float(os.environ[HOLD_ENV]))
                if last:
                    return
                self._last.wait(POLL_S)
        except BaseException as exc:           # handed to the job's thread by finish()
            self._error = exc

    def finish(self) -> int:
        """Wait until every part is staged (phase 2 is over); return the rows staged.

        Raises what the writer failed with (a StoreError: the job fails and drops the
        staged rows).
        """
        self._last.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.rows

    def stop(self) -> None:
        """Stop after the part being written (the job failed or was interrupted)."""
        self._abort.set()
        self._last.set()
        if self._thread.ident is not None:      # started (phase 1 may have failed first)
            self._thread.join()
