"""Static files as a browser should get them: cached, revalidated, compressed.

BokehJS alone is about 1 MB; sent again on every page it would dominate a page's time on
a slow link. So:

- **Versioned URLs.** Pages name a static file with :func:`static_url`, which appends
  ``?v=`` and the file's content digest (the site's own files) or bokeh's version
  (BokehJS). A versioned URL never changes content, so its answer carries
  ``Cache-Control: public, max-age=31536000, immutable``; an unversioned one (a favicon
  asked for by the browser itself) ``public, max-age=3600``.
- **Revalidation.** Starlette's ``StaticFiles`` sends ``ETag`` and ``Last-Modified`` and
  answers ``If-None-Match`` / ``If-Modified-Since`` with 304.
- **Compression.** Text files above :data:`MIN_GZIP` bytes go out gzip-compressed to a
  client that accepts it; each file is compressed once per server process and kept in
  memory (the files are the package's, a few MB in all), so an answer costs no CPU. The
  compressed answer's ETag is the weak form of the file's, since its bytes differ.

Pages and data answers are not compressed: they carry CSRF tokens next to text a
request can influence (the BREACH attack), and they are small.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from functools import lru_cache
from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: The site's own static files (bokeh's are served from its package).
STATIC_DIR = Path(__file__).parent / "static"

MIN_GZIP = 1024
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml",
                "application/xml")
FOREVER = "public, max-age=31536000, immutable"
AN_HOUR = "public, max-age=3600"


class CachedStatic(StaticFiles):
    """``StaticFiles`` with Cache-Control and in-memory gzip (module docstring)."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__(directory=directory)
        self._gzipped: dict[tuple[str, int, float], bytes] = {}
        self._lock = threading.Lock()

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code not in (200, 304):
            return response
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["cache-control"] = FOREVER if versioned else AN_HOUR
        if response.status_code != 200 or not isinstance(response, FileResponse):
            return response
        kind = response.headers.get("content-type", "")
        size = int(response.headers.get("content-length", "0"))
        accepts = "gzip" in Headers(scope=scope).get("accept-encoding", "").lower()
        if size < MIN_GZIP or not kind.startswith(COMPRESSIBLE):
            return response
        response.headers["vary"] = "Accept-Encoding"
        if not accepts:
            return response
        stat = response.stat_result
        assert stat is not None
        body = await anyio.to_thread.run_sync(self._compressed, str(response.path),
                                              stat.st_size, stat.st_mtime)
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("content-length", "etag")}
        headers.update({"content-encoding": "gzip",
                        "etag": "W/" + response.headers.get("etag", '""')})
        if scope["method"] == "HEAD":
            return Response(b"", headers={**headers, "content-length": str(len(body))})
        return Response(body, headers=headers)

    def _compressed(self, path: str, size: int, mtime: float) -> bytes:
        key = (path, size, mtime)
        with self._lock:
            found = self._gzipped.get(key)
        if found is None:
            found = gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
            with self._lock:
                self._gzipped[key] = found
        return found


def static_url(name: str) -> str:
    """The versioned URL of a static file: ``site.css`` → ``/static/site.css?v=…``,
    ``bokeh/bokeh.min.js`` → ``/static/bokeh/bokeh.min.js?v=<bokeh version>``."""
    return f"/static/{name}?v={_version(name)}"


@lru_cache(maxsize=64)
def _version(name: str) -> str:
    if name.startswith("bokeh/"):
        import bokeh

        return str(bokeh.__version__)
    path = STATIC_DIR / name
    if ".." in Path(name).parts or not path.is_file():
        raise ValueError(f"no static file {name!r}")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
