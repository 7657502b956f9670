"""gotfs.mount: serve a gotfs root through FUSE (pyfuse3 + trio).

    mount(fs, source, "/mnt/x")                  # read-only view of source.current()
    mount(fs, source, "/mnt/x", writable=True)   # writes become new roots, published via source

Modules, one concept each: inodes (stable inode numbers), readahead (extent maps, chunk
fetches, prefetch), gather (a read's reply), dirty (buffered writes, per inode), snapshot
(read side, by inode), writeback (write side: transaction, buffers, flush through gotfs's
region rule, chunked outside the lock), ops (the pyfuse3 adapter), requests (how pyfuse3's
session loop waits for the next request: one already queued is taken without a pass through
trio's scheduler). The fixtures built on it live in benchmarks/: bare_mount (a runnable mount
over a store directory, for tests) and ceiling (a minimal in-memory FUSE filesystem, to
measure what Python FUSE can do at best).

The mount is independent of the repository layer: it gets its root from a `RootSource` and,
when writable, hands each new root to `source.publish`, which must make it durable.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import threading
from typing import Callable

import pyfuse3
import trio

from gotfs.fs import FS
from gotfs.mount import requests
from gotfs.mount.tuning import READ_AHEAD_KB, fewer_collections, keep_freed_memory, set_read_ahead, switch_interval
from gotfs.mount.ops import Ops
from gotfs.mount.snapshot import Snapshot
from gotfs.mount.writeback import RootSource, Writeback
from gotkv.errors import InvalidInput

__all__ = ["mount", "RootSource", "READ_AHEAD_KB", "set_read_ahead"]

log = logging.getLogger(__name__)


class _InterruptedReplyFilter(logging.Filter):
    """Drop pyfuse3's ERROR for a reply the kernel no longer waits for.

    Writing a reply fails with ENOENT when the kernel has abandoned the request (its caller
    was interrupted, e.g. a process exiting mid-close). libfuse documents this as safe to
    ignore and stays silent about it (fuse_send_msg); pyfuse3 logs it as an ERROR, which would
    look like a failure in every log that watches for one. Nothing else is filtered.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("fuse_reply_" in msg and "No such file or directory" in msg)


def _quiet_interrupted_replies() -> None:
    """Install _InterruptedReplyFilter on pyfuse3's logger (once)."""
    logger = logging.getLogger("pyfuse3")
    if not any(isinstance(f, _InterruptedReplyFilter) for f in logger.filters):
        logger.addFilter(_InterruptedReplyFilter())

FUSE_CONF = "/etc/fuse.conf"


def _fuse_conf_allows_other() -> bool:
    """True if fuse.conf lets users other than root mount with allow_other."""
    try:
        with open(FUSE_CONF) as f:
            return any(line.split("#")[0].strip() == "user_allow_other" for line in f)
    except OSError:
        return False


THREADS = 8  # worker threads for core calls (they mostly wait on the store or release the GIL)
DECODER_START = 5.0  # seconds ready() waits at most for the decoding child to be up
CLOSE_DELAY = 0.05  # a flush asked for by close() waits this long to batch several files
CLOSE_GAP = 1.0  # ...and comes at least this long after the last publish (see _State._flusher)


def mount(fs: FS, source: RootSource, mountpoint: str, *, writable: bool = False, foreground: bool = True,
          debug: bool = False, flush_interval: float = 5.0, ready: Callable[[], None] | None = None,
          fsname: str = "got", allow_other: bool = False) -> None:
    """Mount `source.current()` at `mountpoint` and serve it until unmounted. Blocking.

    Read-only by default (writes fail with EROFS). With writable=True, writes are buffered
    and flushed — soon after a written file is closed (in the background, batching the files
    closed meanwhile, at most once a second), on fsync and fsyncdir (which return only once published), every
    `flush_interval` seconds, and when 64 MiB are buffered — each flush committing everything
    pending as one new root and calling `source.publish(root)`. `fsname` is the source the
    kernel's mount table shows (no commas or whitespace: the caller encodes them).

    Returns when the filesystem is unmounted (`fusermount3 -u DIR`) or on SIGINT/SIGTERM,
    after a final flush and publish and a clean unmount. `ready()` is called (on the event
    loop: keep it quick) once the kernel has completed the mount and requests are served.

    Only the serving user may enter the mount unless allow_other=True (FUSE's allow_other);
    either way the kernel checks every access against the stored modes and owners
    (default_permissions). For a user other than root, allow_other needs `user_allow_other`
    in /etc/fuse.conf.

    Daemonizing is the caller's job and must happen before the repository is opened (an open
    SQLite connection must not cross a fork): so foreground=False is refused.

    Raises InvalidInput for foreground=False, a bad mountpoint, or allow_other that
    /etc/fuse.conf does not allow; RuntimeError if the kernel mount fails; whatever
    publish() raises on the final flush.
    """
    if not foreground:
        raise InvalidInput("mount() serves in the calling process: to run in the background, fork "
                           "(and setsid) before opening the repository, then call mount(foreground=True)")
    if not os.path.isdir(mountpoint):
        raise InvalidInput(f"mount point {mountpoint!r} is not a directory")
    if allow_other and os.getuid() != 0 and not _fuse_conf_allows_other():
        raise InvalidInput(f"allowing other users into a mount needs the line user_allow_other in {FUSE_CONF} "
                           "(ask an administrator), or mounting as root")
    _quiet_interrupted_replies()
    if debug:
        logging.getLogger("gotfs.mount").setLevel(logging.DEBUG)
    if writable:
        keep_freed_memory()
    core = Writeback(fs, source) if writable else Snapshot(fs, source.current())
    options = set(pyfuse3.default_options) | {f"fsname={fsname}", "subtype=got"}
    if not writable:
        options.add("ro")
    if allow_other:
        options.add("allow_other")
    if debug:
        options.add("debug")
    state = _State(core, mountpoint, flush_interval, ready)
    ops = state.ops = Ops(core, limiter=trio.CapacityLimiter(THREADS), kick=state.kick,
                           quiet=state.quiet)
    fds = requests.fuse_fds()
    pyfuse3.init(ops, mountpoint, options)
    state.requests = requests.install(requests.fuse_fds() - fds, idle=state.idle)
    failed = True
    try:
        with switch_interval(), fewer_collections():
            trio.run(state.serve)
        failed = False
    finally:
        requests.restore(state.requests)
        if state.requests is not None:
            log.info("served %d requests, %d of them taken at once, %d after a short wait (gotfs/mount/requests.py)",
                     state.requests.fast + state.requests.soon + state.requests.slow, state.requests.fast,
                     state.requests.soon)
        try:
            if writable:
                core.flush()  # whatever came in after the last flush
        finally:
            pyfuse3.close(unmount=True)  # a no-op if `fusermount3 -u` already unmounted
            core.close()
            if failed:
                log.error("mount at %s stopped on an error", mountpoint)


class _State:
    """The event-loop side of one mount: the serve loop, the flusher, signals, readiness."""

    def __init__(self, core: Snapshot, mountpoint: str, flush_interval: float,
                 ready: Callable[[], None] | None, close_gap: float = CLOSE_GAP):
        self.core = core
        self.close_gap = close_gap
        self.mountpoint = mountpoint
        self.flush_interval = flush_interval
        self.ready = ready
        self.kicked: trio.Event | None = None
        self.publish_wanted = False  # a close asked for a flush since the last one
        self.limiter = trio.CapacityLimiter(1)  # background flushes: one at a time, own thread
        self.requests: requests.RequestWait | None = None  # how the session loop waits (requests.py)
        self.ops: Ops | None = None  # the request handlers (their thread limiter: see idle)

    def idle(self) -> bool:
        """True if no worker thread is busy (a request handler's, a flush's, or trio's default
        limiter's): nothing waits for the event loop to take in a thread's result. (Called on
        the loop, by the request wait: requests.py.)"""
        return (self.ops.limiter.borrowed_tokens == 0 and self.limiter.borrowed_tokens == 0
                and trio.to_thread.current_default_thread_limiter().borrowed_tokens == 0)

    def quiet(self) -> bool:
        """True if nothing waits for the event loop: no worker thread is busy (idle) and no
        request is queued. Then a request may block the loop briefly (a journal fsync's
        fdatasync: Ops.fsync) at no one else's cost. Without the request wait (pyfuse3's own)
        queued requests cannot be seen: False."""
        return self.requests is not None and self.idle() and not self.requests.queued()

    def kick(self, publish: bool = True) -> None:
        """Ask for a flush soon (called on the event loop): a published one when a written file
        is closed, a spill (publish=False) when the buffers are full."""
        self.publish_wanted |= publish
        if self.kicked is not None:
            self.kicked.set()

    async def serve(self) -> None:
        self.kicked = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._signals, nursery.cancel_scope)
            nursery.start_soon(self._announce)
            if self.core.writable:
                nursery.start_soon(self._flusher)
            if self.requests is None:
                await pyfuse3.main()
            else:
                await pyfuse3.main(max_tasks=requests.MAX_TASKS)
            nursery.cancel_scope.cancel()

    async def _flush(self, publish: bool = True) -> None:
        try:
            await trio.to_thread.run_sync(functools.partial(self.core.flush, publish=publish),
                                          limiter=self.limiter)
        except Exception:
            log.exception("flush failed; the changes stay pending and the next flush retries")

    async def _flusher(self) -> None:
        """Flush on kicks; publish on a close's kick, or once flush_interval has passed since
        the last publish however many spills came in between (a steady writer must still
        become durable every flush_interval, not only at close).

        A close's publish waits CLOSE_DELAY (to batch the files closed meanwhile) and comes no
        sooner than `close_gap` after the last publish: a program closing thousands of files
        (tar -x, a build) gets a publish a close_gap, not one every few closes, each of which
        syncs the store and holds the state lock for its commit. fsync is not delayed: it
        flushes and publishes on its own request's thread (Ops.fsync)."""
        deadline = trio.current_time() + self.flush_interval
        last_publish = -math.inf
        while True:
            with trio.move_on_at(deadline):
                await self.kicked.wait()
                if not self.core.wants_flush:
                    await trio.sleep_until(max(trio.current_time() + CLOSE_DELAY, last_publish + self.close_gap))
            publish = trio.current_time() >= deadline or self.publish_wanted
            self.kicked = trio.Event()
            self.publish_wanted = False
            if publish:
                deadline = trio.current_time() + self.flush_interval
            if self.core.pending() or (publish and self.core.root != self.core.published):
                await self._flush(publish)
                if publish:
                    last_publish = trio.current_time()

    async def _signals(self, scope: trio.CancelScope) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be caught on the main thread; unmount stops us then
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            async for signum in signals:
                log.info("signal %d: flushing and unmounting %s", signum, self.mountpoint)
                if self.core.writable:
                    await self._flush()  # the bulk, while still serving requests
                if self.requests is None:
                    pyfuse3.terminate()
                else:
                    self.requests.terminate()
                return

    async def _announce(self) -> None:
        """Wait until the kernel has completed INIT, raise readahead, and let the decoder
        finish starting (its start-up CPU would otherwise slow the first reads), then call
        ready(). Requests are served all along."""
        try:
            await trio.to_thread.run_sync(os.stat, self.mountpoint)  # answered only after INIT
            await trio.to_thread.run_sync(set_read_ahead, self.mountpoint, READ_AHEAD_KB)
            if not await trio.to_thread.run_sync(self.core.fetcher.wait_ready, DECODER_START):
                log.warning("the decoder process is slow to start; serving meanwhile")
            if self.ready is not None:
                self.ready()
        except Exception:  # never take the mount down for this
            log.exception("after mounting %s", self.mountpoint)
