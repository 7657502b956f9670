"""RequestWait: take a FUSE request that is already queued without a trip through trio's scheduler.

pyfuse3's session loop (Cython) waits for each request in its module-level coroutine
`_wait_fuse_readable`: it takes a trio Lock and parks the task in
`trio.lowlevel.wait_readable(/dev/fuse)`, then reads one request. That is at least two passes
of trio's scheduler, an epoll_ctl and an epoll_wait per request, even when the next request is
already queued; and when it is not, the mount's thread sleeps and is woken by the kernel. A
program that makes its requests one after another (tar -x makes ~19 a file) sends the next one
while the loop is still winding down from its reply, so it is usually queued already; taking
it at once saves the scheduler passes and the sleep and wake-up of the mount's thread, most of
a small request's cost (figures: docs/benchmarks.md, "Programs in a read-write mount").

`RequestWait.wait` replaces `_wait_fuse_readable` (the session loop looks the name up in the
module on every request, so assigning the module attribute is enough; `install` does it and
`restore` undoes it):

- fast way: if poll(2) says the device has a request (or an error: the unmount) and fewer than
  `streak` requests were taken this way in a row, return at once. The session loop reads the
  request right after, with no await in between, so no other task can take it first.
- slow way: as pyfuse3 does, one task at a time (a trio Lock) waits for the device to become
  readable; then it polls again before returning, since a task on the fast way may have taken
  the request meanwhile, and waits again if so. A session task therefore never reads from an
  empty device, which would block the event loop until the next request.

- a short wait (`soon`): when no request is queued yet but no worker thread is busy (`idle()`,
  the mount's thread limiters), the task waits in ppoll(2) for up to `SOON_NS`, the GIL
  released, before taking the slow way. A program that makes its requests one after another
  (sqlite: a write, the kernel's getxattr of security.capability, the next write) usually
  sends the next one within a few microseconds of the reply, too late for the fast way; the
  short wait takes it with one sleep and wake-up of the thread instead of the scheduler
  passes, epoll_ctl and epoll_wait of the slow way. No worker thread is busy, so no result
  waits for the loop meanwhile; the flusher's timer and signals wait at most SOON_NS.

The slow way yields to trio's scheduler, so after `streak` requests taken the fast way (or
the short wait) the next one goes the slow way: worker threads' results, the flusher and other
tasks get their turn at least that often under a steady stream of requests (the fast way
never yields).

What pyfuse3 no longer sees: it counts the tasks waiting in its own coroutine to decide when
to start another session task (when none waits) or end one (more than min_tasks waiting).
None waits there now, so it starts tasks up to `max_tasks` and keeps them: mount() passes
MAX_TASKS. How the loop ends: `terminate()` (use it instead of pyfuse3.terminate) marks the
wait closed, so that tasks queued on the lock return False as pyfuse3's own check of the
session's exit flag would have made them; an unmount makes the device readable with an
error, which the read after the wait reports as the end of the session, in every task.

The poll is a libc call made without releasing the GIL (ctypes.PyDLL): releasing it would let
a flush thread take the GIL, and the loop would then wait out a switch interval for it back
on every request. The short wait's ppoll does release it (ctypes.CDLL): it sleeps, and it runs
only when no trio worker thread is busy (a readahead thread of the fetcher may still take
the GIL meanwhile; the loop then waits at most a switch interval for it back).
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Callable

import pyfuse3
import trio

log = logging.getLogger(__name__)

STREAK = 64  # requests taken the fast way before one goes through the scheduler
SOON_NS = 200_000  # how long the short wait waits for the next request (see the module docstring)
MAX_TASKS = 32  # session tasks (each may hold a 1 MiB request buffer); see the module docstring
_POLLIN = 0x001


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


# poll(2) and ppoll(2) are called at every request, so they are declared without argtypes
# and called with ctypes objects made once (RequestWait.__init__): a call then converts
# nothing, where converting a byref and two ints by argtypes cost about as much as the poll.

def _libc_ppoll():
    """libc's ppoll(2), called with the GIL released (ctypes.CDLL); None where it cannot be loaded."""
    try:
        ppoll = ctypes.CDLL(None, use_errno=True).ppoll
    except (OSError, AttributeError):
        return None
    ppoll.restype = ctypes.c_int
    return ppoll


def _libc_poll():
    """libc's poll(2), called with the GIL held; None where it cannot be loaded."""
    try:
        poll = ctypes.PyDLL(None).poll
    except (OSError, AttributeError):
        return None
    poll.restype = ctypes.c_int
    return poll


def fuse_fds() -> set[int]:
    """The descriptors of this process open on /dev/fuse (Linux's /proc; empty elsewhere).

    pyfuse3 keeps its session's descriptor to itself: the mount compares this set before
    and after pyfuse3.init to find it."""
    found = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "/dev/fuse":
                found.add(int(name))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
    return found


class RequestWait:
    """pyfuse3's per-request wait, taking queued requests at once. See the module docstring."""

    def __init__(self, fd: int, *, streak: int = STREAK, idle: Callable[[], bool] | None = None,
                 soon_ns: int = SOON_NS):
        self.fd = fd
        self.streak = streak
        self.idle = idle  # True when no worker thread is busy: the short wait may block the loop
        self.closed = False
        self.fast = 0  # requests taken the fast way (for tests and --debug)
        self.soon = 0  # ...after the short wait
        self.slow = 0  # ...and the slow way
        self._soon = _Timespec(soon_ns // 1_000_000_000, soon_ns % 1_000_000_000)
        self._ppoll = _libc_ppoll() if idle is not None else None
        self._run = 0  # fast ones in a row
        self._lock: trio.Lock | None = None  # made on first use: it belongs to the running loop
        self._pollfd = _PollFd(fd, _POLLIN, 0)
        self._poll = _libc_poll()
        pollfd, one = ctypes.byref(self._pollfd), ctypes.c_ulong(1)  # the calls' arguments (see _libc_poll)
        self._poll_args = (pollfd, one, ctypes.c_int(0))
        self._ppoll_args = (pollfd, one, ctypes.byref(self._soon), None)
        self.original = None  # pyfuse3's wait, while this one replaces it

    def queued(self) -> bool:
        """True if a read of the device would not block: a request, or an error to report."""
        if self._poll is None:
            import select
            return bool(select.select([self.fd], [], [], 0)[0])
        return self._poll(*self._poll_args) > 0

    def soon_queued(self) -> bool:
        """True if a request (or an error) comes within SOON_NS: ppoll(2), the GIL released."""
        self._pollfd.revents = 0
        return self._ppoll(*self._ppoll_args) > 0

    async def wait(self) -> bool:
        """Return True once the device can be read without blocking, False if the session ends."""
        if self._run < self.streak:
            if self.queued():
                self._run += 1
                self.fast += 1
                return True
            if self._ppoll is not None and not self.closed and self.idle() and self.soon_queued():
                self._run += 1
                self.soon += 1
                return True
        self._run = 0
        if self._lock is None:
            self._lock = trio.Lock()
        async with self._lock:
            while True:
                if self.closed:
                    return False
                try:
                    await trio.lowlevel.wait_readable(self.fd)
                except trio.ClosedResourceError:  # terminate(): pyfuse3 notified the descriptor's closing
                    self.closed = True
                    return False
                if self.queued():
                    self.slow += 1
                    return True

    def terminate(self) -> None:
        """End the session loop (pyfuse3.terminate, plus the tasks queued on this wait)."""
        self.closed = True
        pyfuse3.terminate()


_ORIGINAL = "_wait_fuse_readable"


def install(fds: set[int], idle: Callable[[], bool] | None = None) -> RequestWait | None:
    """Serve through a RequestWait on the one new /dev/fuse descriptor in `fds` (`idle`: see
    RequestWait; None: no short wait).

    None (pyfuse3's own wait stays) if `fds` is not exactly one descriptor, or this pyfuse3
    has no `_wait_fuse_readable` to replace."""
    if len(fds) != 1 or not callable(getattr(pyfuse3, _ORIGINAL, None)):
        log.debug("serving through pyfuse3's own request wait (fds %s)", fds)
        return None
    wait = RequestWait(next(iter(fds)), idle=idle)
    wait.original = getattr(pyfuse3, _ORIGINAL)
    setattr(pyfuse3, _ORIGINAL, wait.wait)
    return wait


def restore(wait: RequestWait | None) -> None:
    """Put pyfuse3's own wait back (after the session loop ended)."""
    if wait is not None:
        setattr(pyfuse3, _ORIGINAL, wait.original)
