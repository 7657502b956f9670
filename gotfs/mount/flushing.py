"""The writable mount's flush: buffered writes and the live transaction become one new root,
published durably through the mount's RootSource (see writeback.py's module docstring for
when a flush runs, and for spills).

A mixin of Writeback (gotfs/mount/writeback.py), which supplies the state and the locks;
these methods are called as Writeback's own. A flush runs in three phases: plan (under the
state lock: move the buffers aside), chunk and seal (gotfs/regions.py, outside it, on
threads), land and commit (under it again); then, outside both, publish.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Protocol

from gotfs import regions
from gotfs.mount.inodes import StaleInode
from gotfs.tx import Tx
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotfs.journal import Journal
    from gotfs.mount.dirty import Buffers
    from gotfs.mount.inodes import InodeTable
    from gotfs.mount.namespace import Orphan

log = logging.getLogger(__name__)


class RootSource(Protocol):
    """Where a mount gets its root and, when writable, records each new one."""

    def current(self) -> Root:
        """The root to serve at mount time."""
        ...

    def hold(self) -> None:
        """Blobs are about to be posted for a root that is not published yet: keep garbage
        collection from sweeping them until release() (idempotent). A spill's blobs may be
        dedup hits on blobs no commit reaches, which gc would otherwise delete."""
        ...

    def publish(self, root: Root) -> None:
        """Make `root` durable (flush the store, record it) before returning."""
        ...

    def journal(self) -> Journal | None:
        """Where fsync may journal changes on the published root instead of publishing
        (gotfs/journal.py), or None: every fsync publishes. Optional: a source without this
        method has no journal. The source replays what a killed mount left there before its
        next current()."""
        ...

    def release(self) -> None:
        """End a hold: every blob posted since it is in a published root, and no file removed
        while open still reads blobs only an earlier root named (idempotent)."""
        ...


class Flushing:
    """Flushes of a Writeback's pending changes. See the module docstring."""

    fs: FS
    root: Root
    tx: Tx
    table: InodeTable
    buffers: Buffers
    orphans: dict[int, Orphan]
    source: RootSource
    lock: threading.RLock
    flush_lock: threading.Lock
    publish_lock: threading.Lock
    _hold_lock: threading.Lock
    _spills: int
    _published_spills: int

    def pending(self) -> bool:
        """True if anything is buffered or uncommitted."""
        with self.lock:
            return bool(self.buffers.open or len(self.tx.batch))

    def flush(self, *, publish: bool = True) -> Root:
        """Commit everything pending as one new root and publish it. Returns the new root.

        Durable on return: publish() has returned for a root holding every write that
        completed before this call started. Cost: chunking the buffered bytes (outside the
        lock), one gotkv mutate of O(changes x depth), and whatever publish costs.
        With publish=False only the spill and the commit happen (see writeback.py's module docstring).

        The publish (an fdatasync of everything spilled since the last one: up to a second
        here under a large copy) runs after flush_lock is let go, so the next spill goes on
        meanwhile; publish_lock is taken before that, so publishes happen in commit order.
        """
        with self.flush_lock:
            t0 = time.perf_counter()
            with self.lock:
                self.wants_flush = False
                plans = self._plan()
                mark = self._journal_plan()
                posts = bool(plans or len(self.tx.batch))  # chunks, or the commit's tree nodes
            t1 = time.perf_counter()
            if posts:
                with self._hold_lock:
                    self._spills += 1
                    self.source.hold()
            try:
                regions.chunk(self.fs.data, [p for _, p in plans])
            finally:
                with self.lock:
                    t2 = time.perf_counter()
                    self._land(plans)
                    edits = len(self.tx.batch)
                    if edits:
                        self.root = self.tx.commit()
                        self.tx = Tx(self.fs, self.root)
                    root = self.root
                    names_mark = self._journal_mark()
                    spills = self._spills
            if not publish or root == self.published:  # (also retries a root whose publish failed)
                return root
            self.publish_lock.acquire()
        try:
            t3 = time.perf_counter()
            if root != self.published:
                self.source.publish(root)
                self.published = root
                self._journal_published(mark, names_mark)
                self.flushes += 1
                log.debug("flush %d: %d files planned in %.3fs, chunked in %.3fs, %d edits committed "
                          "in %.3fs, published in %.3fs", self.flushes, len(plans), t1 - t0, t2 - t1,
                          edits, t3 - t2, time.perf_counter() - t3)
        finally:
            self.publish_lock.release()
        with self._hold_lock:
            self._published_spills = spills
            if self._spills == spills and not self.orphans:  # no spill has posted since this commit
                self.source.release()
        return root

    def end_hold(self) -> None:
        """The last file removed while open is closed: end the hold on gc if every posted blob is
        in a published root. Never waits: if a flush holds _hold_lock, its own end decides.

        Why orphans hold gc off: once a root without the removed file is published, no root
        names the blobs its open handles still read, and a gc (`got commit` starts one when
        due) would sweep them from under the reader."""
        if not self._hold_lock.acquire(blocking=False):
            return
        try:
            if self._spills == self._published_spills and not self.orphans:
                self.source.release()
        finally:
            self._hold_lock.release()

    def _plan(self) -> list[tuple[int, regions.Plan]]:
        """Phase 1 of a spill: move the open buffers aside and plan each file's write."""
        plans = []
        for ino, df in self.buffers.take(keep=self.orphans).items():
            try:
                path = self.table.path(ino)
            except StaleInode:
                self.buffers.landed(ino)  # removed since it was written
                continue
            plans.append((ino, regions.plan(self.tx, path, df, mtime_ns=df.mtime_ns, gap=regions.GROUP_GAP)))
        return plans

    def _land(self, plans: list[tuple[int, regions.Plan]]) -> None:
        """Phase 3: put chunked files in the tree; keep an orphan's bytes; drop removed files'."""
        for ino, p in plans:
            if ino in self.orphans:
                self.buffers.restore(ino)
                continue
            if not p.done:  # chunking failed: keep the bytes for the next flush
                self.buffers.restore(ino)
                continue
            p.mtime_ns = self.buffers.spilling[ino].mtime_ns  # None if utimens came meanwhile
            cut = self.buffers.landed(ino)
            try:
                path = self.table.path(ino)
            except StaleInode:
                continue
            regions.apply(self.tx, path, p)
            if cut is not None:
                cut.reapply(self.tx, path)
