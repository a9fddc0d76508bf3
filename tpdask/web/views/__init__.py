"""The site's views, one module per page group; :mod:`tpdask.web.routes` maps URLs to them.

A view is a plain function of the request. It reads what it needs from the site's state
(:func:`tpdask.web.site.site_of`: the store, the page data, the pseudonyms, the settings)
and from the session the route's access check let in (:func:`tpdask.web.auth.signed_in`),
validates every request value before any store read, and returns either a response or
``(template, data)``: the route renders the template with ``data`` for a page and returns
``data`` as JSON under ``/api/``, so a page and its data answer never differ (``data``
None answers 404). Views of pages run on Starlette's thread pool, where the SQLite store
gives each thread its own connection; the log-in views, which read forms, are async.

- :mod:`.dashboard`: ``/`` — collection, jobs, archives, accounts
- :mod:`.streamers`: ``/streamers``, ``/streamers/{login}``
- :mod:`.overlap`: ``/overlap`` — the overlap network of a period
- :mod:`.bots`: ``/bots`` — bots and account statuses
- :mod:`.viewers`: ``/viewers/random``, ``/viewers/{token}``, ``/lookup`` (admins)
- :mod:`.login`: ``/login`` (form and post), ``/logout``
- :mod:`.errors`: the answers to HTTP errors and to a store that cannot be read
"""
