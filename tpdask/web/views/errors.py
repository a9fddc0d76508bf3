"""The answers to errors raised while answering: HTTP errors (a bad request value, an
unknown URL, a method a route does not take) and a store that cannot be read (503).

They answer in the asker's form (JSON under ``/api/``, else the error page); the page
keeps the navigation bar of the asker's session (read here, on the thread pool), so a
mistyped URL is not a dead end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tpdask.errors import StoreError
from tpdask.web.answers import error, is_api
from tpdask.web.auth import session_of
from tpdask.web.sessions import Session


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error(request, exc.status_code, str(exc.detail), await _session(request))


async def store_error(request: Request, exc: StoreError) -> Response:
    return error(request, 503, "the store cannot be read right now; try again soon",
                 await _session(request))


async def _session(request: Request) -> Session | None:
    """The asker's session for the error page's nav (None for data answers, which have
    none, and when the site database cannot say)."""
    if is_api(request):
        return None
    try:
        return await run_in_threadpool(session_of, request)
    except Exception:  # noqa: BLE001 - an error page must not fail for want of a nav
        return None


#: Starlette's ``exception_handlers``.
HANDLERS: dict[Any, Callable[[Request, Any], Awaitable[Response]]] = {
    HTTPException: http_error, StoreError: store_error}
