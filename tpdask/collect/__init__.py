"""Collection: who is in the tracked Twitch chats, one sample file per interval.

Owns the always-on collector, the Twitch Helix/OAuth client, the presence sources (helix,
irc, tmi, sim), the Twitch credentials, and the import of old tmi chatters dumps.
Reads Twitch (or the built-in simulator) and old dump folders; writes
``samples/<day>/<ts>.json`` (sample contract v1, :mod:`tpdask.samples`).
Open first: ``collector.py`` (the tick loop), then ``sources/`` (what each source sees)
and ``twitch.py`` (rate limits, back-off, token renewal in one place).
"""
