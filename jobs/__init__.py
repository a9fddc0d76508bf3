"""The Dask jobs: each module builds a plan of small task objects from tpdask's pieces."""
