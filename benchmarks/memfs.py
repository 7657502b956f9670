"""memfs: the smallest writable pyfuse3 filesystem, the floor under the programs benchmark.

It keeps everything in dicts and bytearrays and does nothing a program could notice beyond
POSIX: no chunking, no store, no journal, an fsync that returns at once. It mounts with the
options the read-write gotfs mount uses and waits for requests the same way
(gotfs/mount/requests.py), so a program run in it costs what FUSE through pyfuse3 and trio
costs with no filesystem behind it. benchmarks/programs.py runs tar, sqlite and the saves in it
beside the host and the gotfs mount: the gap between memfs and the host is the price of being
a pyfuse3 filesystem at all, the gap between gotfs and memfs is gotfs's own.

    python -m benchmarks.memfs MOUNTPOINT      (prints "ready" once mounted; SIGTERM unmounts)
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import time

import pyfuse3
import trio

ROOT = pyfuse3.ROOT_INODE
TIMEOUT = 300  # entry and attribute timeouts (s): nothing changes behind the kernel's back


class Node:
    """An inode: its attributes, and a directory's entries, a file's bytes or a link's target."""

    __slots__ = ("ino", "mode", "uid", "gid", "nlink", "rdev", "atime", "mtime", "ctime", "data", "entries",
                 "target", "xattrs")

    def __init__(self, ino: int, mode: int, uid: int, gid: int, rdev: int = 0):
        now = time.time_ns()
        self.ino, self.mode, self.uid, self.gid, self.rdev = ino, mode, uid, gid, rdev
        self.nlink = 2 if stat.S_ISDIR(mode) else 1
        self.atime = self.mtime = self.ctime = now
        self.data = bytearray()
        self.entries: dict[bytes, int] | None = {} if stat.S_ISDIR(mode) else None
        self.target = b""
        self.xattrs: dict[bytes, bytes] = {}

    def attributes(self) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino, a.st_mode, a.st_nlink, a.st_uid, a.st_gid, a.st_rdev = (
            self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev)
        a.st_size = len(self.target) if stat.S_ISLNK(self.mode) else len(self.data)
        a.st_atime_ns, a.st_mtime_ns, a.st_ctime_ns = self.atime, self.mtime, self.ctime
        a.st_blksize, a.st_blocks = 4096, -(-a.st_size // 512)
        a.entry_timeout = a.attr_timeout = TIMEOUT
        return a


def _fail(code: int):
    raise pyfuse3.FUSEError(code)


class MemFS(pyfuse3.Operations):
    supports_dot_lookup = False
    enable_writeback_cache = False

    def __init__(self) -> None:
        super().__init__()
        self.nodes = {ROOT: Node(ROOT, stat.S_IFDIR | 0o755, os.getuid(), os.getgid())}
        self.next_ino = ROOT + 1

    # -- names ---------------------------------------------------------------------------

    def _dir(self, ino: int) -> Node:
        node = self.nodes.get(ino) or _fail(errno.ENOENT)
        return node if node.entries is not None else _fail(errno.ENOTDIR)

    def _make(self, parent: int, name: bytes, mode: int, ctx, rdev: int = 0) -> Node:
        d = self._dir(parent)
        if name in d.entries:
            _fail(errno.EEXIST)
        node = Node(self.next_ino, mode, ctx.uid, ctx.gid, rdev)
        self.next_ino += 1
        self.nodes[node.ino] = node
        d.entries[name] = node.ino
        d.nlink += stat.S_ISDIR(mode)
        d.mtime = d.ctime = node.ctime
        return node

    async def lookup(self, parent, name, ctx):
        ino = self._dir(parent).entries.get(name)
        return self.nodes[ino].attributes() if ino is not None else _fail(errno.ENOENT)

    async def forget(self, inode_list):
        pass  # nodes live as long as the mount

    async def mkdir(self, parent, name, mode, ctx):
        return self._make(parent, name, stat.S_IFDIR | (mode & 0o7777), ctx).attributes()

    async def mknod(self, parent, name, mode, rdev, ctx):
        return self._make(parent, name, mode, ctx, rdev).attributes()

    async def symlink(self, parent, name, target, ctx):
        node = self._make(parent, name, stat.S_IFLNK | 0o777, ctx)
        node.target = bytes(target)
        return node.attributes()

    async def readlink(self, inode, ctx):
        return self.nodes[inode].target

    async def link(self, inode, new_parent, new_name, ctx):
        d, node = self._dir(new_parent), self.nodes[inode]
        if new_name in d.entries:
            _fail(errno.EEXIST)
        d.entries[new_name] = inode
        node.nlink += 1
        node.ctime = d.mtime = d.ctime = time.time_ns()
        return node.attributes()

    def _drop(self, parent: int, name: bytes, want_dir: bool) -> None:
        d = self._dir(parent)
        ino = d.entries.get(name) or _fail(errno.ENOENT)
        node = self.nodes[ino]
        if want_dir != (node.entries is not None):
            _fail(errno.EISDIR if node.entries is not None else errno.ENOTDIR)
        if want_dir and node.entries:
            _fail(errno.ENOTEMPTY)
        del d.entries[name]
        node.nlink -= 2 if want_dir else 1
        d.nlink -= want_dir
        node.ctime = d.mtime = d.ctime = time.time_ns()

    async def unlink(self, parent, name, ctx):
        self._drop(parent, name, False)

    async def rmdir(self, parent, name, ctx):
        self._drop(parent, name, True)

    async def rename(self, old_parent, old_name, new_parent, new_name, flags, ctx):
        if flags:
            _fail(errno.EINVAL)  # RENAME_EXCHANGE / NOREPLACE: not needed by the programs
        src, dst = self._dir(old_parent), self._dir(new_parent)
        ino = src.entries.get(old_name) or _fail(errno.ENOENT)
        there = dst.entries.get(new_name)
        if there is not None and there != ino:
            self._drop(new_parent, new_name, self.nodes[there].entries is not None)
        del src.entries[old_name]
        dst.entries[new_name] = ino
        if self.nodes[ino].entries is not None:
            src.nlink, dst.nlink = src.nlink - 1, dst.nlink + 1
        src.mtime = src.ctime = dst.mtime = dst.ctime = self.nodes[ino].ctime = time.time_ns()

    # -- attributes ----------------------------------------------------------------------

    async def getattr(self, inode, ctx):
        return self.nodes[inode].attributes()

    async def setattr(self, inode, attr, fields, fh, ctx):
        node, now = self.nodes[inode], time.time_ns()
        if fields.update_size:
            size = attr.st_size
            if size < len(node.data):
                del node.data[size:]
            else:
                node.data.extend(bytes(size - len(node.data)))
            node.mtime = now
        if fields.update_mode:
            node.mode = stat.S_IFMT(node.mode) | (attr.st_mode & 0o7777)
        if fields.update_uid:
            node.uid = attr.st_uid
        if fields.update_gid:
            node.gid = attr.st_gid
        if fields.update_atime:
            node.atime = attr.st_atime_ns
        if fields.update_mtime:
            node.mtime = attr.st_mtime_ns
        node.ctime = now
        return node.attributes()

    async def getxattr(self, inode, name, ctx):
        value = self.nodes[inode].xattrs.get(name)
        return value if value is not None else _fail(pyfuse3.ENOATTR)

    async def setxattr(self, inode, name, value, ctx):
        self.nodes[inode].xattrs[name] = bytes(value)

    async def listxattr(self, inode, ctx):
        return list(self.nodes[inode].xattrs)

    async def removexattr(self, inode, name, ctx):
        if self.nodes[inode].xattrs.pop(name, None) is None:
            _fail(pyfuse3.ENOATTR)

    async def access(self, inode, mode, ctx):
        return True  # default_permissions: the kernel checks

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 24
        s.f_files = s.f_ffree = s.f_favail = 1 << 24
        s.f_namemax = 255
        return s

    # -- files and directories -----------------------------------------------------------

    async def create(self, parent, name, mode, flags, ctx):
        node = self._make(parent, name, stat.S_IFREG | (mode & 0o7777), ctx)
        return pyfuse3.FileInfo(fh=node.ino), node.attributes()

    async def open(self, inode, flags, ctx):
        if flags & os.O_TRUNC:
            del self.nodes[inode].data[:]
        return pyfuse3.FileInfo(fh=inode)

    async def read(self, fh, off, size):
        return bytes(self.nodes[fh].data[off:off + size])

    async def write(self, fh, off, buf):
        node = self.nodes[fh]
        if off > len(node.data):
            node.data.extend(bytes(off - len(node.data)))
        node.data[off:off + len(buf)] = buf
        node.mtime = node.ctime = time.time_ns()
        return len(buf)

    async def flush(self, fh):
        pass

    async def release(self, fh):
        pass

    async def fsync(self, fh, datasync):
        pass  # memory: nothing to make durable

    async def opendir(self, inode, ctx):
        self._dir(inode)
        return inode

    async def readdir(self, fh, start_id, token):
        entries = list(self._dir(fh).entries.items())
        for i in range(start_id, len(entries)):
            name, ino = entries[i]
            if not pyfuse3.readdir_reply(token, name, self.nodes[ino].attributes(), i + 1):
                break

    async def releasedir(self, fh):
        pass

    async def fsyncdir(self, fh, datasync):
        pass


async def _serve(mountpoint: str) -> None:
    from gotfs.mount import requests

    fds = requests.fuse_fds()
    pyfuse3.init(MemFS(), mountpoint, set(pyfuse3.default_options) | {"fsname=memfs", "subtype=memfs"})
    wait = requests.install(requests.fuse_fds() - fds, idle=lambda: True)  # no worker threads here
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signal, wait)
            nursery.start_soon(_announce, mountpoint)
            await pyfuse3.main(max_tasks=requests.MAX_TASKS)
            nursery.cancel_scope.cancel()
    finally:
        requests.restore(wait)
        pyfuse3.close(unmount=True)


async def _stop_on_signal(wait) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            pyfuse3.terminate() if wait is None else wait.terminate()
            return


async def _announce(mountpoint: str) -> None:
    await trio.to_thread.run_sync(os.stat, mountpoint)  # answered once the kernel completed INIT
    print("ready", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    trio.run(_serve, args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
