"""Ceiling: the smallest useful pyfuse3 filesystem — what Python FUSE can do at best here.

It serves, read-only and from memory, one directory holding `data` and `small/0..N-1` (tiny
files), with the same kernel settings as the real mount (long timeouts, keep_cache,
readahead raised, replies as memoryview slices, no worker threads). Benchmarks compare the
gotfs mount against it: the gap is gotfs's own cost; the ceiling itself is pyfuse3 + trio +
the kernel.

`data` is either the bytes of a real file, read into memory at start (--file: "the same file
from an in-memory filesystem", what the mount benchmark compares against), or SIZE bytes of
a 4 MiB random pattern repeated (or zeros). The pattern is the hotter ceiling: its 8 MiB stay
in the CPU's cache, so each reply is copied from cache, where any filesystem serving a
gigabyte of distinct bytes copies each of them from main memory at least once (on these VMs
3.9 GB/s against 26 GB/s from cache, measured with 1 MiB copies).

    python -m benchmarks.ceiling MOUNTPOINT [--file PATH | --size 1G [--zeros]] [--small 2000] [--threads]

--threads answers reads through trio.to_thread (as the gotfs mount does for uncached
chunks), to price the thread hop.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from pathlib import Path

import pyfuse3
import trio

ROOT = pyfuse3.ROOT_INODE
DATA, SMALL = ROOT + 1, ROOT + 2
FIRST_SMALL = ROOT + 3
PATTERN = 4 << 20  # a random block repeated: real bytes, not all zeros


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


class Ceiling(pyfuse3.Operations):
    def __init__(self, size: int, *, zeros: bool = False, small: int = 2000, threads: bool = False,
                 content: bytes | None = None):
        """`content`: serve these bytes as `data` (size is then their length); else a pattern."""
        super().__init__()
        if content is not None:
            self.size, self.block, self.period = len(content), memoryview(content), None
        else:
            block = bytes(PATTERN) if zeros else os.urandom(PATTERN)
            # any read of <= PATTERN bytes is one slice of the doubled block
            self.size, self.block, self.period = size, memoryview(block + block), PATTERN
        self.small = small
        self.threads = threads
        self.limiter = trio.CapacityLimiter(8)

    def _attr(self, ino: int) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.entry_timeout = a.attr_timeout = 3600
        if ino in (ROOT, SMALL):
            a.st_mode, a.st_nlink, a.st_size = stat.S_IFDIR | 0o755, 2, 0
        elif ino == DATA:
            a.st_mode, a.st_nlink, a.st_size = stat.S_IFREG | 0o444, 1, self.size
        else:
            a.st_mode, a.st_nlink, a.st_size = stat.S_IFREG | 0o444, 1, len(self._small(ino))
        a.st_uid, a.st_gid = os.getuid(), os.getgid()
        a.st_blksize = 128 << 10
        a.st_blocks = -(-a.st_size // 512)
        return a

    def _small(self, ino: int) -> bytes:
        return b"small file %d\n" % (ino - FIRST_SMALL)

    async def lookup(self, parent, name, ctx):
        if parent == ROOT and name in (b"data", b"small"):
            return self._attr(DATA if name == b"data" else SMALL)
        if parent == SMALL and name.isdigit() and int(name) < self.small:
            return self._attr(FIRST_SMALL + int(name))
        raise pyfuse3.FUSEError(errno.ENOENT)

    async def getattr(self, inode, ctx):
        return self._attr(inode)

    async def opendir(self, inode, ctx):
        return inode

    async def readdir(self, fh, start_id, token):
        names = [(b"data", DATA), (b"small", SMALL)] if fh == ROOT else \
            [(b"%d" % i, FIRST_SMALL + i) for i in range(self.small)]
        for i in range(start_id, len(names)):
            if not pyfuse3.readdir_reply(token, names[i][0], self._attr(names[i][1]), i + 1):
                break

    async def open(self, inode, flags, ctx):
        return pyfuse3.FileInfo(fh=inode, keep_cache=True)

    def _read(self, fh, off, size):
        if fh != DATA:
            return self._small(fh)[off:off + size]
        if self.period is None:
            return self.block[off:off + size]
        size = max(0, min(size, self.size - off, self.period))
        start = off % self.period
        return self.block[start:start + size]

    async def read(self, fh, off, size):
        if self.threads:
            return await trio.to_thread.run_sync(self._read, fh, off, size, limiter=self.limiter)
        return self._read(fh, off, size)


def main(argv: list[str] | None = None) -> int:
    from gotfs.mount import READ_AHEAD_KB, set_read_ahead

    p = argparse.ArgumentParser(prog="python -m benchmarks.ceiling", description=__doc__.split("\n")[0])
    p.add_argument("mountpoint")
    p.add_argument("--file", help="serve this file's bytes, read into memory at start, as data")
    p.add_argument("--size", default="1G", help="without --file: size of data, a repeated pattern")
    p.add_argument("--zeros", action="store_true", help="without --file: the pattern is zeros")
    p.add_argument("--small", type=int, default=2000)
    p.add_argument("--threads", action="store_true")
    args = p.parse_args(argv)
    content = None
    if args.file is not None:
        try:
            content = Path(args.file).read_bytes()
        except OSError as e:
            p.error(f"cannot read --file {args.file}: {e.strerror}")
    try:
        size = parse_size(args.size)
    except ValueError:
        p.error(f"--size {args.size!r} is not a size (e.g. 1G, 512M, 4096)")
    ops = Ceiling(size, zeros=args.zeros, small=args.small, threads=args.threads,
                  content=content)
    pyfuse3.init(ops, args.mountpoint, set(pyfuse3.default_options) | {"fsname=ceiling", "ro"})

    async def serve():
        async with trio.open_nursery() as nursery:
            async def announce():
                await trio.to_thread.run_sync(os.stat, args.mountpoint)
                await trio.to_thread.run_sync(set_read_ahead, args.mountpoint, READ_AHEAD_KB)
                print("ready", flush=True)
            nursery.start_soon(announce)
            await pyfuse3.main()

    try:
        trio.run(serve)
    finally:
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
