"""The privacy commands: erase (a viewer, everywhere) and prune (the retention settings)."""

from __future__ import annotations

from tpdask.cli.base import Commands


class PrivacyCommands(Commands):
    def erase(self, login: str, archives: bool = False) -> None:
        """Erase the viewer LOGIN from every copy, and keep it out of later runs.

        Removes it from the loose samples, the quarantine, the lake (each day it is in gets
        a new run: `tpdask analyse` then makes every result that read the day again), the
        analyser's files and every store collection; --archives also rewrites the raw
        archives (verified against a new manifest, then swapped in). Its keyed hash goes on
        the suppression list first: collect, import_tmi and process leave it out from then
        on. In pseudonymous mode the login is hashed with the key. A run that was killed,
        started again with the same LOGIN, finishes the job. Prints what it removed where.
        """
        from tpdask.privacy.erase import erase

        report = erase(self._config(), str(login), archives=bool(archives))
        print(report.text(str(login).strip().lower()))

    def prune(self, dry_run: bool = False) -> None:
        """Delete what the retention settings no longer keep, and say what went.

        retention_archive_days (raw samples, archives, quarantine), retention_lake_days
        (the lake and the analyser's files of a day, its bots) and retention_store_days
        (the store's viewer-day records, and accounts no record names any more): a day goes
        when it is more than that many days before today (UTC); 0 keeps for ever (the
        default). A day's streamer statistics stay. --dry_run only says what would go.
        """
        from tpdask.privacy.prune import prune

        print(prune(self._existing_config(), dry_run=bool(dry_run)).text())
