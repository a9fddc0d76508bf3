"""The answers to errors raised while answering: HTTP errors (a bad request value, an
unknown URL, a method a route does not take) and a store that cannot be read (503).

They answer in the asker's form (JSON under ``/api/``, else the error page), without a
navigation bar: the session is not read for them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tpdask.errors import StoreError
from tpdask.web.answers import error


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error(request, exc.status_code, str(exc.detail))


async def store_error(request: Request, exc: StoreError) -> Response:
    return error(request, 503, "the store cannot be read right now; try again soon")


#: Starlette's ``exception_handlers``.
HANDLERS: dict[Any, Callable[[Request, Any], Awaitable[Response]]] = {
    HTTPException: http_error, StoreError: store_error}
