"""The website (`tpdask web`): operators and visitors see the data, viewers anonymised.

Reads the store (results, viewer-days, statuses, the job ledger), the lake's ``times`` and
the running jobs' announcements; writes only its own ``<data_dir>/web/site.sqlite``
(accounts, sessions, the login throttle). Open first ``app`` and ``data``. Modules, one
idea each: ``app`` (routes, sessions on requests, security headers),
``server`` (uvicorn on a pre-bound socket), ``data`` (what the pages show, cached per data
version), ``profile`` (a viewer's anonymised profile), ``pseudonyms`` (AES-SIV tokens),
``accounts`` (site users, scrypt), ``sessions`` (sessions and the login throttle),
``sitedb`` (``<data_dir>/web/site.sqlite`` and the server secret), ``render`` (Jinja2 and
the charts' JSON blocks). Its benchmark is ``tpdask/bench/web.py`` (`tpdask bench web`).
See docs/web.md.
"""
