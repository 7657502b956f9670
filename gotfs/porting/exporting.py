"""Export: write a stored tree into a host directory, streaming and in parallel, and never
outside the target, whatever the stored tree holds (see the package docstring)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Iterable

from gotfs import keys
from gotfs.errors import DirectoryNotEmpty, NotADirectory, UnsafeExport
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.porting.host import HostPath, PortingWarning
from gotfs.tx import Tx
from gotkv.errors import CorruptNode
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEWFILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

PIECE_BYTES = 8 << 20    # a large file is written as pieces of about this size, in parallel
BATCH_BYTES = 4 << 20    # small files are handed to a worker in batches of about this size
BATCH_FILES = 64


class TargetNotEmpty(DirectoryNotEmpty):
    """export_dir's target already has entries and overwrite=True was not given."""

    def __init__(self, path: str):
        super().__init__(path)
        self.args = (f"{path}: export target is not empty (pass overwrite=True to write into it)",)


def export_dir(fs: FS, root: Root, host: HostPath, src: str = "", *, mtimes: bool = True,
               threads: int = 4, overwrite: bool = False, setid: bool = False, owners: bool = False) -> None:
    """Write the tree at `src` into the host directory `host` (created, with parents, if missing).

    `host` must be absent or empty unless overwrite=True; then existing entries that clash
    with stored ones are replaced (a planted symlink is removed, never followed) and others
    are left alone. The stored root directory's mode, xattrs and mtime are applied to `host`.

    Safety: raises UnsafeExport, before writing the offending entry, for any stored name that
    is empty, '.', '..', or holds a NUL, for a malformed key, and for an entry whose parent is
    not a directory in the stored tree (e.g. a file "a/x" under a symlink "a"). Every host
    operation is one name relative to a directory fd that this export opened with O_NOFOLLOW,
    so nothing lands outside `host`, whatever the stored tree holds. Set-user/group-ID bits on
    files are dropped unless setid=True (a stored tree should not mint setuid programs).
    With owners=True (it takes root, as for tar), stored owners are given back; an entry that
    stores none stays the exporting user's.

    Why this shape: the main thread walks the key span once, in key order (parents before
    children), creating directories, symlinks and empty files; `threads` workers stream file
    contents extent by extent (no file is held whole in memory) with pwrite, leaving holes
    unwritten so sparse files stay sparse. Small files go to workers in batches, a large
    file in ~8 MiB pieces; at most 2 x threads batches are in flight, which bounds memory and
    open files. Directory modes and mtimes are applied once their entries are all created.
    Modes, symlinks, FIFOs, sockets, device nodes (where the host permits: as root; else
    skipped with a PortingWarning), xattrs (where the host accepts them; refusals give one
    PortingWarning) and, with mtimes=True, stored mtimes and atimes are restored. Nothing is
    fsynced.

    Cost: one in-order read of the subtree's entries (O(depth + entries) node reads), one
    read of each data blob an extent refers to (decoded chunks are cached, so small files
    packed together share a read), and a few system calls per entry. `root` is only read.

    Raises PathNotFound or NotADirectory if `src` is not a stored directory, NotADirectory
    if `host` exists and is not one, TargetNotEmpty (see above), UnsafeExport, BlobNotFound,
    IntegrityError or CorruptNode for a missing or damaged stored tree, and OSError for host
    failures. Entries written before a failure are left in `host`.
    """
    tx = Tx(fs, root)
    src_path = keys.parse_path(src)
    top = tx.require_dir(src_path)
    target = os.fsencode(host)
    root_fd = _open_target(target, overwrite)
    ex = _Exporter(fs, target, mtimes=mtimes, threads=threads, overwrite=overwrite, setid=setid, owners=owners)
    try:
        ex.run(root_fd, top, tx.entries(keys.subtree_span(src_path)), keys.info_key(src_path))
    finally:
        ex.close()
    ex.report()


def _open_target(target: bytes, overwrite: bool) -> int:
    try:
        os.makedirs(target, 0o700, exist_ok=True)
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectory(os.fsdecode(target)) from None
    if not overwrite:
        with os.scandir(fd) as it:
            if next(it, None) is not None:
                os.close(fd)
                raise TargetNotEmpty(os.fsdecode(target))
    return fd


def _check_component(part: bytes, key: bytes) -> None:
    if part in (b"", b".", b"..") or b"\x00" in part or b"/" in part:
        raise UnsafeExport(f"refusing to export stored key {key!r}: name {part!r} is empty, "
                           f"'.', '..' or holds a NUL or '/'")


class _Dir:
    __slots__ = ("path", "fd", "info")

    def __init__(self, path: Path, fd: int, info: Info):
        self.path, self.fd, self.info = path, fd, info


class _File:
    """A file being written: created (fd open) by the main thread, filled and closed by workers."""

    __slots__ = ("fd", "path", "info", "extents", "pending", "lock")

    def __init__(self, fd: int, path: Path, info: Info):
        self.fd: int | None = fd
        self.path = path
        self.info = info
        self.extents: list[tuple[int, int, Extent]] = []  # (start, end clamped to size, extent)
        self.pending = 0
        self.lock = threading.Lock()

    def add(self, end: int, extent: Extent) -> None:
        start = end - extent.length
        if start < 0:
            raise CorruptNode(f"file {keys.show(self.path)}", f"extent ends at {end} but is {extent.length} long")
        if start < self.info.size:
            self.extents.append((start, min(end, self.info.size), extent))

    def close(self) -> None:
        with self.lock:
            fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


class _Exporter:
    def __init__(self, fs: FS, target: bytes, *, mtimes: bool, threads: int, overwrite: bool, setid: bool,
                 owners: bool):
        self.fs = fs
        self.target = target
        self.mtimes = mtimes
        self.overwrite = overwrite
        self.setid = setid
        self.owners = owners
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="got-export")
        self.max_inflight = 2 * self.threads
        try:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            budget = 1024 if soft == resource.RLIM_INFINITY else soft // 4
        except (ImportError, OSError, ValueError):
            budget = 256
        self.batch_files = max(1, min(BATCH_FILES, budget // (self.max_inflight + 1)))
        self.inflight: set[Future] = set()
        self.batch: list[tuple[_File, list]] = []
        self.batch_bytes = 0
        self.stack: list[_Dir] = []
        self.open_files: set[_File] = set()
        self.files_lock = threading.Lock()
        self.chunk_locks: dict[bytes, threading.Lock] = {}
        self.xattr_failures: list[str] = []
        self.skipped: list[str] = []

    # -- the main thread: one pass over the keys, every namespace operation ----------------

    def run(self, root_fd: int, top: Info, entries: Iterable[tuple[bytes, bytes]], prefix: bytes) -> None:
        self.stack.append(_Dir((), root_fd, top))
        if self.overwrite:
            os.fchmod(root_fd, 0o700)
        it = iter(entries)
        first = next(it, None)
        if first is None or first[0] != prefix:
            raise CorruptNode(f"directory {os.fsdecode(prefix)}", "its subtree does not start with its own entry")
        current: _File | None = None
        current_key = b""
        n = len(prefix)
        for key, value in it:
            if keys.is_extent_key(key):
                if current is not None and key[:-9] == current_key:
                    current.add(keys.extent_end(key), Extent.from_bytes(value))
                continue  # an extent of no file: nothing refers to it, nothing to write
            if current is not None:
                self._queue(current)
                current = None
            rel = key[n:]
            if not rel.endswith(b"/"):
                raise UnsafeExport(f"refusing to export malformed stored key {key!r} (no trailing '/')")
            path = tuple(rel[:-1].split(b"/"))
            for part in path:
                _check_component(part, key)
            info = Info.from_bytes(value)
            parent = self._parent_of(path, key)
            name = path[-1]
            if info.is_dir:
                self.stack.append(_Dir(path, self._make_dir(parent.fd, name), info))
            elif info.is_symlink:
                self._make_symlink(parent.fd, name, path, info)
            elif info.is_special:
                self._make_special(parent.fd, name, path, info)
            else:
                current = self._make_file(parent.fd, name, path, info)
                current_key = key
        if current is not None:
            self._queue(current)
        self._submit()
        while self.inflight:
            done, self.inflight = wait(self.inflight, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()
        while self.stack:
            self._finish_dir(self.stack.pop())

    def _parent_of(self, path: Path, key: bytes) -> _Dir:
        """Finish directories left behind (key order is depth first); the parent must be next."""
        stack = self.stack
        while len(stack) > 1 and not (len(stack[-1].path) < len(path) and path[:len(stack[-1].path)] == stack[-1].path):
            self._finish_dir(stack.pop())
        parent = stack[-1]
        if parent.path != path[:-1]:
            raise UnsafeExport(f"refusing to export {keys.show(path)!r} (key {key!r}): its parent "
                               f"{keys.show(path[:-1])!r} is not a directory in the stored tree, and writing "
                               "through it could leave the export target")
        return parent

    def _clear(self, dir_fd: int, name: bytes, keep_dir: bool) -> bool:
        """overwrite=True: make room for `name`. True if an existing real directory is kept."""
        if not self.overwrite:
            raise FileExistsError(errno.EEXIST, "already exists in the export target", os.fsdecode(name))
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
        return False

    def _make_dir(self, dir_fd: int, name: bytes) -> int:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            kept = False
        except FileExistsError:
            kept = self._clear(dir_fd, name, keep_dir=True)
            if not kept:
                os.mkdir(name, 0o700, dir_fd=dir_fd)
        fd = os.open(name, _O_DIR, dir_fd=dir_fd)
        if kept:
            os.fchmod(fd, 0o700)
        return fd

    def _make_symlink(self, dir_fd: int, name: bytes, path: Path, info: Info) -> None:
        target = info.target
        if b"\x00" in target:
            raise UnsafeExport(f"refusing to export symlink {keys.show(path)!r}: its target holds a NUL")
        if not target:
            self.skipped.append(f"{keys.show(path)} (symlink with an empty target)")
            return
        try:
            os.symlink(target, name, dir_fd=dir_fd)
        except FileExistsError:
            self._clear(dir_fd, name, keep_dir=False)
            os.symlink(target, name, dir_fd=dir_fd)
        if info.xattrs:
            # setxattr has no dir_fd form; /proc/self/fd/N names our own directory fd, and the
            # final component (the symlink) is not followed.
            via = b"/proc/self/fd/%d/%s" % (dir_fd, name)
            for n, v in info.xattrs:
                try:
                    os.setxattr(via, n, v, follow_symlinks=False)
                except OSError:
                    self.xattr_failures.append(f"{keys.show(path)}:{os.fsdecode(n)}")
        if self.owners and info.uid is not None:
            os.chown(name, info.uid, info.gid, dir_fd=dir_fd, follow_symlinks=False)
        self._restore_times(name, info, dir_fd)

    def _make_special(self, dir_fd: int, name: bytes, path: Path, info: Info) -> None:
        """A FIFO, socket or device node (no data); skipped where the host refuses it."""
        mode = stat.S_IFMT(info.st_mode()) | 0o600
        try:
            try:
                os.mknod(name, mode, info.rdev, dir_fd=dir_fd)
            except FileExistsError:
                self._clear(dir_fd, name, keep_dir=False)
                os.mknod(name, mode, info.rdev, dir_fd=dir_fd)
        except PermissionError:
            self.skipped.append(f"{keys.show(path)} ({info.kind.name.lower().replace('_', ' ')}: not permitted)")
            return
        # chmod has no "don't follow" form: set the node's attributes through an O_PATH fd of
        # it (/proc/self/fd/N names that very inode), so a symlink swapped in meanwhile is
        # never followed
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != stat.S_IFMT(mode):
                raise UnsafeExport(f"refusing to go on: {keys.show(path)!r} was replaced while exporting")
            via = b"/proc/self/fd/%d" % fd
            if self.owners and info.uid is not None:
                os.chown(via, info.uid, info.gid)
            os.chmod(via, info.mode if self.setid else info.mode & ~(stat.S_ISUID | stat.S_ISGID))
            self._restore_times(via, info)
        finally:
            os.close(fd)

    def _restore_times(self, where: bytes | int, info: Info, dir_fd: int | None = None) -> None:
        """With mtimes=True, the stored mtime and atime of `where`: a name in dir_fd (never
        followed), an open fd, or a /proc/self/fd path. Last, after the owner and the mode
        (chown clears set-ID bits)."""
        nofollow = {} if dir_fd is None else {"dir_fd": dir_fd, "follow_symlinks": False}
        if self.mtimes and info.mtime_ns is not None:
            atime = info.atime_ns if info.atime_ns is not None else info.mtime_ns
            os.utime(where, ns=(atime, info.mtime_ns), **nofollow)

    def _make_file(self, dir_fd: int, name: bytes, path: Path, info: Info) -> _File:
        try:
            fd = os.open(name, _O_NEWFILE, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            self._clear(dir_fd, name, keep_dir=False)
            fd = os.open(name, _O_NEWFILE, 0o600, dir_fd=dir_fd)
        f = _File(fd, path, info)
        with self.files_lock:
            self.open_files.add(f)
        return f

    def _finish_dir(self, d: _Dir) -> None:
        """Apply a directory's metadata once all its entries exist (mode last but mtime)."""
        try:
            self._set_xattrs(d.fd, d.path, d.info)
            if self.owners and d.info.uid is not None:
                os.fchown(d.fd, d.info.uid, d.info.gid)
            os.fchmod(d.fd, d.info.mode)
            self._restore_times(d.fd, d.info)
        finally:
            os.close(d.fd)
            d.fd = -1

    def _set_xattrs(self, fd: int, path: Path, info: Info) -> None:
        for n, v in info.xattrs:
            try:
                os.setxattr(fd, n, v)
            except OSError:
                with self.files_lock:
                    self.xattr_failures.append(f"{keys.show(path)}:{os.fsdecode(n)}")

    # -- handing data to the workers --------------------------------------------------------

    def _queue(self, f: _File) -> None:
        pieces: list[list] = []
        piece: list = []
        size = 0
        for ext in f.extents:
            piece.append(ext)
            size += ext[1] - ext[0]
            if size >= PIECE_BYTES:
                pieces.append(piece)
                piece, size = [], 0
        if piece or not pieces:
            pieces.append(piece)
        f.pending = len(pieces)
        for piece in pieces:
            self.batch.append((f, piece))
            self.batch_bytes += sum(e - s for s, e, _ in piece)
            if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= self.batch_files:
                self._submit()

    def _submit(self) -> None:
        if not self.batch:
            return
        while len(self.inflight) >= self.max_inflight:
            done, self.inflight = wait(self.inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                fut.result()
        self.inflight.add(self.pool.submit(self._write, self.batch))
        self.batch = []
        self.batch_bytes = 0

    # -- workers ----------------------------------------------------------------------------

    def _read(self, extent: Extent) -> memoryview:
        """read_extent, but only one thread decodes a given chunk (the rest then hit the cache):
        small files packed into one chunk are often written by several workers at once."""
        cid = extent.ref.cid
        lock = self.chunk_locks.get(cid)
        if lock is None:
            lock = self.chunk_locks.setdefault(cid, threading.Lock())
        with lock:
            return self.fs.data.read_extent(extent)

    def _write(self, batch: list[tuple[_File, list]]) -> None:
        for f, piece in batch:
            try:
                for start, end, extent in piece:
                    data = self._read(extent)
                    if len(data) < end - start:
                        raise CorruptNode(f"file {keys.show(f.path)}", f"extent at {start} is past its blob's end")
                    view = data[:end - start]
                    pos = start
                    while view:
                        written = os.pwrite(f.fd, view, pos)
                        view, pos = view[written:], pos + written
                with f.lock:
                    f.pending -= 1
                    last = f.pending == 0
                if last:
                    self._finish_file(f)
            except BaseException:
                self._forget(f)
                raise

    def _finish_file(self, f: _File) -> None:
        info = f.info
        try:
            tail = f.extents[-1][1] if f.extents else 0
            if tail < info.size:
                os.ftruncate(f.fd, info.size)  # a trailing hole
            self._set_xattrs(f.fd, f.path, info)
            if self.owners and info.uid is not None:
                os.fchown(f.fd, info.uid, info.gid)
            mode = info.mode if self.setid else info.mode & ~(stat.S_ISUID | stat.S_ISGID)
            os.fchmod(f.fd, mode)
            self._restore_times(f.fd, info)
        finally:
            self._forget(f)

    def _forget(self, f: _File) -> None:
        f.close()
        with self.files_lock:
            self.open_files.discard(f)

    # -- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release everything, after success or failure: workers, file and directory fds."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self.files_lock:
            left = list(self.open_files)
            self.open_files.clear()
        for f in left:
            f.close()
        for d in self.stack:
            if d.fd >= 0:
                os.close(d.fd)
        self.stack.clear()

    def report(self) -> None:
        if self.xattr_failures:
            warnings.warn(f"export could not set {len(self.xattr_failures)} xattr(s) on the host: "
                          f"{', '.join(self.xattr_failures[:5])}", PortingWarning, stacklevel=3)
        if self.skipped:
            warnings.warn(f"export skipped {len(self.skipped)} entr(ies): {', '.join(self.skipped[:5])}",
                          PortingWarning, stacklevel=3)
