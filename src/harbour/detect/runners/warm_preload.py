"""Imported by the runner's forkserver (see warm_workers): importing it loads the detectors and their compiled
kernels into the server, so every worker forked from it starts warm. Not meant to be imported anywhere else."""

import gc

from harbour.detect.runners.warm_workers import preload

LOADED = preload()
# What the imports made lives as long as the worker: out of the collector's sight, its full collections stop
# walking it (ten bench days in one process: collections 0.69-0.74 -> 0.45-0.47 CPU-s of ~15), and the workers
# forked from the server stop writing to those pages (the collector's bookkeeping), which they then keep sharing.
gc.freeze()
