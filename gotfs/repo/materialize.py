"""Materializer: write single paths of a stored tree into a host directory, safely.

Checkout rewrites only the paths that changed, so it needs per-path writes rather than a whole
export. Every host operation goes through a directory file descriptor opened component by
component with O_NOFOLLOW, so a symlink — on the host, or planted by a hostile stored tree —
can never carry a write outside the target directory. Files are written to a temporary name
beside their destination and renamed over it, so a crash never leaves a half-written file
under a tracked name.
"""

from __future__ import annotations

import errno
import os
import stat as st
from pathlib import Path

import blake3

from gotfs import keys
from gotfs.errors import UnsafeExport
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.repo.errors import naming_file
from gotfs.tx import Tx
from gotkv.root import Root
from gotkv.osio import write_all

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class Materializer:
    def __init__(self, fs, root: Root, target: Path):
        self.fs = fs
        self.tx = Tx(fs, root)
        self.target = Path(target)

    def _check(self, name: bytes) -> bytes:
        if not name or name in (b".", b"..") or b"/" in name or b"\x00" in name:
            raise UnsafeExport(f"refusing to write a path component {name!r}")
        return name

    def _open_parent(self, path: keys.Path, create: bool) -> int | None:
        """An fd of the directory that holds `path`, walked without following symlinks."""
        fd = os.open(self.target, _DIR_FLAGS)
        try:
            for name in path[:-1]:
                name = self._check(name)
                try:
                    nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(name, 0o755, dir_fd=fd)
                    nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ENOTDIR, errno.ELOOP):
                        raise UnsafeExport(f"{keys.show(path)}: a parent is not a real directory on the host") from None
                    raise
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _clear(self, dfd: int, name: bytes) -> None:
        """Remove whatever non-directory sits at name (a directory is left for its own removal)."""
        try:
            s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if st.S_ISDIR(s.st_mode):
            _rmtree_at(dfd, name)
        else:
            os.unlink(name, dir_fd=dfd)

    def remove(self, path: keys.Path) -> None:
        dfd = self._open_parent(path, create=False)
        if dfd is None:
            return
        try:
            name = self._check(path[-1])
            try:
                s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if st.S_ISDIR(s.st_mode):
                try:
                    os.rmdir(name, dir_fd=dfd)
                except OSError:
                    pass  # holds untracked files: leave it
            else:
                os.unlink(name, dir_fd=dfd)
        finally:
            os.close(dfd)

    def write(self, path: keys.Path) -> tuple[Info, list[tuple[int, Extent]], bytes] | None:
        """Make the host path hold the stored one; for files return (Info, extents, BLAKE3)."""
        info = self.tx.require(path)
        if not path:
            return None
        dfd = self._open_parent(path, create=True)
        try:
            name = self._check(path[-1])
            if info.is_dir:
                try:
                    s = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    if not st.S_ISDIR(s.st_mode):
                        os.unlink(name, dir_fd=dfd)
                        raise FileNotFoundError
                except FileNotFoundError:
                    os.mkdir(name, info.mode, dir_fd=dfd)
                _chmod_at(dfd, name, info.mode)
                return None
            if info.is_symlink:
                self._clear(dfd, name)
                os.symlink(info.target, name, dir_fd=dfd)
                return None
            if info.is_special:  # a FIFO, socket or device node (a device takes root)
                self._clear(dfd, name)
                os.mknod(name, info.st_mode(), info.rdev, dir_fd=dfd)
                _chmod_node_at(dfd, name, info.mode)
                return None
            with naming_file(keys.show(path)):
                return self._write_file(dfd, name, path, info)
        finally:
            os.close(dfd)

    def _write_file(self, dfd: int, name: bytes, path: keys.Path, info: Info):
        tmp = b".got-tmp-" + name[:200]
        extents = [(end, e) for _, end, e in self.tx.extents(path)]
        h = blake3.blake3()
        scratch = [bytearray()]  # see _read
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            pos = 0
            for end, extent in extents:
                start = end - extent.length
                if start > pos:
                    h.update(bytes(start - pos))
                    os.lseek(fd, start, os.SEEK_SET)
                data = self._read(extent, scratch)
                h.update(data)
                write_all(fd, data)
                pos = end
            if info.size > pos:
                h.update(bytes(info.size - pos))
            os.ftruncate(fd, info.size)
            os.fchmod(fd, info.mode)
        finally:
            os.close(fd)
        self._clear(dfd, name)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        return Info.file(info.mode, info.size), extents, h.digest()

    def _read(self, extent: Extent, scratch: list[bytearray]) -> memoryview:
        """The bytes of `extent`, valid until the next call. A whole raw chunk is decrypted
        into `scratch[0]` (replaced by a larger one when too small, else reused), which spares
        a fresh buffer, and its page faults, per chunk; anything else (a slice of a shared
        chunk, a compressed one) comes through the chunk cache."""
        data = self.fs.data
        if extent.offset == 0 and data.decodes_into:
            def into(stored) -> memoryview | None:
                raw = data.codec.raw_size(len(stored))
                if raw != extent.length:
                    return None
                if len(scratch[0]) < raw:
                    scratch[0] = bytearray(raw)
                out = memoryview(scratch[0])[:raw]
                return out if data.codec.decode_into(extent.ref, stored, out) else None
            placed = data.store.get_with(extent.ref.cid, into)
            if placed is not None:
                return placed
        return data.read_extent(extent)



def _chmod_node_at(dfd: int, name: bytes, mode: int) -> None:
    """chmod a node just made (mknod applies the umask) without following a symlink: through
    an O_PATH fd, whose /proc/self/fd link names that very inode."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        os.chmod(b"/proc/self/fd/%d" % fd, mode)
    finally:
        os.close(fd)


def _chmod_at(dfd: int, name: bytes, mode: int) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _rmtree_at(dfd: int, name: bytes) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    try:
        for entry in os.listdir(fd):
            s = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if st.S_ISDIR(s.st_mode):
                _rmtree_at(fd, os.fsencode(entry))
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)
