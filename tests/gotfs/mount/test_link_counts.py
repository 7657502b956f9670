"""Directory link counts on the writable core, kept incrementally, against a recount.

No FUSE: random mkdir, rmdir, rename (over empty directories too), file creates and
flushes on the synchronous core. Whenever a count is remembered, it must equal 2 + the
subdirectories found by listing the tree afresh; and every directory, asked, must say so.
"""

from __future__ import annotations

import random

import pytest

from gotfs import dirs
from gotfs.fs import FS
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotfs.tx import Tx
from gotkv import MemoryStore
from gotkv.errors import GotError

from tests.gotfs.mount.fakes import RecordingSource

NAMES = [b"a", b"b", b"c"]


def _dirs(tx: Tx, path=()) -> list[tuple[bytes, ...]]:
    return [p for p, info in dirs.walk(tx, path) if info.is_dir]


def _ino(wb, path) -> int:
    ino = ROOT_INODE
    for name in path:
        ino = wb.lookup(ino, name).ino
    return ino


@pytest.mark.parametrize("seed", range(6))
def test_link_counts_match_a_recount(seed):
    rng = random.Random(seed)
    fs = FS(MemoryStore())
    wb = writeback.Writeback(fs, RecordingSource(fs))
    for step in range(300):
        known = _dirs(wb.tx)
        parent = rng.choice(known)
        op = rng.choice(["mkdir", "mkdir", "rmdir", "rename", "file", "flush", "stat"])
        try:
            if op == "mkdir":
                wb.mkdir(_ino(wb, parent), rng.choice(NAMES), 0o755)
            elif op == "file":
                wb.release(wb.create(_ino(wb, parent), rng.choice(NAMES), 0o644)[0])
            elif op == "rmdir" and parent:
                wb.rmdir(_ino(wb, parent[:-1]), parent[-1])
            elif op == "rename" and parent:
                dst = rng.choice(known)
                wb.rename(_ino(wb, parent[:-1]), parent[-1], _ino(wb, dst), rng.choice(NAMES))
            elif op == "flush":
                wb.flush()
            elif op == "stat":
                wb.getattr(_ino(wb, parent))  # remembers a count
        except GotError:
            pass  # refused (exists, not empty, into itself...): nothing changed
        with wb.lock:
            for path in _dirs(wb.tx):
                ino = _ino(wb, path)
                if ino in wb._subdirs:
                    want = sum(1 for _, info in dirs.listdir(wb.tx, path) if info.is_dir)
                    assert wb._subdirs[ino] == want, (seed, step, op, path)
    for path in _dirs(wb.tx):
        want = 2 + sum(1 for _, info in dirs.listdir(wb.tx, path) if info.is_dir)
        assert wb.getattr(_ino(wb, path)).nlink == want, path
    wb.close()
