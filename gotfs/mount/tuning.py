"""Process-wide tuning that the mount opts into, applied only in the mount's own processes.

Everything here changes a whole process, not one object, so nothing outside gotfs/mount
calls it, and mount() applies it only in the process that serves the mount:

- `keep_freed_memory()` (read-write mounts): glibc's mmap and trim thresholds are fixed so
  freed memory stays in the heap. A rw mount holds each FUSE write's payload (a fresh 1 MiB
  bytes object made by pyfuse3) until a spill has chunked it, then frees 64 MiB at once;
  with glibc's defaults that memory goes back to the kernel, and the next 64 MiB of writes
  fault and zero every page again on the event loop's thread, with the GIL held. Keeping it
  cuts those page faults (figures: docs/benchmarks.md). The cost: the process keeps its
  high-water mark (about 2 x max_dirty plus the read arena) until it exits.
- `switch_interval()` (every mount): the GIL switch interval drops from 5 ms to
  SWITCH_INTERVAL while the mount serves. pyfuse3 reads each request from /dev/fuse and
  copies a write's payload with the GIL held, so the event loop needs the GIL back quickly
  whenever a flush thread runs Python between its C calls.
- `fewer_collections()` (every mount): while the mount serves, the objects made before it
  (modules, classes, the repository's caches) are frozen out of the cyclic garbage
  collector (gc.freeze), and it collects after GC_THRESHOLDS[0] new objects instead of 700.
  A request makes a few dozen short-lived objects (its arguments, an Info, a Stat, the
  reply's attributes), nearly all freed by reference counting, so the collector's passes
  over the young and middle generations found little and cost ~4-7% of the event loop's
  CPU under tar -x (figures: docs/benchmarks.md); cycles are still collected, less often.
- `set_read_ahead()` (every mount): the kernel readahead of the mount is raised to
  READ_AHEAD_KB through sysfs (needs root), so sequential readers send 1 MiB requests
  instead of 128 KiB; pyfuse3 refuses libfuse's max_readahead option.
- `requests.install()` (every mount, in mount()): pyfuse3's module-level request wait is
  replaced, for the session's lifetime, by one that takes already-queued requests at once
  (requests.py says how and why; pyfuse3 serves one session a process anyway).
- The decoding child (decoder.py) runs as SCHED_BATCH, set in the child itself, so that a
  job written from the FUSE loop does not wake it onto the loop's CPU mid-reply.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import sys
from typing import Iterator

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc's maximum)
TRIM_THRESHOLD = 256 << 20  # free heap top kept (twice the most a mount buffers) before any goes back


def keep_freed_memory() -> bool:
    """Set glibc's thresholds for this process (see the module docstring). False where the C
    library is not glibc, or refuses: nothing changes then."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not ok:
        log.debug("mallopt refused the mount's memory thresholds")
    return ok


SWITCH_INTERVAL = 0.0005
GC_THRESHOLDS = (20_000, 20, 20)  # gc.set_threshold while a mount serves (Python's default: 700, 10, 10)
READ_AHEAD_KB = 1024  # kernel readahead for the mount: 1 MiB read requests instead of 128 KiB


@contextlib.contextmanager
def switch_interval(seconds: float = SWITCH_INTERVAL) -> Iterator[None]:
    """The GIL switch interval set to `seconds` for the block, restored after."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@contextlib.contextmanager
def fewer_collections(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> Iterator[None]:
    """The objects made so far frozen out of the cyclic collector and its thresholds set to
    `thresholds` for the block; both restored after (see the module docstring)."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def set_read_ahead(mountpoint: str, kb: int = READ_AHEAD_KB) -> bool:
    """Set the kernel readahead of the mount at `mountpoint` (needs root). True if it took.

    FUSE read requests are as large as the readahead window (up to the 1 MiB the connection
    allows), and pyfuse3 refuses libfuse's max_readahead option, so sysfs it is.
    """
    dev = os.stat(mountpoint).st_dev
    path = f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb"
    try:
        with open(path, "w") as f:
            f.write(str(kb))
        return True
    except OSError as e:
        log.debug("could not set %s: %s", path, e)
        return False
