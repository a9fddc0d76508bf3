"""The analyser: what the viewer-day records are for (the analytics contract).

It owns bot detection per viewer and day, streamer-day statistics (with new and returning
viewers and the streams' Twitch metadata), viewer profiles over every processed day,
audience overlap over a period and the communities of the overlap graph.

How it runs (``jobs/analyse.py``): phase A reads one lake part of a day at a time and
writes the day's *contributions* (per viewer: minutes, hours of day, bot reasons; per
viewer and streamer: minutes), hash-partitioned by viewer into :data:`STATE_BUCKETS`
buckets; phase B merges a bucket's contributions into that bucket's mergeable state
(profile sums, first day of each viewer-streamer pair). Merging is a sum / min / max /
union keyed by day, so days merge in any order, and a day already merged is skipped.

Reads the lake (``viewer_days``, ``streams``, ``times``); writes its contributions and
state under ``lake/analysis/`` and its results (bots, streamer_days, profiles, overlap,
communities) to the store. Open first: ``contributions.py`` (phase A), ``state.py``
(phase B), ``streams.py`` (the streams' metadata), ``overlap.py``; ``reference.py`` is the
plain-Python oracle written from the contract that the tests hold all of it against.
"""

#: Viewer-hash buckets of the analyser's state and contributions (fixed: the state of a
#: viewer must always be found in the same bucket).
STATE_BUCKETS = 16

__all__ = ["STATE_BUCKETS"]
