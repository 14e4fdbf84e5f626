"""The workers' malloc settings (local.keep_freed_memory): arrays of a partition's size come from the heap and
stay there for the next partition, unless the operator set glibc's own variables. Checked in a fresh
interpreter each, through glibc's mallinfo2 (its count of chunks mapped on their own)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from harbour.detect.runners.local import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
was_set = keep_freed_memory()
before = libc.mallinfo2().hblks
block = np.ones(4 << 20, dtype=np.uint8)  # 4 MiB: mapped on its own under glibc's default threshold (128 KiB)
during = libc.mallinfo2().hblks
del block
kept = libc.mallinfo2().fordblks  # bytes free in the heap, kept for the next array
print(was_set, during - before, kept >= 4 << 20)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    return done.stdout.split()


def _glibc() -> bool:
    import ctypes

    try:
        ctypes.CDLL(None).mallinfo2  # noqa: B018 - present from glibc 2.33
    except AttributeError:
        return False
    return True


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc (mallopt, mallinfo2) only")
def test_a_partitions_arrays_come_from_the_heap_and_stay_there() -> None:
    assert _probe() == ["True", "0", "True"]


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc (mallopt, mallinfo2) only")
def test_the_operators_malloc_variables_are_left_alone() -> None:
    was_set, mapped, _kept = _probe(MALLOC_TOP_PAD_="131072")
    assert (was_set, mapped) == ("False", "1")  # glibc's defaults: the 4 MiB array mapped on its own
