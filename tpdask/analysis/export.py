"""Exports of the analyser's results, in the contract's order and fields (JSON lines).

`bots` and `streamer_days` of a day and `profiles` are read from the store, where the
analyser keeps them. `overlap` is computed on demand from the analysed days by
``jobs/overlap.py`` (and kept in the store with its communities for the website).
"""

from __future__ import annotations

from collections.abc import Iterator

from tpdask.errors import NoRecordsError
from tpdask.export import write_lines
from tpdask.samples import normalise_login
from tpdask.settings import Config
from tpdask.stores import Store, open_store


def _analysed(store: Store, day: str) -> None:
    if day not in store.result_scopes("streamer_days"):
        raise NoRecordsError(f"{day} is not analysed: `tpdask analyse --day {day}` does it")


def export_day_results(config: Config, kind: str, day: str, out: str | None) -> int:
    """`bots` or `streamer_days` of an analysed day, by viewer or streamer."""
    with open_store(config.store, create=False) as store:
        _analysed(store, day)
        return write_lines((doc for _, _, doc in store.iter_results(kind, day)), out)


def export_profiles(config: Config, viewer: str | None, out: str | None) -> int:
    """Every profile by viewer, or the one of ``viewer`` (normalised like a login)."""
    key = None
    if viewer is not None:
        key = normalise_login(str(viewer))
        if key is None:
            raise NoRecordsError(f"{viewer!r} is not a login (^[a-z0-9_]{{1,25}}$)")
    with open_store(config.store, create=False) as store:
        docs: Iterator = (doc for _, _, doc in store.iter_results("profiles", "", key))
        first = next(docs, None)
        if first is None:
            what = f"of {key}" if key else "at all"
            raise NoRecordsError(f"no profile {what}: `tpdask analyse` builds the profiles")
        return write_lines(_chain(first, docs), out)


def _chain(first: dict, rest: Iterator) -> Iterator[dict]:
    yield first
    yield from rest
