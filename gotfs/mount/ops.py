"""Ops: the pyfuse3 request handlers — a protocol adapter only.

Each handler translates a FUSE request into one call on the mount's core (a Snapshot for
read-only mounts, a Writeback for writable ones), runs it on a worker thread through
`trio.to_thread.run_sync` with the mount's CapacityLimiter (the core is synchronous and
may block on the store), and translates the result back (EntryAttributes, FileInfo, ...).
Nothing here knows about keys, extents or transactions.

The thread round trip is the largest cost of a small request, so calls that need not wait skip
it: a read whose chunks are all cached (`core.try_gather`), a write when the state lock is free
(`core.try_write`: buffering copies nothing), a getxattr of a name the inode is known not to
have (`_note_xattrs`), on a writable mount every call on names, attributes and handles
while the state lock is free (`_meta`), and an fsync the journal answers while no other
request or thread result waits (`core.try_fsync`). Reads that miss the cache, other fsyncs
and statfs use a thread.

Errors are translated in ONE place, the `_handler` decorator: a GotError becomes
FUSEError(its errno); anything else is logged and becomes EIO, so that a bug answers one
request with an error instead of killing the mount (an exception escaping a pyfuse3
handler would leave the request unanswered and stop the main loop).

Caching (see PERF-NOTES): a read-only mount serves an immutable root, so entries and
attributes are cached by the kernel for an hour and page-cache contents survive reopening
(keep_cache). A writable mount is only changed through this mount, so the kernel's caches
stay right too; it uses shorter timeouts and drops page-cache contents on open anyway.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat as _stat
from typing import Callable

import pyfuse3
import trio

from gotfs.mount.snapshot import Snapshot, Stat
from gotkv.errors import GotError

log = logging.getLogger(__name__)

BLKSIZE = 1 << 20  # st_blksize: cp, tar and friends size their buffers by it, and without the
# kernel's writeback cache each write() is one FUSE request: 1 MiB cuts request overhead 8x
RO_TIMEOUT = 3600.0  # immutable root: the kernel may cache names and attributes for long
RW_TIMEOUT = 10.0
XATTR_CACHE = 1 << 20  # inodes whose xattr names are remembered
_NONE: frozenset[bytes] = frozenset()
READDIR_BATCH = 256  # entries stat'ed per worker-thread call (a reply buffer holds ~100)


def _handler(fn):
    """The one place GotError (and anything unexpected) is turned into a FUSE errno."""

    @functools.wraps(fn)
    async def wrapper(self, *args):
        try:
            return await fn(self, *args)
        except pyfuse3.FUSEError:
            raise
        except GotError as e:
            if e.errno == errno.EIO:
                log.error("%s: %s", fn.__name__, e)
            raise pyfuse3.FUSEError(e.errno) from None
        except OSError as e:
            log.error("%s: %s", fn.__name__, e)
            raise pyfuse3.FUSEError(e.errno or errno.EIO) from None
        except Exception:
            log.exception("unexpected error in %s%r", fn.__name__, args[:2])
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


class Ops(pyfuse3.Operations):
    """pyfuse3 handlers over a Snapshot or Writeback core."""

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(self, core: Snapshot, *, limiter: trio.CapacityLimiter,
                 kick: Callable[..., None] = lambda publish=True: None,
                 quiet: Callable[[], bool] = lambda: False):
        super().__init__()
        self.core = core
        self.limiter = limiter
        self.kick = kick  # asks for a background flush (writable mounts); publish=False: a spill
        self.quiet = quiet  # True when nothing else waits for the event loop (see fsync)
        self.writable = core.writable
        self.timeout = RW_TIMEOUT if self.writable else RO_TIMEOUT
        self.uid, self.gid = core.uid, core.gid  # the owner of entries that store none
        self.dirs: dict[int, list[tuple[bytes, Stat]]] = {}
        self.xattr_names: dict[int, frozenset[bytes]] = {}  # see _note_xattrs
        self.xattrs_changed: set[int] = set()
        self._next_dir = 1
        self._reply = bytearray(1 << 20)  # see read()
        self._sent: list = []  # arena chunks pinned by replies already sent (see read())

    async def _run(self, fn, *args):
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def _meta(self, fn, *args):
        """A call on names, attributes or handles: on the event loop when the core's state lock
        is free and the mount is writable, else on a worker thread (_run).

        A writable core answers these from memory: the live transaction (whose nodes were
        read when the paths were first looked up), the inode table and the buffers. Its only
        wait is for the state lock, which a flush holds while it plans and commits; a call that
        finds it taken goes to a thread, so the loop never waits for a flush. Inline, a call
        costs no thread round trip (two wake-ups, which on a busy machine take longer than the
        call: tar -x makes ~8 such requests a file). A read-only mount may read tree nodes
        from a remote store on a lookup, so it always uses a thread.
        """
        if self.writable:
            lock = self.core.lock
            if lock.acquire(blocking=False):
                try:
                    return fn(*args)
                finally:
                    lock.release()
        return await self._run(fn, *args)

    def _attrs(self, st: Stat) -> pyfuse3.EntryAttributes:
        self._note_xattrs(st)
        a = pyfuse3.EntryAttributes()
        a.st_ino = st.ino
        a.generation = 0
        a.entry_timeout = self.timeout
        a.attr_timeout = self.timeout
        info = st.info
        a.st_mode = info.st_mode()
        if st.nlink is None:  # a directory not counted yet: the kernel must ask (getattr) before use
            a.st_nlink, a.attr_timeout = 2, 0
        else:
            a.st_nlink = st.nlink
        if info.uid is None:  # the serving user's (see attrs.py)
            a.st_uid, a.st_gid = self.uid, self.gid
        else:
            a.st_uid, a.st_gid = info.uid, info.gid
        a.st_rdev = info.rdev
        a.st_size = st.size
        a.st_blksize = BLKSIZE
        a.st_blocks = -(-st.size // 512)
        a.st_mtime_ns = st.mtime_ns
        a.st_atime_ns = st.atime_ns
        a.st_ctime_ns = st.ctime_ns
        return a

    def _need_writable(self) -> None:
        if not self.writable:
            raise pyfuse3.FUSEError(errno.EROFS)

    # -- names and attributes ----------------------------------------------------------

    @_handler
    async def lookup(self, parent_inode, name, ctx):
        try:
            st = await self._meta(self.core.find, parent_inode, name)
        except GotError as e:
            if e.errno != errno.ENOENT:
                raise
            return self._absent()
        return self._absent() if st is None else self._attrs(st)

    def _absent(self) -> pyfuse3.EntryAttributes:
        """A negative entry: the kernel remembers for the entry timeout that the name does not
        exist (an ENOENT error would not be remembered). Right for the same reason positive
        entries are: only this mount changes its tree, and the kernel sees every change it
        makes (a create or rename through the kernel replaces the negative entry). Python's
        imports, make's implicit rules and git probe many absent names, each a round trip."""
        a = pyfuse3.EntryAttributes()
        a.st_ino = 0
        a.entry_timeout = self.timeout
        return a

    async def forget(self, inode_list):
        try:
            await self._meta(self.core.forget, list(inode_list))
        except Exception:  # forget must not raise
            log.exception("forget")

    @_handler
    async def getattr(self, inode, ctx):
        return self._attrs(await self._meta(self.core.getattr, inode))

    @_handler
    async def setattr(self, inode, attr, fields, fh, ctx):
        changes = {}
        if fields.update_mode:
            changes["mode"] = _stat.S_IMODE(attr.st_mode)
        if fields.update_size:
            changes["size"] = attr.st_size
        if fields.update_mtime:
            changes["mtime_ns"] = attr.st_mtime_ns
        if fields.update_atime:
            changes["atime_ns"] = attr.st_atime_ns
        if fields.update_uid:
            changes["uid"] = attr.st_uid
        if fields.update_gid:
            changes["gid"] = attr.st_gid
        if not changes:  # ctime only: set by every change anyway
            return await self.getattr(inode, ctx)
        self._need_writable()
        return self._attrs(await self._meta(functools.partial(self.core.setattr, inode, **changes)))

    @_handler
    async def readlink(self, inode, ctx):
        return await self._meta(self.core.readlink, inode)

    @_handler
    async def opendir(self, inode, ctx):
        listing = await self._meta(self.core.opendir, inode)
        fh = self._next_dir
        self._next_dir += 1
        self.dirs[fh] = listing
        return fh

    @_handler
    async def readdir(self, fh, start_id, token):
        listing = self.dirs[fh]
        pos = start_id
        while pos is not None:
            batch, pos = await self._meta(self.core.readdir, listing, pos, READDIR_BATCH)
            accepted = []
            full = False
            for next_id, name, st in batch:
                if not pyfuse3.readdir_reply(token, name, self._attrs(st), next_id):
                    full = True
                    break
                if name != b"." and name != b"..":  # the kernel takes no reference for these
                    accepted.append(st.ino)
            if accepted:  # readdirplus hands the kernel a reference to each entry sent
                await self._meta(self.core.ref, accepted)
            if full:
                return

    @_handler
    async def releasedir(self, fh):
        self.dirs.pop(fh, None)

    @_handler
    async def statfs(self, ctx):
        vfs = await self._run(self.core.statfs)
        s = pyfuse3.StatvfsData()
        s.f_namemax = 255
        if vfs is None:
            s.f_bsize = s.f_frsize = 4096
            s.f_blocks = s.f_bfree = s.f_bavail = 1 << 30
        else:
            s.f_bsize = vfs.f_bsize
            s.f_frsize = vfs.f_frsize
            s.f_blocks, s.f_bfree, s.f_bavail = vfs.f_blocks, vfs.f_bfree, vfs.f_bavail
        if not self.writable:
            s.f_bfree = s.f_bavail = 0
        s.f_files = s.f_ffree = s.f_favail = 1 << 32
        return s

    # -- extended attributes -----------------------------------------------------------

    def _note_xattrs(self, st: Stat) -> None:
        """Remember which xattr names an inode has, to answer ENODATA for others at once.

        The kernel asks for security.capability before every write() to a file: without
        this, each write request would cost a second round trip through a worker thread.
        Exact, because xattrs only change through this mount, an inode whose xattrs this
        mount changes is never cached again (a reply computed before the change could
        otherwise land after it), and inode numbers are never reused.
        """
        if st.ino in self.xattrs_changed:
            return
        if len(self.xattr_names) > XATTR_CACHE:
            self.xattr_names.clear()
        self.xattr_names[st.ino] = frozenset(n for n, _ in st.info.xattrs) if st.info.xattrs else _NONE

    @_handler
    async def listxattr(self, inode, ctx):
        return await self._meta(self.core.listxattr, inode)

    @_handler
    async def getxattr(self, inode, name, ctx):
        known = self.xattr_names.get(inode)
        if known is not None and name not in known:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return await self._meta(self.core.getxattr, inode, name)

    @_handler
    async def setxattr(self, inode, name, value, ctx):
        self._need_writable()
        self.xattrs_changed.add(inode)
        self.xattr_names.pop(inode, None)
        await self._meta(self.core.setxattr, inode, name, value)

    @_handler
    async def removexattr(self, inode, name, ctx):
        self._need_writable()
        self.xattrs_changed.add(inode)
        self.xattr_names.pop(inode, None)
        await self._meta(self.core.removexattr, inode, name)

    # -- files -------------------------------------------------------------------------

    @_handler
    async def open(self, inode, flags, ctx):
        if flags & (os.O_WRONLY | os.O_RDWR):
            self._need_writable()
        fh = await self._meta(self.core.open, inode, flags)
        return pyfuse3.FileInfo(fh=fh, keep_cache=not self.writable)

    @_handler
    async def read(self, fh, off, size):
        # Replies hand the kernel slices of the arena; pyfuse3 copies a reply into the kernel
        # as soon as its handler returns, before any other task runs. So by the time this
        # line runs, every reply whose pins are in _sent has been copied: unpin them. (Other
        # reads may be in flight, awaiting a worker thread: they add their pins when they
        # return, so _sent is only ever added to, and emptied here.)
        sent, self._sent = self._sent, []
        self.core.fetcher.release(sent)
        gather = self.core.try_gather(fh, off, size)  # decoded chunks: no thread hop
        if gather is None:
            gather = await self._run(self.core.gather, fh, off, size)
        reply = gather.single()
        if reply is not None:  # a slice of the arena: keep its chunks until it is sent
            self._sent.extend(gather.held)
            return reply
        # No await from here until pyfuse3 has copied the reply into the kernel (it calls
        # fuse_reply_buf as soon as this returns), so one buffer serves every read.
        if len(self._reply) < gather.stop - gather.off:
            self._reply = bytearray(gather.stop - gather.off)
        reply = gather.into(self._reply)
        self.core.fetcher.release(gather.held)
        return reply

    @_handler
    async def write(self, fh, off, buf):
        self._need_writable()
        n = self.core.try_write(fh, off, buf)  # buffering never blocks: no thread hop if the lock is free
        if n is None:
            n = await self._run(self.core.write, fh, off, buf)
        if self.core.wants_flush:
            self.kick(publish=False)
        return n

    @_handler
    async def flush(self, fh):
        if self.writable and self.core.handles.get(fh) is not None and self.core.handles[fh].wrote:
            self.kick()

    @_handler
    async def release(self, fh):
        if await self._meta(self.core.release, fh):
            self.kick()

    @_handler
    async def fsync(self, fh, datasync):
        """On the event loop when nothing else waits for it and the journal can answer at once
        (core.try_fsync: the loop then waits out one fdatasync), else on a worker thread."""
        if self.writable:
            if self.quiet() and self.core.try_fsync(fh):
                return
            await self._run(self.core.fsync, fh)

    @_handler
    async def fsyncdir(self, fh, datasync):
        if self.writable:
            await self._run(self.core.flush)

    # -- changes -----------------------------------------------------------------------

    @_handler
    async def create(self, parent_inode, name, mode, flags, ctx):
        self._need_writable()
        fh, st = await self._meta(self.core.create, parent_inode, name, mode, ctx.uid, ctx.gid)
        return pyfuse3.FileInfo(fh=fh, keep_cache=False), self._attrs(st)

    @_handler
    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        self._need_writable()
        return self._attrs(await self._meta(self.core.mknod, parent_inode, name, mode, rdev, ctx.uid, ctx.gid))

    @_handler
    async def mkdir(self, parent_inode, name, mode, ctx):
        self._need_writable()
        return self._attrs(await self._meta(self.core.mkdir, parent_inode, name, mode, ctx.uid, ctx.gid))

    @_handler
    async def symlink(self, parent_inode, name, target, ctx):
        self._need_writable()
        return self._attrs(await self._meta(self.core.symlink, parent_inode, name, target, ctx.uid, ctx.gid))

    @_handler
    async def link(self, inode, new_parent_inode, new_name, ctx):
        self._need_writable()
        return self._attrs(await self._meta(self.core.link, inode, new_parent_inode, new_name))

    @_handler
    async def unlink(self, parent_inode, name, ctx):
        self._need_writable()
        await self._meta(self.core.unlink, parent_inode, name)

    @_handler
    async def rmdir(self, parent_inode, name, ctx):
        self._need_writable()
        await self._meta(self.core.rmdir, parent_inode, name)

    @_handler
    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        self._need_writable()
        rename = functools.partial(self.core.rename, parent_inode_old, name_old, parent_inode_new, name_new,
                                   noreplace=bool(flags & pyfuse3.RENAME_NOREPLACE),
                                   exchange=bool(flags & pyfuse3.RENAME_EXCHANGE))
        await self._meta(rename)
