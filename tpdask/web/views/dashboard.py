"""``/`` and ``/api/dashboard``: the state of the collection, the jobs and the archives."""

from __future__ import annotations

from starlette.requests import Request

from tpdask.web.answers import Answer
from tpdask.web.auth import signed_in
from tpdask.web.site import site_of


def dashboard(request: Request) -> Answer:
    """Counts, per-day series, the last job runs and the jobs running now (their Dask
    dashboard links and their reports' text only for admins)."""
    return "dashboard.html", site_of(request).data.dashboard(signed_in(request).admin)
