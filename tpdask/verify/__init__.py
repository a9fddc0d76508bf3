"""The verifier: which accounts seen in the chats still exist (the account status contract).

It owns the accounts' statuses: ``verify`` adds the viewers of the published days to the
store's accounts (with the user ids the lake's ``chatter_ids`` table gives), checks them
through Helix ``users`` — never-checked first, then the longest unchecked; 100 keys a
call, ``login=`` first, ``id=`` for those not found by login whose id is known — and
keeps each status (``active``, ``renamed``, ``gone``) and every change in a history that
follows the user id. ``export_status`` writes the statuses as JSON lines;
``account_history`` reads an account's history. Its benchmark is
``tpdask/bench/verify.py``.

Reads the published days' viewers (store) and their user ids (the lake's ``chatter_ids``),
and Twitch (or the simulator); writes the accounts, their statuses and history, and the
job ledger, in the store. Open first: run.py (the run: sync, calls, ledger), resolve.py
(what a call asks, what its answer means), export.py (JSON lines, history). The store
side is tpdask/stores/accounts_sqlite.py and accounts_mongo.py.
"""

from tpdask.verify.export import account_history, export_status
from tpdask.verify.run import check_limit, verify, verify_lock

__all__ = ["account_history", "check_limit", "export_status", "verify", "verify_lock"]
