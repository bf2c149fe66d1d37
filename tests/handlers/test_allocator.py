"""The allocator setting of long-running processes (``handlers/allocator.py``), checked on
glibc's own behaviour in a fresh process each time."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from handlers.allocator import fix_malloc_thresholds

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the setting concerns glibc's malloc only",
)

# Frees a 1 MiB block (glibc then raises its mmap threshold to 1 MiB unless it was fixed),
# then allocates 512 KiB and prints whether that block was mmapped (mallinfo2's hblkhd).
_PROBE = """
import ctypes, sys
from handlers.allocator import fix_malloc_thresholds
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Info
fixed = fix_malloc_thresholds() if sys.argv[1] == "fix" else None
libc.free(libc.malloc(1 << 20))
before = libc.mallinfo2().hblkhd
block = libc.malloc(512 << 10)
print(fixed, libc.mallinfo2().hblkhd - before >= 512 << 10)
libc.free(block)
"""


def _probe(mode: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_left_alone_glibc_raises_its_threshold_and_keeps_freed_blocks_in_the_heap() -> None:
    assert _probe("leave") == "None False"


def test_fixed_thresholds_keep_large_blocks_out_of_the_heap() -> None:
    assert _probe("fix") == "True True"


def test_an_operators_malloc_variable_is_left_to_glibc_which_then_stops_raising_too() -> None:
    assert _probe("fix", MALLOC_TRIM_THRESHOLD_="131072") == "False True"


def test_it_reports_success_in_this_process() -> None:
    if any(os.environ.get(n) for n in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        pytest.skip("this environment sets malloc's thresholds itself")
    assert fix_malloc_thresholds() is True
