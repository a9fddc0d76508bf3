"""Operations: the health of an install, judged as an operator would (``tpdask status``,
and the verdict at the top of the website's dashboard).

Owns: the health checks and their rules (thresholds are settings: ``health_*`` in
:mod:`tpdask.settings`), the verdict (ok / warning / failing, with reasons) and its text.
Reads: ``samples/`` (the newest sample, ticks missed), ``archive/`` (sizes, and the
manifests' member names: archived samples), ``lake/viewer_days/`` (which days were
processed), ``quarantine/``, ``tmp/running/`` (jobs running now), the store (days,
analysed days, accounts, its size, the job ledger) and the data folder's free disk space.
Writes: nothing.

Open first ``health.py``: :func:`check_health` runs every check and gives a
:class:`Health` (verdict, reasons, facts); then ``collection.py`` (what the data folder
holds), ``ledger.py`` (the last run of each stage per day), ``text.py`` (the human
output). The rules are documented in docs/operations.md, "Reading the health output".
"""

from tpdask.ops.health import EXIT_CODES, LEVELS, Check, Health, Reason, check_health, verdict_of
from tpdask.ops.text import health_text

__all__ = ["EXIT_CODES", "LEVELS", "Check", "Health", "Reason", "check_health", "health_text",
           "verdict_of"]
