"""Snapshot: the read side of a mounted tree, by inode — what a read-only mount serves.

Every method is synchronous and may block on the store; the FUSE adapter (ops.py) calls them
from worker threads. Methods speak inodes and return plain values (`Stat`, bytes, lists); no
pyfuse3 type appears here. Errors are GotErrors carrying the errno to answer with.

On an immutable root nothing a file handle reads can change, so `open` builds the file's
whole extent map once (O(extents)) and every read is a bisect plus cached chunk slices;
sequential readers get the following chunks prefetched (readahead.py), located in the store
a span at a time ahead of them. The writable mount (writeback.py) subclasses this and swaps
the fixed root for a live transaction.

A Gather returned by gather()/try_gather() pins the arena chunks it uses: its caller must
hand `gather.held` to `fetcher.release` once the reply's bytes are copied or sent.

Locking: `self.lock` guards the inode table (and, in the writable subclass, the transaction
and buffers too). Reads of the immutable tree need no lock.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from gotfs import dirs, files, keys
from gotfs.errors import InvalidPath, PathNotFound
from gotfs.fs import FS
from gotfs.info import Info
from gotfs.keys import MAX_NAME, MAX_PATH, Path
from gotfs.mount.inodes import ROOT_INODE, InodeTable
from gotfs.mount.gather import Gather
from gotfs.mount.readahead import Fetcher, FileView, Sequential
from gotfs.tx import Tx
from gotkv.errors import GotError
from gotkv.root import Root

SUBDIR_CACHE = 1 << 18  # directories whose subdirectory count (for st_nlink) is remembered
LISTINGS_KEPT = 1 << 16  # entries of listings kept from counting them to the readdir that follows
READAHEAD_WINDOW = 8 << 20  # bytes prefetched ahead of a sequential reader (~8 chunks)
HINT_SPAN = 64 << 20  # chunks located at once, ahead of a reader (one store query per span)


class NoAttribute(GotError):
    """getxattr/removexattr of a name the file does not have."""

    errno = errno.ENODATA  # ENOATTR on Linux

    def __init__(self, name: bytes):
        super().__init__(f"no extended attribute {name!r}")


class ReadOnly(GotError):
    """A change was asked of a read-only mount."""

    errno = errno.EROFS

    def __init__(self) -> None:
        super().__init__("read-only mount; mount a branch with --rw to change files")


@dataclass(slots=True)
class Stat:
    """What the kernel is told about an inode (owner: see attrs.owner_of)."""

    ino: int
    info: Info
    size: int
    mtime_ns: int
    nlink: int | None = 1  # a directory: 2 + its subdirectories (None: not counted yet, see
    # Snapshot.listdir); a file removed while open: 0

    @property
    def atime_ns(self) -> int:
        """As set by utimensat, else the mtime (noatime: see attrs.py)."""
        return self.info.atime_ns if self.info.atime_ns is not None else self.mtime_ns

    @property
    def ctime_ns(self) -> int:
        """The last metadata change; never before the mtime (absent: the mtime)."""
        c = self.info.ctime_ns
        return self.mtime_ns if c is None or c < self.mtime_ns else c


@dataclass(slots=True)
class Handle:
    """An open file."""

    ino: int
    view: FileView | None = None  # immutable roots only
    seq: Sequential = field(default_factory=Sequential)
    wrote: bool = False
    hinted: int = 0  # chunks of extents starting before this offset have been located


def child_path(parent: Path, name: bytes) -> Path:
    """parent + name, with the checks the kernel leaves to the filesystem (ENAMETOOLONG).

    A path from the mount root is at most keys.MAX_PATH (4085) bytes, slashes between names
    included: its gotkv key (a slash before and after, and an extent's NUL and offset) must
    fit MAX_KEY_SIZE (4096). The kernel's own PATH_MAX (4096, for one path argument) does not
    bound depth, since programs walk down with relative paths (openat, chdir); this limit of
    the key layout does, and its error is ENAMETOOLONG at exactly MAX_PATH + 1 bytes."""
    if len(name) > MAX_NAME:
        raise InvalidPath(os.fsdecode(name[:40]) + "...", f"a name is at most {MAX_NAME} bytes", errno.ENAMETOOLONG)
    if name in (b"", b".", b"..") or b"/" in name:
        raise InvalidPath(os.fsdecode(name), "not a valid file name")
    path = parent + (name,)
    if sum(map(len, path)) + len(path) - 1 > MAX_PATH:
        raise InvalidPath(keys.show(path)[:60] + "...", f"a path is at most {MAX_PATH} bytes", errno.ENAMETOOLONG)
    return path


class Snapshot:
    """Read-only inode-level view of one root. See the module docstring."""

    writable = False

    def __init__(self, fs: FS, root: Root, *, readahead_threads: int = 2,
                 readahead_window: int = READAHEAD_WINDOW, offload: bool = True):
        self.fs = fs
        self.root = root
        self.tx = Tx(fs, root)
        self.table = InodeTable()
        self.lock = threading.RLock()
        self.handles: dict[int, Handle] = {}
        self.fetcher = Fetcher(fs.data, threads=readahead_threads, offload=offload)
        self.window = readahead_window
        self.mount_ns = time.time_ns()
        self.uid, self.gid = os.getuid(), os.getgid()  # the owner of entries that store none
        self._fh = itertools.count(1)
        self._subdirs: dict[int, int] = {}  # directory inode -> subdirectories (see _links)
        self._listed: OrderedDict[int, list[tuple[bytes, Info]]] = OrderedDict()  # see _links
        self._listed_entries = 0

    def close(self) -> None:
        self.fetcher.close()

    # -- names -------------------------------------------------------------------------

    def _stat(self, ino: int, info: Info, *, count: bool = True) -> Stat:
        """The Stat of `ino`; a directory's link count is counted now unless count=False
        (then it is None when not known yet)."""
        mtime = info.mtime_ns if info.mtime_ns is not None else self.mount_ns
        if not info.is_dir:
            nlink = 1
        elif count:
            nlink = self._links(ino)
        else:
            n = self._subdirs.get(ino)
            nlink = None if n is None else 2 + n
        return Stat(ino, info, info.size, mtime, nlink)

    def _links(self, ino: int) -> int:
        """st_nlink of directory `ino`: 2 + its subdirectories (each one's '..' links it).

        Counted by listing the directory (O(entries) seeks), or taken from a listing made
        anyway (listdir), then remembered: a root never changes, and the writable mount keeps
        counts right as it makes, removes and renames directories. A directory is usually
        counted just before it is read (find and ls -R stat a directory, then read it): the
        listing is kept for that read, so that it is made once, not twice (LISTINGS_KEPT
        entries at most, oldest dropped first; see _listing).
        """
        n = self._subdirs.get(ino)
        if n is None:
            entries = list(dirs.listdir(self.tx, self._path(ino)))
            n = self._count_subdirs_of(ino, entries)
            with self.lock:
                self._listed[ino] = entries
                self._listed_entries += len(entries)
                while self._listed_entries > LISTINGS_KEPT and self._listed:
                    self._listed_entries -= len(self._listed.popitem(last=False)[1])
        return 2 + n

    def _count_subdirs_of(self, ino: int, entries: list[tuple[bytes, Info]]) -> int:
        n = sum(1 for _, info in entries if info.is_dir)
        if len(self._subdirs) >= SUBDIR_CACHE:
            self._subdirs.clear()
        self._subdirs[ino] = n
        return n

    def _listing(self, ino: int, path: Path, *, kept: bool = True) -> list[tuple[bytes, Info]]:
        """(name, Info) of each entry of a directory: the listing kept by _links, or a new one.

        A writable mount forgets kept listings when names change, but not when attributes
        do: there, only the names of a kept listing may be used (kept=False: a new one)."""
        with self.lock:
            entries = self._listed.pop(ino, None)
            if entries is not None:
                self._listed_entries -= len(entries)
        if entries is None or not kept:
            entries = list(dirs.listdir(self.tx, path))
            self._count_subdirs_of(ino, entries)
        return entries

    def _path(self, ino: int) -> Path:
        with self.lock:
            return self.table.path(ino)

    def lookup(self, parent: int, name: bytes) -> Stat:
        """The entry `name` in directory `parent`; the kernel now holds one more reference."""
        st = self.find(parent, name)
        if st is None:
            raise PathNotFound(keys.show(self._path(parent) + (name,)))
        return st

    def find(self, parent: int, name: bytes) -> Stat | None:
        """lookup(), or None if directory `parent` has no entry `name`: the caller answers with
        a negative entry, and no error is built for it (Python's imports, make and tar -x
        probe many absent names). Other errors (ENOTDIR, a stale parent) raise as lookup's."""
        with self.lock:
            ppath = self.table.path(parent)
        if name in (b".", b".."):
            path = ppath if name == b"." or not ppath else ppath[:-1]
            info = self.tx.require(path)
            with self.lock:
                ino = parent if name == b"." else self._ino_of(path)
                self.table.ref(ino)
            return self._stat(ino, info)
        path = child_path(ppath, name)
        info = self.tx.info(path)
        if info is None:
            if self.tx.require(ppath).is_dir:
                return None
            self.tx.require(path)  # raises NotADirectory
        with self.lock:
            ino = self.table.child(parent, name)
            self.table.ref(ino)
        return self._stat(ino, info)

    def _ino_of(self, path: Path) -> int:
        ino = ROOT_INODE
        for name in path:
            ino = self.table.child(ino, name)
        return ino

    def forget(self, pairs) -> None:
        with self.lock:
            for ino, n in pairs:
                self.table.forget(ino, n)

    def ref(self, inos) -> None:
        """The kernel accepted these readdirplus entries: one reference each."""
        with self.lock:
            for ino in inos:
                self.table.ref(ino)

    def getattr(self, ino: int) -> Stat:
        return self._stat(ino, self.tx.require(self._path(ino)))

    def listdir(self, ino: int) -> list[tuple[bytes, Stat]]:
        """'.', '..' and every entry of a directory, with attributes (no references taken).

        Subdirectories not counted yet get no link count (the kernel is told to ask again):
        counting them here would list every grandchild to answer one readdir."""
        path = self._path(ino)
        entries = self._listing(ino, path, kept=not self.writable)
        with self.lock:
            up = self.table.parent(ino)
            inos = [self.table.child(ino, name) for name, _ in entries]
        dots = [(b".", self._stat(ino, self.tx.require(path))),
                (b"..", self._stat(up, self.tx.require(path[:-1]), count=False))]
        return dots + [(name, self._stat(i, info, count=False)) for i, (name, info) in zip(inos, entries)]

    def opendir(self, ino: int):
        """A listing to page through with readdir: on an immutable root, the entries themselves."""
        return self.listdir(ino)

    def readdir(self, listing, start: int, count: int) -> tuple[list[tuple[int, bytes, Stat]], int | None]:
        """Up to `count` entries from position `start`, as (next position, name, Stat), and
        the position to continue from (None when the listing is exhausted)."""
        stop = min(start + count, len(listing))
        return [(i + 1, *listing[i]) for i in range(start, stop)], (stop if stop < len(listing) else None)

    def readlink(self, ino: int) -> bytes:
        return files.readlink(self.tx, self._path(ino))

    # -- attributes --------------------------------------------------------------------

    def listxattr(self, ino: int) -> list[bytes]:
        return [name for name, _ in self.getattr(ino).info.xattrs]

    def getxattr(self, ino: int, name: bytes) -> bytes:
        value = self.getattr(ino).info.xattr(name)
        if value is None:
            raise NoAttribute(name)
        return value

    def statfs(self) -> os.statvfs_result | None:
        """The statvfs of the directory holding the store, when it has one."""
        where = getattr(self.fs.store, "path", None)
        return os.statvfs(where) if where is not None else None

    # -- file data ---------------------------------------------------------------------

    def open(self, ino: int, flags: int) -> int:
        """Open a file for reading; its extent map is loaded now. Returns the handle number."""
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise ReadOnly()
        path = self._path(ino)
        info = self.tx.require_file(path)
        handle = Handle(ino, FileView.of(info.size, self.tx.extents(path)))
        self._locate_ahead(handle, 0)
        return self._new_handle(handle)

    def _locate_ahead(self, handle: Handle, off: int) -> None:
        """Hint (Store.hint) the chunks ahead of a reader once it nears the end of what is
        hinted: one query per span, none per chunk on the read path. The span grows with how
        far the reader has come, from one readahead window at open to HINT_SPAN: a store that
        answers a hint by fetching (a remote) then fetches little for a reader that reads a
        file's first bytes only, and far ahead for one that reads it through."""
        if off + self.window <= handle.hinted or handle.hinted >= handle.view.size:
            return
        lo = max(off, handle.hinted)
        handle.hinted = lo + min(HINT_SPAN, max(self.window, lo))
        self.fs.data.hint(extent for _, _, extent in handle.view.under(lo, handle.hinted))

    def _new_handle(self, handle: Handle) -> int:
        with self.lock:
            fh = next(self._fh)
            self.handles[fh] = handle
            self.table.pin(handle.ino)
        return fh

    def release(self, fh: int) -> None:
        with self.lock:
            handle = self.handles.pop(fh, None)
            if handle is not None:
                self.table.unpin(handle.ino)

    def read(self, fh: int, off: int, size: int) -> bytes:
        """Bytes [off, off+size) of an open file (fewer at the end). Blocks on the store."""
        gather = self.gather(fh, off, size)
        try:
            return gather.to_bytes()
        finally:
            self.fetcher.release(gather.held)

    def try_gather(self, fh: int, off: int, size: int) -> Gather | None:
        """The read's parts if every chunk it needs is decoded (never blocks), else None."""
        handle = self.handles[fh]
        view = handle.view
        stop = min(off + size, view.size)
        fetched = self._cached(view.under(off, stop))
        if fetched is None:
            return None
        self._readahead(handle, view, off, stop)
        return Gather.of(off, stop, fetched, arena=self.fetcher.arena)

    def gather(self, fh: int, off: int, size: int) -> Gather:
        """The parts of bytes [off, off+size) of an open file. Blocks on the store."""
        handle = self.handles[fh]
        view = handle.view
        stop = min(off + size, view.size)
        self._readahead(handle, view, off, stop)
        return self._fetch_all(off, stop, view.under(off, stop))

    def _cached(self, pieces) -> list | None:
        """(start, end, decoded chunk) for every (start, end, extent) of `pieces` if each chunk
        is decoded already (polling the decoder once for those that came meanwhile), holding
        them; else None, holding none. Never blocks."""
        fetcher = self.fetcher
        fetcher.poll_due()
        fetched = []
        polled = False
        for start, end, extent in pieces:
            got = fetcher.cached(extent)
            if got is None and not polled:  # decoded since the last poll?
                fetcher.poll()
                polled = True
                got = fetcher.cached(extent)
            if got is None:
                fetcher.release([f.slot for _, _, f in fetched if f.slot is not None])
                return None
            fetched.append((start, end, got))
        return fetched

    def _fetch_all(self, off: int, stop: int, pieces, patches=None) -> Gather:
        """Fetch every piece (blocking); on an error, unpin what was fetched before raising."""
        fetched = []
        try:
            for s, e, x in pieces:
                fetched.append((s, e, self.fetcher.get(x)))
        except BaseException:
            self.fetcher.release([f.slot for _, _, f in fetched if f.slot is not None])
            raise
        return Gather.of(off, stop, fetched, patches, arena=self.fetcher.arena)

    def _readahead(self, handle: Handle, view: FileView, off: int, stop: int) -> None:
        if handle.seq.advance(off, stop, 2 << 20):
            self._locate_ahead(handle, stop)
            ahead = handle.seq.plan(view, stop, self.window)
            if ahead:
                self.fetcher.prefetch(ahead)
