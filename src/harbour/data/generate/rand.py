"""Deterministic random streams: one independent generator per (seed, purpose, ...) key.

Each piece of the market draws from its own stream, so adding a venue or an incident never shifts the
random numbers of another piece, and the order in which pieces run never matters.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *key: object) -> np.random.Generator:
    """A generator for ``key`` under ``seed``; same inputs, same numbers, on every platform."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=16).digest()
    words = np.frombuffer(digest, dtype="<u4").astype(np.uint64)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(w) for w in words])))


_MASK48 = np.uint64((1 << 48) - 1)


def scramble48(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection on 48-bit integers, so ids stay unique but carry no visible sequence or pattern."""
    x = values.astype(np.uint64) & _MASK48
    x ^= np.uint64(salt) & _MASK48
    with np.errstate(over="ignore"):
        for mult, shift in ((0x9E3779B97F4B, 23), (0xC2B2AE3D27D5, 19), (0x165667B19E37, 21)):
            x = (x * np.uint64(mult | 1)) & _MASK48  # odd multiplier: invertible modulo 2**48
            x ^= x >> np.uint64(shift)
    return x
