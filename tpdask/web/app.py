"""Builds the website's ASGI application: Starlette over the route table, in its middleware.

:func:`build_asgi_app` makes the site's state (:class:`tpdask.web.site.Site`) once per
server process and keeps it as ``app.state.site``, builds the routes from
:data:`tpdask.web.routes.ROUTES`, answers errors with :mod:`tpdask.web.views.errors` and
wraps the whole in the Host header check (:mod:`tpdask.web.hosts`) inside
:class:`tpdask.web.middleware.SecurityHeaders`. While the server starts,
a thread fills the page data's caches; when it stops, the store and the site database
are closed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.types import ASGIApp

from tpdask.settings import Config
from tpdask.web.hosts import HostCheck, allowed_hosts
from tpdask.web.middleware import SecurityHeaders
from tpdask.web.routes import starlette_routes
from tpdask.web.site import Site
from tpdask.web.views.errors import HANDLERS


def build_asgi_app(config: Config, bind_host: str = "127.0.0.1") -> ASGIApp:
    """The site for ``config``: a Starlette application behind the Host check, inside
    the security headers. ``bind_host``: the address the server listens on, which the
    default allowed hosts include (`tpdask web` has resolved them into the setting)."""
    app = Starlette(routes=starlette_routes(), exception_handlers=HANDLERS, lifespan=lifespan)
    app.state.site = Site(config)
    hosts = allowed_hosts(config.web_allowed_hosts, bind_host)
    return SecurityHeaders(HostCheck(app, hosts))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    site: Site = app.state.site
    # the caches fill on a thread while the server already answers
    threading.Thread(target=site.warm_up, daemon=True, name="warm-up").start()
    yield
    site.close()
