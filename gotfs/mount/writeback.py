"""Writeback: the writable side of a mount — one live transaction, buffered writes, flushes.

State: `tx`, a Tx on the last committed root, holds every metadata change (create, mkdir,
rename, chmod, ...) applied at once; `buffers` holds each written file's bytes in memory
(keyed by inode, so that a rename never has to move them). Reads see both: the tree through
the transaction, with the buffered bytes laid on top (read-your-writes).

`flush()` is the way a change reaches the tree durably:

    spill the buffers into tx (gotfs/regions.py: chunked and posted outside the lock)
    -> tx.commit(): ONE gotkv batch, one new Root
    -> source.publish(root): the store is flushed and the root recorded durably
    -> a new Tx on that root

It runs when a written file is closed, on fsyncdir, on a timer, and on fsync of a file whose
changes the intent journal cannot express; otherwise fsync appends them to the journal
(journaling.py: one fdatasync, replayed onto the published root if the mount is killed). When buffered bytes pass `max_dirty` (see `write`) a *spill* runs instead:
`flush(publish=False)` moves the bytes into blobs and the transaction, but neither syncs the
store nor records the root. A large copy thus never waits for the disk mid-stream (the kernel
writes the packs back meanwhile); the close that ends it publishes everything at once, and
a crash before that loses only writes that were never flushed, as promised. Flushes are serialised by
`flush_lock`; chunking and publishing happen outside the state lock, so other requests go
on meanwhile (their writes land in fresh buffers and the next transaction).

Locking: `self.lock` (re-entrant) guards tx, buffers, orphans and the inode table; every
public method takes it, so handlers may run on any number of worker threads. Chunk fetches
for reads happen outside it.

A file removed (or renamed over) while open keeps its contents for its open handles: its
Info and extent map are kept aside as an *orphan* until the last handle is released, and
writes to it are buffered but never published — as POSIX has it (fstat says nlink 0).
While any orphan lives, the mount keeps its hold on gc (RootSource.hold): no published root
names the blobs it reads.

Owners of new entries and which change moves which timestamp: see attrs.py. This module
holds the state, reads with the buffers on top, writes and attribute changes; namespace.py
the namespace operations, flushing.py the flush and the RootSource it publishes to.
"""

from __future__ import annotations

import errno
import os
import threading
import time

from gotfs import files
from gotfs.fs import FS
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.mount import attrs
from gotfs.mount.dirty import Buffers
from gotfs.mount.flushing import Flushing, RootSource
from gotfs.mount.gather import Gather
from gotfs.mount.journaling import Journaling
from gotfs.mount.namespace import NamespaceOps, Orphan, Refused
from gotfs.mount.readahead import FileView
from gotfs.mount.snapshot import Handle, NoAttribute, Snapshot, Stat

__all__ = ["Writeback", "RootSource", "Refused", "Orphan", "ACL_XATTRS", "MAX_DIRTY"]

# gotfs stores modes, not ACLs: refusing these makes cp -a, tar & co. fall back to chmod
ACL_XATTRS = (b"system.posix_acl_access", b"system.posix_acl_default")
MAX_DIRTY = 64 << 20  # buffered bytes that force a flush (bounds the mount's memory)
_SEQ_SLACK = 2 << 20  # a read this near where the last one ended continues a forward run


class Writeback(Journaling, NamespaceOps, Flushing, Snapshot):
    """Inode-level read-write view of a branch. See the module docstring; namespace changes
    are NamespaceOps' (namespace.py), flushes Flushing's (flushing.py), fsync Journaling's
    (journaling.py)."""

    writable = True

    def __init__(self, fs: FS, source: RootSource, *, max_dirty: int = MAX_DIRTY, **kw):
        super().__init__(fs, source.current(), **kw)
        self.source = source
        self.max_dirty = max_dirty
        self.buffers = Buffers()
        self.orphans: dict[int, Orphan] = {}
        self.flush_lock = threading.Lock()
        self.publish_lock = threading.Lock()  # publishes, in commit order (see flush)
        self._hold_lock = threading.Lock()  # source.hold/release, and the count below
        self._spills = 0  # flushes that post blobs: a publish ends the hold only if none came since its commit
        self._published_spills = 0  # the value of _spills at the last published commit
        self.wants_flush = False  # buffers are full: the caller should start a flush
        self.published = self.root
        self.flushes = 0
        journal = getattr(source, "journal", None)
        self._start_journal(journal() if journal is not None else None)

    # -- reads (the same as a snapshot, but under the lock, and with buffers on top) ----

    def _stat(self, ino: int, info: Info, *, count: bool = True) -> Stat:
        st = super()._stat(ino, info, count=count)
        if info.is_file and self.buffers:
            st.size = max(st.size, self.buffers.end(ino))
            mtime = self.buffers.mtime(ino)
            if mtime is not None:
                st.mtime_ns = mtime
        return st

    def lookup(self, parent: int, name: bytes) -> Stat:
        with self.lock:
            return super().lookup(parent, name)

    def find(self, parent: int, name: bytes) -> Stat | None:
        with self.lock:
            return super().find(parent, name)

    def getattr(self, ino: int) -> Stat:
        with self.lock:
            orphan = self.orphans.get(ino)
            if orphan is not None:
                st = self._stat(ino, orphan.info)
                st.nlink = 0  # removed while open: fstat says so
                return st
            return super().getattr(ino)

    def listdir(self, ino: int) -> list[tuple[bytes, Stat]]:
        with self.lock:
            return super().listdir(ino)

    def opendir(self, ino: int):
        """The names only: attributes must be read when each readdir is answered.

        readdirplus replies update the kernel's dentries and inode attributes; the kernel
        discards attributes older than the readdir *request*, not older than opendir, so
        attributes taken at opendir (a file written since, a name renamed since) would
        overwrite fresher ones. Positions stay stable: they index this list of names.
        """
        with self.lock:  # names only, so a kept listing will do
            return ino, [b".", b".."] + [name for name, _ in self._listing(ino, self.table.path(ino))]

    def readdir(self, listing, start: int, count: int) -> tuple[list[tuple[int, bytes, Stat]], int | None]:
        """Current attributes of the listed names from `start`; names removed since are skipped."""
        ino, names = listing
        stop = min(start + count, len(names))
        out = []
        with self.lock:
            path = self.table.path(ino)
            for i in range(start, stop):
                name = names[i]
                if name == b".":
                    st = self._stat(ino, self.tx.require(path))
                elif name == b"..":
                    st = self._stat(self.table.parent(ino), self.tx.require(path[:-1]), count=False)
                else:
                    info = self.tx.info(path + (name,))
                    if info is None:
                        continue
                    st = self._stat(self.table.child(ino, name), info, count=False)  # see Snapshot.listdir
                out.append((i + 1, name, st))
        return out, (stop if stop < len(names) else None)

    def readlink(self, ino: int) -> bytes:
        with self.lock:
            return super().readlink(ino)

    def open(self, ino: int, flags: int) -> int:
        """Open a file; O_TRUNC empties it here (libfuse asks for atomic O_TRUNC)."""
        with self.lock:
            self.tx.require_file(self.table.path(ino))
            if flags & os.O_TRUNC:
                self.setattr(ino, size=0)
            return self._new_handle(Handle(ino))

    def try_gather(self, fh: int, off: int, size: int) -> Gather | None:
        """gather() if it cannot block: the state lock is free and every byte the read needs
        is buffered or in a decoded chunk. Else None (and nothing changed), for a worker thread.

        A program that reads back what it just wrote (sqlite reads its WAL's partly written
        pages, which the kernel cannot keep) is then answered on the event loop, without the
        thread round trip that would cost more than the read. As with Ops._meta, the extents
        come from the live transaction, whose nodes are in memory once the file was read or
        flushed; a flush holds the lock while it plans and commits, and then this declines."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            buffered = self._buffered_read(fh, off, size)
            if buffered is not None:
                return buffered
            handle, info, view, stop = self._read_view(fh, off, size)
            fetched = self._cached(view.under(off, min(stop, info.size)))
            if fetched is None:
                return None
            ahead, patches = self._read_plan(handle, view, off, stop)
        finally:
            self.lock.release()
        if ahead:
            self.fetcher.prefetch(ahead)
        return Gather.of(off, stop, fetched, patches, arena=self.fetcher.arena)

    def gather(self, fh: int, off: int, size: int) -> Gather:
        with self.lock:
            handle, info, view, stop = self._read_view(fh, off, size)
            ahead, patches = self._read_plan(handle, view, off, stop)
        if ahead:
            self.fetcher.prefetch(ahead)
        return self._fetch_all(off, stop, view.under(off, min(stop, info.size)), patches)

    def _buffered_read(self, fh: int, off: int, size: int) -> Gather | None:
        """The reply of a read whose every byte is buffered, with no extent looked up (the
        tree's bytes under it are all overwritten); None if some byte is not, or if gather's
        readahead plan would look past it (a forward run short of the tree's end of file).
        Under the lock. sqlite reads back the WAL pages it wrote last, past the size the
        tree holds (1,247 reads under 500 transactions): for them the extent lookup, a walk
        of the transaction's tree and batch, was most of the read's cost."""
        handle = self.handles[fh]
        ino = handle.ino
        if not self.buffers.covers(ino, off, off + 1):
            return None  # (a cheap test that reads of the tree's bytes fail)
        orphan = self.orphans.get(ino)
        info = orphan.info if orphan is not None else self.tx.require_file(self.table.path(ino))
        stop = min(off + size, max(info.size, self.buffers.end(ino)))
        if not self.buffers.covers(ino, off, stop):
            return None
        if stop < info.size and handle.seq.continues(off, _SEQ_SLACK):
            return None  # Sequential.plan would prefetch the tree's extents after it
        handle.seq.advance(off, stop, _SEQ_SLACK)
        return Gather.of(off, stop, [], self.buffers.overlay(ino, off, stop))

    def _read_view(self, fh: int, off: int, size: int):
        """(handle, Info, FileView, end of the read) of a read of open file `fh`: an orphan's
        kept view, else the live transaction's extents around the read. Under the lock."""
        handle = self.handles[fh]
        ino = handle.ino
        orphan = self.orphans.get(ino)
        if orphan is not None:
            info, view = orphan.info, orphan.view
        else:
            path = self.table.path(ino)
            info = self.tx.require_file(path)
            view = None
        stop = min(off + size, max(info.size, self.buffers.end(ino)))
        if view is None:
            view = FileView.of(info.size, self._extents(path, off, stop + self.window))
        return handle, info, view, stop

    def _read_plan(self, handle: Handle, view: FileView, off: int, stop: int):
        """(chunks to prefetch, buffered patches) of a read [off, stop): the readahead when the
        handle reads sequentially, and the buffered bytes over the range. Under the lock."""
        sequential = handle.seq.advance(off, stop, _SEQ_SLACK)
        ahead = handle.seq.plan(view, stop, self.window) if sequential else []
        return ahead, self.buffers.overlay(handle.ino, off, stop)

    def _extents(self, path: Path, off: int, stop: int):
        for piece in self.tx.extents(path, off):
            if piece[0] >= stop:
                return
            yield piece

    # -- writes ------------------------------------------------------------------------

    def write(self, fh: int, off: int, data: bytes) -> int:
        """Buffer a write. Returns len(data).

        Past `max_dirty` buffered bytes `wants_flush` is raised, for the caller to start a
        flush in the background (writes go on into fresh buffers meanwhile); past twice that,
        the writer flushes itself, which bounds memory when the flusher cannot keep up.
        """
        with self.lock:
            self._buffer(fh, off, data)
            full = self.buffers.nbytes > 2 * self.max_dirty
        if full:
            self.flush(publish=False)
        return len(data)

    def try_write(self, fh: int, off: int, data: bytes) -> int | None:
        """write() if it cannot block: the lock is free and the buffers have room. Else None.

        Buffering copies nothing, so this is cheap enough for the event loop, and saves the
        worker-thread round trip that would otherwise dominate a write request's cost.
        """
        if not self.lock.acquire(blocking=False):
            return None
        try:
            if self.buffers.nbytes + len(data) > 2 * self.max_dirty:
                return None
            self._buffer(fh, off, data)
            return len(data)
        finally:
            self.lock.release()

    def _buffer(self, fh: int, off: int, data: bytes) -> None:
        """The body of write and try_write (under the lock): buffer `data` and log it for
        the journal; past `max_dirty` buffered bytes, ask for a flush."""
        handle = self.handles[fh]
        now = time.time_ns()
        self.buffers.write(handle.ino, off, data, now)
        self._journal_write(handle.ino, off, data, now)
        handle.wrote = True
        if self.buffers.nbytes > self.max_dirty:
            self.wants_flush = True

    def release(self, fh: int) -> bool:
        """Close a handle; True if it wrote (so the caller should schedule a flush)."""
        with self.lock:
            handle = self.handles.pop(fh, None)
            if handle is None:
                return False
            self.table.unpin(handle.ino)
            last_orphan = False
            if handle.ino in self.orphans and not self.table.pinned(handle.ino):
                del self.orphans[handle.ino]
                self.buffers.drop(handle.ino)
                last_orphan = not self.orphans
        if last_orphan:
            self.end_hold()  # its blobs may be in no published root: gc was held off (flushing.py)
        return handle.wrote

    # -- attributes --------------------------------------------------------------------

    def setattr(self, ino: int, *, mode: int | None = None, size: int | None = None,
                mtime_ns: int | None = None, atime_ns: int | None = None, uid: int | None = None,
                gid: int | None = None) -> Stat:
        """chmod, chown, truncate, utimens; each also sets the ctime (see attrs.py).

        Whether the caller may change the owner is checked by the kernel (default_permissions).
        """
        with self.lock:
            now = time.time_ns()
            orphan = self.orphans.get(ino)
            if orphan is not None:
                return self._setattr_orphan(ino, orphan, mode, size, mtime_ns, atime_ns, uid, gid, now)
            path = self.table.path(ino)
            if size is not None:
                self.buffers.truncate(ino, size)
                files.truncate(self.tx, path, size)
                if mtime_ns is None:
                    mtime_ns = now
            if mtime_ns is not None:
                self.buffers.clear_mtime(ino)  # an explicit time (or a truncate's) beats the last write's
            info = attrs.set_attrs(self.tx.require(path), now, (self.uid, self.gid), mode=mode,
                                   mtime_ns=mtime_ns, atime_ns=atime_ns, uid=uid, gid=gid)
            self.tx.put_info(path, info)
            self._journal_setattr(ino, size, mtime_ns is not None)
            return self._stat(ino, info)

    def _setattr_orphan(self, ino: int, orphan: Orphan, mode, size, mtime_ns, atime_ns, uid, gid, now) -> Stat:
        info = orphan.info
        if size is not None:
            self.buffers.truncate(ino, size)
            info = info.with_(size=size)
            orphan.view = FileView.of(size, orphan.view.under(0, size))
        orphan.info = info = attrs.set_attrs(info, now, (self.uid, self.gid), mode=mode, mtime_ns=mtime_ns,
                                             atime_ns=atime_ns, uid=uid, gid=gid)
        return self._stat(ino, info)

    def setxattr(self, ino: int, name: bytes, value: bytes) -> None:
        if name in ACL_XATTRS:
            raise Refused("POSIX ACLs (set the mode instead)", errno.EOPNOTSUPP)
        with self.lock:
            path = self.table.path(ino)
            info = files.set_attrs(self.tx, path, set_xattrs={name: value})
            self.tx.put_info(path, attrs.changed(info, time.time_ns()))
            self._journal_setattr(ino, None, False)

    def removexattr(self, ino: int, name: bytes) -> None:
        with self.lock:
            path = self.table.path(ino)
            if self.tx.require(path).xattr(name) is None:
                raise NoAttribute(name)
            info = files.set_attrs(self.tx, path, remove_xattrs=[name])
            self.tx.put_info(path, attrs.changed(info, time.time_ns()))
            self._journal_setattr(ino, None, False)

    # -- flushing ----------------------------------------------------------------------
