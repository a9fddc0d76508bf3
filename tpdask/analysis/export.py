"""Exports of the analyser's results, in the contract's order and fields (JSON lines).

`bots` and `streamer_days` of a day and `profiles` are read from the store, where the
analyser keeps them, and only served while they match their inputs (the lake runs of the
days they read, the settings: :mod:`tpdask.analysis.basis`); out-of-date results are an
error that says what to run (exit 3), never served as current. `overlap` is computed on
demand from the analysed days by ``jobs/overlap.py`` (and kept in the store with its
communities for the website).
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdask.analysis.basis import check_current, inputs_of
from tpdask.analysis.plan import lake_runs
from tpdask.errors import NoRecordsError, StaleResultsError
from tpdask.export import write_lines
from tpdask.privacy.keys import pseudonym_key
from tpdask.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from tpdask.privacy.retention import pruned_lake_days
from tpdask.samples import normalise_login
from tpdask.settings import Config
from tpdask.stores import Store, open_store


def _analysed(store: Store, kind: str, day: str) -> None:
    # the bases first: a small table, where listing the scopes of the results scans them all
    if day not in store.result_bases(kind) and day not in store.result_scopes(kind):
        raise NoRecordsError(f"{day} is not analysed: `tpdask analyse --day {day}` does it")


def export_day_results(config: Config, kind: str, day: str, out: str | None) -> int:
    """`bots` or `streamer_days` of an analysed day, by viewer or streamer."""
    with open_store(config.store, create=False) as store:
        runs = lake_runs(config)
        if day not in runs and day in pruned_lake_days(store):
            if kind == "bots":
                raise NoRecordsError(f"the bots of {day} were deleted with its lake "
                                     "(retention_lake_days): they named viewers")
            # a streamer's statistics outlive the records they were made from (docs/privacy.md)
            return write_lines((doc for _, _, doc in store.iter_results(kind, day)), out)
        _analysed(store, kind, day)
        if day not in runs:
            raise StaleResultsError(f"{day} is not in the lake any more: its {kind} describe "
                                    f"data that is gone; `tpdask process --day {day}` brings "
                                    "it back from its archive")
        inputs = inputs_of(config, runs)
        current = inputs.bots(day) if kind == "bots" else inputs.streamer_days(day)
        check_current(store, kind, day, current, f"the {kind} of {day}",
                      f"tpdask analyse --day {day}")
        return write_lines((doc for _, _, doc in store.iter_results(kind, day)), out)


def export_profiles(config: Config, viewer: str | None, out: str | None) -> int:
    """Every profile by viewer, or the one of ``viewer`` (normalised like a login; in
    pseudonymous mode a login is looked up by its pseudonym)."""
    key = None
    if viewer is not None:
        key = normalise_login(str(viewer))
        if key is None:
            raise NoRecordsError(f"{viewer!r} is not a login (^[a-z0-9_]{{1,25}}$)")
        secret = pseudonym_key()
        if secret is not None and not is_pseudonym(key):
            key = Pseudonymizer(secret).pseudonym(key)
    with open_store(config.store, create=False) as store:
        docs: Iterator = (doc for _, _, doc in store.iter_results("profiles", "", key))
        first = next(docs, None)
        if first is None:
            what = f"of {key}" if key else "at all"
            raise NoRecordsError(f"no profile {what}: `tpdask analyse` builds the profiles")
        runs = lake_runs(config)
        retry = f"tpdask analyse --day {max(runs)}" if runs else "tpdask analyse"
        check_current(store, "profiles", "", inputs_of(config, runs).profiles(),
                      "the profiles", retry)
        return write_lines(_chain(first, docs), out)


def _chain(first: dict, rest: Iterator) -> Iterator[dict]:
    yield first
    yield from rest
