"""Personal data done right: collect no more than needed, keep it no longer than needed,
erase a person from every copy on request, share research data without names.

Owns, in two layers (docs/privacy.md says what each changes for an operator):

- the base, which every stage may import (it imports only ``files``, ``samples``, ``errors``):
  ``modes.py`` (the data folder is its owner's alone: umask 077, 0700/0600, tightening),
  ``keys.py`` (the pseudonym key from the environment, the folder's own key),
  ``pseudonyms.py`` (keyed hashes that still match the login rule, collision watch),
  ``suppression.py`` (the list of erased viewers, as keyed hashes), and ``policy.py``
  (what the collector and ``import_tmi`` do to each chatter list before a sample is
  written: suppression and pseudonymous mode);
- the tools, which read and rewrite the stages' files and so import them:
  ``erase.py`` (``tpdask erase``: the steps, kill-safe through ``journal.py``), with
  ``scrub.py`` (samples, quarantine, archive members), ``erase_lake.py`` (the lake's
  Parquet tables), ``erase_analysis.py`` (the analyser's contributions and state);
  ``retention.py`` and ``prune.py`` (``tpdask prune``: the retention settings applied);
  ``sessions.py`` (``tpdask export sessions``: the research export without names).

Reads: the environment (``TPDASK_PSEUDONYM_KEY``, ``TPDASK_PSEUDONYM_KEY_FILE``), and for
the tools every folder of the data folder and the store. Writes ``<data_dir>/privacy/``
(``folder.key``, ``suppressed.txt``, ``pseudonymous.json``, ``erase/`` journals), and the
tools rewrite or delete what the other stages wrote.

Open first: ``policy.py`` (what reaches the disk), then ``erase.py`` and ``prune.py``.
"""
