"""Host attributes of an export: which stored attributes are given back to the host, and how.

Both sides of an export set attributes: the main thread on directories, symlinks and special
files, the workers on the regular files they finish. The policy (mtimes, set-ID bits, owners)
and the record of xattrs the host refused live here once, shared by both.
"""

from __future__ import annotations

import os
import stat
import threading

from gotfs import keys
from gotfs.info import Info
from gotfs.keys import Path


class HostAttrs:
    """What an export restores: with `mtimes`, stored mtimes and atimes; with `setid`, the
    set-user/group-ID bits (dropped otherwise: a stored tree should not mint setuid
    programs); with `owners`, stored owners (it takes root). Thread-safe."""

    def __init__(self, *, mtimes: bool, setid: bool, owners: bool):
        self.mtimes = mtimes
        self.setid = setid
        self.owners = owners
        self.xattr_failures: list[str] = []  # "path:name" of each xattr the host refused
        self._lock = threading.Lock()

    def mode(self, info: Info) -> int:
        """The permission bits to set: the stored ones, less set-ID bits unless `setid`."""
        return info.mode if self.setid else info.mode & ~(stat.S_ISUID | stat.S_ISGID)

    def refused(self, path: Path, name: bytes) -> None:
        """Record an xattr the host would not take (reported once, at the end)."""
        with self._lock:
            self.xattr_failures.append(f"{keys.show(path)}:{os.fsdecode(name)}")

    def set_xattrs(self, fd: int, path: Path, info: Info) -> None:
        """The stored xattrs on an open fd; a refusal is recorded, not raised."""
        for n, v in info.xattrs:
            try:
                os.setxattr(fd, n, v)
            except OSError:
                self.refused(path, n)

    def chown(self, fd: int, info: Info) -> None:
        """With `owners`, the stored owner on an open fd (nothing if none is stored)."""
        if self.owners and info.uid is not None:
            os.fchown(fd, info.uid, info.gid)

    def restore_times(self, where: bytes | int, info: Info, dir_fd: int | None = None) -> None:
        """With mtimes=True, the stored mtime and atime of `where`: a name in dir_fd (never
        followed), an open fd, or a /proc/self/fd path. Last, after the owner and the mode
        (chown clears set-ID bits)."""
        nofollow = {} if dir_fd is None else {"dir_fd": dir_fd, "follow_symlinks": False}
        if self.mtimes and info.mtime_ns is not None:
            atime = info.atime_ns if info.atime_ns is not None else info.mtime_ns
            os.utime(where, ns=(atime, info.mtime_ns), **nofollow)
