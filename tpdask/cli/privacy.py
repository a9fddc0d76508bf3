"""The privacy commands: erase (a viewer, everywhere)."""

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
