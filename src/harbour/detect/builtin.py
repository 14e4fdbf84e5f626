"""Loads the built-in detectors and any third-party ones.

Built-ins register themselves on import through ``framework.register`` — the same call a third-party
package makes from the module it names in the ``harbour.detectors`` entry-point group::

    [project.entry-points."harbour.detectors"]
    my_detectors = "my_package.detectors"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from harbour.detect.framework import REGISTRY, Registry

BUILTIN_PACKAGES = ("harbour.detect.market", "harbour.detect.aml")
_loaded = False


def load_detectors() -> Registry:
    """Import every built-in and plug-in detector module once; return the registry."""
    global _loaded
    if not _loaded:
        for name in BUILTIN_PACKAGES:
            importlib.import_module(name)
        for ep in entry_points(group="harbour.detectors"):
            importlib.import_module(ep.value)
        _loaded = True
    return REGISTRY
