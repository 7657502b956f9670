"""The writable core (Writeback) against a dict model, with changes landing mid-flush.

No FUSE here: this drives the synchronous core that the handlers call, so that a flush can
be interrupted deterministically — random operations run *while* a flush is chunking
(between its plan and apply phases), which is where buffered writes, truncates, renames
and removals race with a spill. After every step reads must match the model; after every
flush the published root must match it too.
"""

from __future__ import annotations

import os
import random

import pytest

from gotfs.fs import FS
from gotfs import regions
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotkv import MemoryStore
from tests.gotfs.mount.fakes import RecordingSource
from gotkv.errors import GotError


class Harness:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fs = FS(MemoryStore())
        self.source = RecordingSource(self.fs)
        self.wb = writeback.Writeback(self.fs, self.source, max_dirty=1 << 40)
        self.model: dict[bytes, bytearray] = {}
        self.mtimes: dict[bytes, int | None] = {}  # explicit times not overtaken by a write
        self.fhs: dict[bytes, int] = {}  # name -> an open handle
        self.held: list[tuple[int, bytearray]] = []  # handles of removed files, with their contents

    def ino(self, name: bytes) -> int:
        return self.wb.lookup(ROOT_INODE, name).ino

    def handle(self, name: bytes) -> int:
        if name not in self.fhs:
            self.fhs[name] = self.wb.open(self.ino(name), os.O_RDWR)
        return self.fhs[name]

    def step(self) -> None:
        rng, wb, model = self.rng, self.wb, self.model
        names = sorted(model)
        op = rng.random()
        if op < 0.15 or not names:
            name = b"f%d" % rng.randrange(40)
            if name in model:
                return
            fh, _ = wb.create(ROOT_INODE, name, 0o644)
            self.fhs[name] = fh
            model[name] = bytearray()
            self.mtimes[name] = None
            return
        name = rng.choice(names)
        if op < 0.55:
            off = rng.choice([0, len(model[name]), rng.randrange(len(model[name]) + 1), rng.randrange(3 << 20)])
            data = rng.randbytes(rng.choice([1, 100, 5000, 70_000, 600_000]))
            wb.write(self.handle(name), off, data)
            m = model[name]
            if len(m) < off + len(data):
                m.extend(bytes(off + len(data) - len(m)))
            m[off:off + len(data)] = data
            self.mtimes[name] = None
        elif op < 0.6:
            size = rng.choice([0, rng.randrange(len(model[name]) + 1), rng.randrange(4 << 20)])
            wb.setattr(self.ino(name), size=size)
            m = model[name]
            del m[size:]
            m.extend(bytes(size - len(m)))
            self.mtimes[name] = None
        elif op < 0.65:
            t = rng.randrange(1 << 60)
            wb.setattr(self.ino(name), mtime_ns=t)
            self.mtimes[name] = t
        elif op < 0.75:
            new = rng.choice(names) if rng.random() < 0.4 else b"f%d" % rng.randrange(40)
            if new == name:
                return
            if new in model and new in self.fhs:  # the replaced file stays readable through its handle
                self.held.append((self.fhs.pop(new), model[new]))
            wb.rename(ROOT_INODE, name, ROOT_INODE, new)
            model[new] = model.pop(name)
            self.mtimes[new] = self.mtimes.pop(name)
            if name in self.fhs:
                self.fhs[new] = self.fhs.pop(name)
        elif op < 0.8:
            if name in self.fhs:
                self.held.append((self.fhs.pop(name), model[name]))
            wb.unlink(ROOT_INODE, name)
            del model[name], self.mtimes[name]
        elif op < 0.9:
            fh = self.fhs.pop(name, None)
            if fh is not None:
                wb.release(fh)
        else:
            self.check_reads(name)

    def check_reads(self, name: bytes) -> None:
        m = self.model[name]
        st = self.wb.getattr(self.ino(name))
        assert st.size == len(m), name
        assert self.mtimes[name] in (None, st.mtime_ns), name
        off = self.rng.randrange(len(m) + 1)
        assert bytes(self.wb.read(self.handle(name), off, 1 << 20)) == bytes(m[off:off + (1 << 20)]), (name, off)
        for fh, data in self.held:
            assert bytes(self.wb.read(fh, 0, len(data) + 10)) == bytes(data)

    def check_published(self) -> None:
        root = self.source.root
        self.fs.kv.check(root)
        assert sorted(n.encode() for n, _ in self.fs.listdir(root)) == sorted(self.model)
        for name, data in self.model.items():
            assert self.fs.read(root, name.decode()) == bytes(data), name
            assert self.mtimes[name] in (None, self.fs.stat(root, name.decode()).mtime_ns), name


@pytest.mark.parametrize("seed", range(16))
def test_model_with_changes_during_flushes(seed, monkeypatch):
    h = Harness(seed)
    real_chunk = regions.chunk
    during = []

    def chunk_with_interference(data, plans):  # runs while a flush holds no lock
        for _ in range(h.rng.randrange(6) if h.fhs is not None else 0):
            h.step()
            during.append(1)
        real_chunk(data, plans)

    monkeypatch.setattr(regions, "chunk", chunk_with_interference)
    for i in range(250):
        try:
            h.step()
        except GotError as e:  # only the model's own mistakes could cause one
            raise AssertionError(f"step {i}: {e}") from e
        if h.rng.random() < 0.08:
            h.wb.flush()
            with h.wb.lock:
                pending = bool(h.wb.buffers.open) or len(h.wb.tx.batch)
            if not pending:
                h.check_published()
    for fh in list(h.fhs.values()) + [fh for fh, _ in h.held]:
        h.wb.release(fh)
    h.fhs = None  # no more interference
    h.wb.flush()
    assert not h.wb.orphans and not h.wb.buffers
    h.check_published()
    assert during, "no operation ran during a flush"
