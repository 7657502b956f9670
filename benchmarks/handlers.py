"""handlers benchmark: the read-write mount's own CPU per FUSE request, with no kernel and no FUSE.

The programs benchmark times whole programs through the kernel, where the machine's load,
pyfuse3's session loop and the kernel's round trips (context switches, wake-ups) are most of
what a request costs and vary from run to run. This one calls the mount's request handlers
(gotfs.mount.ops.Ops over a Writeback on a MemoryStore) directly on a trio loop, in the
mount's process tuning (tuning.fewer_collections), with the requests tar -x sends for each
file (docs/benchmarks.md, "Programs in a read-write mount"): a lookup of the absent name,
create, three writes of 6, 10 and 3 KiB each after a getxattr of security.capability, setattr
of the mtime, of the owner and of the mode, getattr, flush, release. Files are made two
directories deep, FILES per round; no flush runs (what a flush costs is the programs' and the
rw-mount figures').

  tar_file     handler time per file (us), the minimum over ROUNDS rounds of the sum below
  tar_<call>   per call (us), each call's minimum over the rounds: lookup, create, getxattr,
               write, setattr, getattr, flush, release

Wall time with nothing else of the benchmark running beside it, so close to the loop's CPU;
still, compare runs made together (alternate trees: PYTHONPATH=TREE python -m benchmarks
handlers). Runs anywhere (no root, no FUSE); --quick: fewer files and rounds.
"""

from __future__ import annotations

import os
import time
import types

from benchmarks.harness import Figure

FILES = 2000
ROUNDS = 5
QUICK_FILES, QUICK_ROUNDS = 300, 2
WRITES = (6144, 10240, 3000)  # one small file as tar writes it: 10 KiB records, cut by the archive's
CALLS = {"lookup": 1, "create": 1, "getxattr": len(WRITES), "write": len(WRITES), "setattr": 3,
         "getattr": 1, "flush": 1, "release": 1}  # per file


def _fields(**set_):
    """A stand-in for pyfuse3.SetattrFields (Ops reads only these attributes)."""
    names = ("update_mode", "update_size", "update_mtime", "update_atime", "update_uid", "update_gid")
    return types.SimpleNamespace(**{n: set_.get(n, False) for n in names})


def _round(files: int) -> dict[str, float]:
    """Seconds spent in each kind of call over `files` files, on a fresh core."""
    import pyfuse3
    import trio

    from gotfs.fs import FS
    from gotfs.mount.inodes import ROOT_INODE
    from gotfs.mount.ops import Ops
    from gotfs.mount.writeback import Writeback
    from gotkv import MemoryStore

    class Source:  # a RootSource that keeps its root in memory (nothing is published here)
        def __init__(self, fs):
            self.root = fs.new()

        def current(self):
            return self.root

        def hold(self):
            pass

        def release(self):
            pass

        def publish(self, root):
            self.root = root

    fs = FS(MemoryStore())
    core = Writeback(fs, Source(fs), max_dirty=1 << 30)
    ops = Ops(core, limiter=trio.CapacityLimiter(2))
    ctx = types.SimpleNamespace(uid=os.getuid(), gid=os.getgid(), pid=os.getpid(), umask=0o022)
    attr = types.SimpleNamespace(st_mtime_ns=1_600_000_000 * 10**9, st_atime_ns=0, st_mode=0o100644,
                                 st_uid=os.getuid(), st_gid=os.getgid(), st_size=0)
    mtime, owner, mode = _fields(update_mtime=True), _fields(update_uid=True, update_gid=True), _fields(update_mode=True)
    data = [os.urandom(n) for n in WRITES]
    top = core.mkdir(core.mkdir(ROOT_INODE, b"lib", 0o755).ino, b"pkg", 0o755).ino

    async def tar() -> dict[str, float]:
        spent = dict.fromkeys(CALLS, 0.0)
        clock = time.perf_counter
        for i in range(files):
            name = b"module%05d.py" % i
            t0 = clock()
            await ops.lookup(top, name, ctx)
            t1 = clock()
            info, entry = await ops.create(top, name, 0o100600, os.O_WRONLY | os.O_CREAT, ctx)
            t2 = clock()
            spent["lookup"] += t1 - t0
            spent["create"] += t2 - t1
            off = 0
            for piece in data:
                t0 = clock()
                try:
                    await ops.getxattr(entry.st_ino, b"security.capability", ctx)
                except pyfuse3.FUSEError:
                    pass
                t1 = clock()
                await ops.write(info.fh, off, piece)
                t2 = clock()
                spent["getxattr"] += t1 - t0
                spent["write"] += t2 - t1
                off += len(piece)
            t0 = clock()
            for fields in (mtime, owner, mode):
                await ops.setattr(entry.st_ino, attr, fields, info.fh, ctx)
            t1 = clock()
            await ops.getattr(entry.st_ino, ctx)
            t2 = clock()
            await ops.flush(info.fh)
            t3 = clock()
            await ops.release(info.fh)
            t4 = clock()
            for call, a, b in (("setattr", t0, t1), ("getattr", t1, t2), ("flush", t2, t3), ("release", t3, t4)):
                spent[call] += b - a
        return spent

    try:
        return trio.run(tar)
    finally:
        core.close()


def run(quick: bool) -> list[Figure]:
    from gotfs.mount.tuning import fewer_collections

    files, rounds = (QUICK_FILES, QUICK_ROUNDS) if quick else (FILES, ROUNDS)
    best: dict[str, float] = {}
    totals = []
    with fewer_collections():
        for _ in range(rounds):
            spent = _round(files)
            totals.append(sum(spent.values()))
            for call, seconds in spent.items():
                best[call] = min(best.get(call, seconds), seconds)
    per_file = 1e6 * min(totals) / files
    figs = [Figure("tar_file", per_file, "us", better="lower",
                   note=f"tar -x's {sum(CALLS.values())} requests for one file, through Ops over Writeback with no "
                        f"kernel; min of {rounds} rounds of {files:,} files")]
    for call, n in CALLS.items():
        figs.append(Figure(f"tar_{call}", 1e6 * best[call] / (files * n), "us", better="lower",
                           note=f"per call, {n} a file"))
    return figs
