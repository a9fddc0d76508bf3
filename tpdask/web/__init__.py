"""The website (`tpdask web`): operators and visitors see the data, viewers anonymised.

Reads the store (results, viewer-days, statuses, the job ledger), the lake's ``times``,
the archives' sizes and the running jobs' announcements; writes only its own
``<data_dir>/web/`` (``site.sqlite``: accounts, sessions, the login throttle; and the
server secret). Open first ``routes`` (every URL, its view and who may see it), then
``views/`` and ``data``.

Modules, one idea each: ``app`` (builds the ASGI app from the route table), ``routes``
(the route table, and the checks before a view runs), ``views/`` (the views, one module
per page group), ``auth`` (sessions on requests, role checks, logging in and out, the
throttle), ``middleware`` (the security headers), ``answers`` (reading request values;
pages, JSON and errors), ``site`` (the state every view reads), ``server`` (uvicorn on a
pre-bound socket), ``data`` (what the pages show, cached per data version), ``profile``
(a viewer's anonymised profile), ``pseudonyms`` (AES-SIV tokens), ``accounts`` (site
users, scrypt), ``sessions`` (the sessions and login failures tables), ``sitedb``
(``site.sqlite`` and the server secret), ``render`` (Jinja2 and the charts' JSON blocks).
Its benchmark is ``tpdask/bench/web.py`` (`tpdask bench web`). See docs/web.md.
"""
