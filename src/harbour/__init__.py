"""Harbour: supervision of virtual-asset trading platforms."""

__version__ = "0.1.0"
