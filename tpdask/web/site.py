"""The site's state: the one object every view reads, made once per server process.

:class:`Site` holds the settings, the analytics store (only read), the site database
(accounts, sessions, the login throttle), the server secret, the viewers' pseudonyms and
the page data with its caches (:class:`~tpdask.web.data.SiteData`).
:func:`tpdask.web.app.build_asgi_app` makes one and keeps it as ``app.state.site``; a view
reaches it with :func:`site_of`. The Jinja2 templates are module state of
:mod:`tpdask.web.render`: they do not depend on the settings.
"""

from __future__ import annotations

from starlette.requests import Request

from tpdask.settings import Config
from tpdask.stores import open_store
from tpdask.web.data import SiteData
from tpdask.web.pseudonyms import Pseudonyms
from tpdask.web.sitedb import SiteDB, server_secret


class Site:
    """What every request needs: the store, the site database, the pseudonyms, caches."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = SiteDB(config.data_dir)
        self.secret = server_secret(config.data_dir)
        self.pseudonyms = Pseudonyms(self.secret)
        self.store = open_store(config.store, create=False)
        self.data = SiteData(config, self.store, self.pseudonyms)

    def warm_up(self) -> None:
        """Fill the caches the first pages read (run on a thread as the server starts)."""
        try:
            self.data.warm_up()
        except Exception:  # noqa: BLE001 - a page computes it again, and reports any error
            pass

    def close(self) -> None:
        self.store.close()
        self.db.close()


def site_of(request: Request) -> Site:
    """The site of the application answering ``request``."""
    site: Site = request.app.state.site
    return site
