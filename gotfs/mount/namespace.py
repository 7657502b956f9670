"""The writable mount's namespace operations: create, mknod, mkdir, symlink, unlink, rmdir
and rename, each applied to Writeback's live transaction under its state lock.

A mixin of Writeback (gotfs/mount/writeback.py), which supplies the transaction `tx`, the
inode table, the buffers and orphans, and the listing caches of Snapshot; these methods are
called as Writeback's own. Which change moves which timestamp, and who owns a new entry, are
attrs.py's rules. A file removed or renamed over while open becomes an Orphan here.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gotfs import dirs, files
from gotfs.errors import AlreadyExists, IsADirectory
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.mount import attrs
from gotfs.mount.readahead import FileView
from gotfs.mount.snapshot import Handle, Stat, child_path
from gotkv.errors import GotError

if TYPE_CHECKING:
    from gotfs.mount.dirty import Buffers
    from gotfs.mount.inodes import InodeTable
    from gotfs.tx import Tx


class Refused(GotError):
    """An operation gotfs does not support (hard links, RENAME_EXCHANGE, ACLs)."""

    def __init__(self, what: str, err: int):
        super().__init__(f"{what} is not supported by gotfs")
        self.errno = err


@dataclass(slots=True)
class Orphan:
    """A file removed while open: what its handles still read."""

    info: Info
    view: FileView


class NamespaceOps:
    """Entries made, removed and renamed through the mount. See the module docstring."""

    tx: Tx
    table: InodeTable
    buffers: Buffers
    orphans: dict[int, Orphan]

    def _new_entry(self, parent: int, name: bytes, path: Path, info: Info, caller: tuple[int | None, int | None],
                   now: int) -> Stat:
        """Give the entry just made at `path` its owner, touch its directory, number it."""
        ppath = path[:-1]
        pinfo = self.tx.require(ppath)
        uid, gid = caller
        made = attrs.new_entry(info, pinfo, (self.uid if uid is None else uid, self.gid if gid is None else gid),
                               (self.uid, self.gid))
        if made != info:
            self.tx.put_info(path, made)
        self.tx.put_info(ppath, attrs.touched(pinfo, now))
        if made.is_dir:
            self._count_subdirs(parent, 1)
        self._forget_listings()
        ino = self.table.child(parent, name)
        self.table.ref(ino)
        return self._stat(ino, made)

    def create(self, parent: int, name: bytes, mode: int, uid: int | None = None,
               gid: int | None = None) -> tuple[int, Stat]:
        """Create and open an empty regular file owned by uid:gid (default: the serving user)."""
        with self.lock:
            path = child_path(self.table.path(parent), name)
            now = time.time_ns()
            info = files.create(self.tx, path, mode & 0o7777, mtime_ns=now)
            st = self._new_entry(parent, name, path, info, (uid, gid), now)
            return self._new_handle(Handle(st.ino)), st

    def mknod(self, parent: int, name: bytes, mode: int, rdev: int = 0, uid: int | None = None,
              gid: int | None = None) -> Stat:
        """A regular file, FIFO, socket or device node (`mode` holds the type bits)."""
        with self.lock:
            path = child_path(self.table.path(parent), name)
            now = time.time_ns()
            if stat.S_IFMT(mode) in (0, stat.S_IFREG):
                info = files.create(self.tx, path, mode & 0o7777, mtime_ns=now)
            else:
                info = files.mknod(self.tx, path, mode, rdev, mtime_ns=now)
            return self._new_entry(parent, name, path, info, (uid, gid), now)

    def mkdir(self, parent: int, name: bytes, mode: int, uid: int | None = None, gid: int | None = None) -> Stat:
        with self.lock:
            path = child_path(self.table.path(parent), name)
            now = time.time_ns()
            dirs.mkdir(self.tx, path, mode & 0o7777, mtime_ns=now)
            return self._new_entry(parent, name, path, self.tx.require(path), (uid, gid), now)

    def symlink(self, parent: int, name: bytes, target: bytes, uid: int | None = None,
                gid: int | None = None) -> Stat:
        with self.lock:
            path = child_path(self.table.path(parent), name)
            now = time.time_ns()
            info = files.symlink(self.tx, path, target, mtime_ns=now)
            return self._new_entry(parent, name, path, info, (uid, gid), now)

    def link(self, *args) -> Stat:
        raise Refused("hard links", errno.EPERM)

    def _keep(self, parent: int, name: bytes, path: Path, info: Info) -> tuple[int, Orphan | None] | None:
        """What `path` leaves behind when it goes: its inode, and its contents if still open."""
        ino = self.table.find(parent, name)
        if ino is None:
            return None
        if self.table.pinned(ino) and info.is_file:
            return ino, Orphan(info, FileView.of(info.size, self.tx.extents(path)))
        return ino, None

    def _orphan(self, ino: int, orphan: Orphan | None) -> None:
        """The path of `ino` is gone: keep its contents for its open handles, else drop its buffers."""
        if orphan is not None:
            orphan.info = attrs.changed(orphan.info, time.time_ns())  # its link count fell to 0
            self.orphans[ino] = orphan
        else:
            self.buffers.drop(ino)

    def unlink(self, parent: int, name: bytes) -> None:
        with self.lock:
            path = child_path(self.table.path(parent), name)
            info = self.tx.require(path)
            if info.is_dir:
                raise IsADirectory(os.fsdecode(b"/".join(path)))
            gone = self._keep(parent, name, path, info)
            dirs.remove(self.tx, path)
            if gone is not None:
                self._orphan(*gone)
            self._moved(time.time_ns(), parent)
            self.table.detach(parent, name)

    def rmdir(self, parent: int, name: bytes) -> None:
        with self.lock:
            path = child_path(self.table.path(parent), name)
            dirs.rmdir(self.tx, path)
            self._count_subdirs(parent, -1)
            self._moved(time.time_ns(), parent)
            self.table.detach(parent, name)

    def _moved(self, now: int, *parents: int) -> None:
        """Entries of these directories were removed or renamed: mtime and ctime now."""
        for ino in set(parents):
            path = self.table.path(ino)
            self.tx.put_info(path, attrs.touched(self.tx.require(path), now))
        self._forget_listings()

    def _forget_listings(self) -> None:
        """Names changed: listings kept for readdir (Snapshot._links) may be stale."""
        self._listed.clear()
        self._listed_entries = 0

    def _count_subdirs(self, ino: int, delta: int) -> None:
        """Keep a remembered subdirectory count (Snapshot._links) right: O(1)."""
        if ino in self._subdirs:
            self._subdirs[ino] += delta

    def rename(self, parent: int, name: bytes, new_parent: int, new_name: bytes, *,
               noreplace: bool = False, exchange: bool = False) -> None:
        """POSIX rename(2); with noreplace an existing target is EEXIST; exchange is refused."""
        if exchange:
            raise Refused("RENAME_EXCHANGE", errno.EINVAL)
        with self.lock:
            src = child_path(self.table.path(parent), name)
            dst = child_path(self.table.path(new_parent), new_name)
            target = self.tx.info(dst)
            if target is not None and noreplace:
                raise AlreadyExists(os.fsdecode(b"/".join(dst)))
            replaced = None
            if target is not None and src != dst:
                replaced = self._keep(new_parent, new_name, dst, target)
            dirs.rename(self.tx, src, dst)  # checks everything before it changes anything
            if replaced is not None:
                self._orphan(*replaced)
            if src != dst:
                if self.tx.require(dst).is_dir:
                    self._count_subdirs(parent, -1)
                    self._count_subdirs(new_parent, 1)
                if target is not None and target.is_dir:
                    self._count_subdirs(new_parent, -1)
                now = time.time_ns()
                self.tx.put_info(dst, attrs.changed(self.tx.require(dst), now))
                self._moved(now, parent, new_parent)
            self.table.rename(parent, name, new_parent, new_name)
