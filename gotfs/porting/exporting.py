"""Export: write a stored tree into a host directory, streaming and in parallel, and never
outside the target, whatever the stored tree holds (see the package docstring).

This module is the main thread's side: the walk over the keys and every namespace operation
(directories, symlinks, special files, empty regular files). The files' contents are written
by workers (filling.py); the attributes both set follow one policy (hostattrs.py)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import warnings
from typing import TYPE_CHECKING, Iterable

from gotfs import keys
from gotfs.errors import DirectoryNotEmpty, NotADirectory, UnsafeExport
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.porting.filling import Filler, OpenFile
from gotfs.porting.host import HostPath, PortingWarning
from gotfs.porting.hostattrs import HostAttrs
from gotfs.tx import Tx
from gotkv.errors import CorruptNode
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEWFILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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


class _Exporter:
    """The main thread's side of an export: one pass over the keys, every namespace operation
    (the workers' side is filling.Filler)."""

    def __init__(self, fs: FS, target: bytes, *, mtimes: bool, threads: int, overwrite: bool, setid: bool,
                 owners: bool):
        self.target = target
        self.overwrite = overwrite
        self.attrs = HostAttrs(mtimes=mtimes, setid=setid, owners=owners)
        self.filler = Filler(fs, self.attrs, threads)
        self.stack: list[_Dir] = []
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
        current: OpenFile | None = None
        current_key = b""
        n = len(prefix)
        for key, value in it:
            if keys.is_extent_key(key):
                if current is not None and key[:-9] == current_key:
                    current.add(keys.extent_end(key), Extent.from_bytes(value))
                continue  # an extent of no file: nothing refers to it, nothing to write
            if current is not None:
                self.filler.queue(current)
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
            self.filler.queue(current)
        self.filler.drain()
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
                    self.attrs.refused(path, n)
        if self.attrs.owners and info.uid is not None:
            os.chown(name, info.uid, info.gid, dir_fd=dir_fd, follow_symlinks=False)
        self.attrs.restore_times(name, info, dir_fd)

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
            if self.attrs.owners and info.uid is not None:
                os.chown(via, info.uid, info.gid)
            os.chmod(via, self.attrs.mode(info))
            self.attrs.restore_times(via, info)
        finally:
            os.close(fd)

    def _make_file(self, dir_fd: int, name: bytes, path: Path, info: Info) -> OpenFile:
        try:
            fd = os.open(name, _O_NEWFILE, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            self._clear(dir_fd, name, keep_dir=False)
            fd = os.open(name, _O_NEWFILE, 0o600, dir_fd=dir_fd)
        f = OpenFile(fd, path, info)
        self.filler.add(f)
        return f

    def _finish_dir(self, d: _Dir) -> None:
        """Apply a directory's metadata once all its entries exist (mode last but mtime)."""
        try:
            self.attrs.set_xattrs(d.fd, d.path, d.info)
            self.attrs.chown(d.fd, d.info)
            os.fchmod(d.fd, d.info.mode)
            self.attrs.restore_times(d.fd, d.info)
        finally:
            os.close(d.fd)
            d.fd = -1

    # -- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release everything, after success or failure: workers, file and directory fds."""
        self.filler.close()
        for d in self.stack:
            if d.fd >= 0:
                os.close(d.fd)
        self.stack.clear()

    def report(self) -> None:
        failures = self.attrs.xattr_failures
        if failures:
            warnings.warn(f"export could not set {len(failures)} xattr(s) on the host: "
                          f"{', '.join(failures[:5])}", PortingWarning, stacklevel=3)
        if self.skipped:
            warnings.warn(f"export skipped {len(self.skipped)} entr(ies): {', '.join(self.skipped[:5])}",
                          PortingWarning, stacklevel=3)
