"""tpdask: Twitch audience measurement on Dask."""

__version__ = "0.1.0"
