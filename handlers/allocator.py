"""The C allocator's settings for a long-running invitebot process (glibc on Linux).

glibc's ``malloc`` raises its mmap threshold each time a large block allocated with ``mmap``
is freed (up to 32 MB), and its trim threshold with it; a web server that allocates and
frees request-sized buffers all day then keeps them in its heap, and freed memory stays in
the process instead of going back to the system. Measured on the Telegram webhook
(``docs/performance.md``, Memory): resident memory grew by ~0.8 KB per update handled and
levelled off only after ~50,000 updates, 30 MB over idle, all of it free heap memory
(``malloc_trim`` gave it back). Fixing both thresholds at 128 KB (their initial values) turns
the adjustment off: the growth is gone.

The same thresholds can be set without code through ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` (glibc's tunables); when either is set, it is left to the
environment. Other C libraries (musl, macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

THRESHOLD_BYTES = 128 * 1024
"""glibc's initial mmap and trim thresholds, kept from being raised."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def fix_malloc_thresholds() -> bool:
    """Fixes glibc's mmap and trim thresholds (see the module's docstring); whether it did.

    Call it once, early, in a process that serves for long (``invitebot serve``,
    ``invitebot worker``)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(os.environ.get(name) for name in _ENVIRONMENT):
        return False  # the operator chose
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        done = all(
            libc.mallopt(ctypes.c_int(param), ctypes.c_int(THRESHOLD_BYTES)) == 1
            for param in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)
        )
    except (OSError, AttributeError):
        done = False
    if not done:
        log.warning("could not set malloc's thresholds; memory may grow until it levels off")
    return done
