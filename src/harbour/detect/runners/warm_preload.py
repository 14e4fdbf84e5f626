"""Imported by the runner's forkserver (see warm_workers): importing it loads the detectors and their compiled
kernels into the server, so every worker forked from it starts warm. Not meant to be imported anywhere else."""

from harbour.detect.runners.warm_workers import preload

LOADED = preload()
