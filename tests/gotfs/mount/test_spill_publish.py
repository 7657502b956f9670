"""Spills under memory pressure commit but do not publish (gotfs/mount/writeback.py).

`Writeback.flush(publish=False)` chunks the buffered bytes and commits the transaction (a new
`root`) without calling `source.publish` (which flushes the store and records the root); the
next `flush()` publishes. `write` spills that way by itself once the buffers pass twice
`max_dirty`. No FUSE here: the synchronous core is driven directly over a MemoryStore, with a
RootSource that records what it is asked to publish.
"""

from __future__ import annotations

import os
import random
import threading

import pytest

from gotfs.fs import FS
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotkv import MemoryStore
from tests.gotfs.mount.fakes import RecordingSource
from tests.gate import Gate

MiB = 1 << 20


class CountingStore(MemoryStore):
    """A MemoryStore that counts flushes (a spill must not sync the store)."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def setup():
    store = CountingStore()
    fs = FS(store)
    source = RecordingSource(fs)
    made = []

    def make(**kw) -> writeback.Writeback:
        wb = writeback.Writeback(fs, source, **kw)
        made.append(wb)
        return wb

    yield fs, source, make
    for wb in made:
        wb.close()


def read_all(wb: writeback.Writeback, fh: int, size: int) -> bytes:
    out, off = bytearray(), 0
    while off < size + 1:  # one read past the end to see EOF
        part = bytes(wb.read(fh, off, MiB))
        if not part:
            break
        out += part
        off += len(part)
    return bytes(out)


def test_flush_without_publish_then_publish(setup):
    fs, source, make = setup
    store = fs.store
    wb = make(max_dirty=1 << 40)  # no spill of its own: only the explicit flushes below
    initial = wb.root
    rng = random.Random(1)
    fh, _ = wb.create(ROOT_INODE, b"f", 0o644)
    expected = bytearray()
    for _ in range(12):
        data = rng.randbytes(rng.choice([1000, 65536, 300_000]))
        wb.write(fh, len(expected), data)
        expected += data
    # an overwrite in the middle, and a hole past the end
    wb.write(fh, 5000, b"X" * 70_000)
    expected[5000:75_000] = b"X" * 70_000
    wb.write(fh, len(expected) + 4096, b"tail")
    expected += bytes(4096) + b"tail"
    expected = bytes(expected)
    posts_before = store.posts

    spilled = wb.flush(publish=False)

    assert source.published == []  # not published ...
    assert store.flushes == 0  # ... and the store not synced
    assert spilled == wb.root != initial  # but committed: a new root
    assert wb.published == initial != wb.root
    assert not wb.buffers  # the bytes left the buffers ...
    assert store.posts > posts_before  # ... for blobs
    assert not wb.pending()
    assert wb.getattr(wb.lookup(ROOT_INODE, b"f").ino).size == len(expected)
    assert read_all(wb, fh, len(expected)) == expected  # read-your-writes through the tree
    assert fs.read(spilled, "f") == expected  # the committed root holds them
    assert not fs.exists(source.current(), "f")  # the recorded root is still the old one

    published = wb.flush()

    assert source.published == [published]  # exactly one publish
    assert published == spilled == wb.root == wb.published  # of the spilled root: nothing new
    assert store.flushes == 1
    fs.kv.check(published)
    assert fs.read(published, "f") == expected
    assert fs.stat(published, "f").size == len(expected)

    assert wb.flush() == published  # nothing pending: no second publish
    assert wb.flush(publish=False) == published
    assert source.published == [published]
    wb.release(fh)


def test_writes_after_a_spill_go_into_the_same_publish(setup):
    fs, source, make = setup
    wb = make(max_dirty=1 << 40)
    rng = random.Random(2)
    fh, _ = wb.create(ROOT_INODE, b"a", 0o644)
    a1 = rng.randbytes(2 * MiB + 3)
    wb.write(fh, 0, a1)
    first = wb.flush(publish=False)
    # more writes after the spill: to the spilled file, and to a new one
    a2 = rng.randbytes(100_000)
    wb.write(fh, MiB, a2)
    fh2, _ = wb.create(ROOT_INODE, b"b", 0o600)
    b = rng.randbytes(50_000)
    wb.write(fh2, 0, b)
    second = wb.flush(publish=False)
    assert second != first
    assert source.published == []
    expected_a = a1[:MiB] + a2 + a1[MiB + len(a2):]
    assert read_all(wb, fh, len(a1)) == expected_a

    published = wb.flush()
    assert source.published == [published] == [second]
    assert fs.read(published, "a") == expected_a
    assert fs.read(published, "b") == b
    assert fs.stat(published, "b").mode & 0o777 == 0o600
    wb.release(fh)
    wb.release(fh2)


def test_failed_publish_is_retried(setup):
    fs, source, make = setup
    wb = make(max_dirty=1 << 40)
    fh, _ = wb.create(ROOT_INODE, b"f", 0o644)
    data = os.urandom(300_000)
    wb.write(fh, 0, data)
    spilled = wb.flush(publish=False)
    source.fail = True
    with pytest.raises(OSError):
        wb.flush()
    assert source.published == [] and wb.published != spilled
    source.fail = False
    assert wb.flush() == spilled  # root != published: publishes although nothing changed since
    assert source.published == [spilled]
    assert fs.read(spilled, "f") == data
    wb.release(fh)


def test_memory_pressure_spills_without_publishing(setup):
    fs, source, make = setup
    store = fs.store
    max_dirty = MiB
    wb = make(max_dirty=max_dirty)
    rng = random.Random(3)
    fh, _ = wb.create(ROOT_INODE, b"big", 0o644)
    expected = bytearray()
    roots = {wb.root}
    peak = 0
    write = 128 << 10
    for i in range(64):  # 8 MiB sequentially, in 128 KiB writes
        data = rng.randbytes(write)
        assert wb.write(fh, len(expected), data) == len(data)
        expected += data
        peak = max(peak, wb.buffers.nbytes)
        assert wb.buffers.nbytes <= 2 * max_dirty  # the writer spilled when it passed 2 x max_dirty
        roots.add(wb.root)
        if i % 16 == 15:  # reads see spilled and buffered bytes alike
            off = rng.randrange(len(expected))
            assert bytes(wb.read(fh, off, MiB)) == bytes(expected[off:off + MiB])
    spills = len(roots) - 1
    assert spills >= 3, spills  # 8 MiB through a 2 MiB bound: several spills
    assert peak > max_dirty  # wants_flush territory was reached before each spill
    assert source.published == []  # none of them published
    assert store.flushes == 0  # nor synced the store
    assert fs.read(wb.root, "big")[:MiB] == expected[:MiB]  # the spilled bytes are committed

    published = wb.flush()
    assert source.published == [published]
    assert store.flushes == 1
    fs.kv.check(published)
    assert fs.stat(published, "big").size == len(expected)
    assert fs.read(published, "big") == bytes(expected)
    wb.release(fh)


def test_memory_pressure_random_overwrites(setup):
    """Spills land in the middle of a file rewritten at random offsets: byte-exact at the end."""
    fs, source, make = setup
    max_dirty = MiB
    wb = make(max_dirty=max_dirty)
    rng = random.Random(4)
    fh, _ = wb.create(ROOT_INODE, b"f", 0o644)
    model = bytearray()
    roots = {wb.root}
    for _ in range(120):
        off = rng.choice([len(model), rng.randrange(len(model) + 1), rng.randrange(6 * MiB)])
        data = rng.randbytes(rng.choice([1, 4096, 100_000, 300_000]))
        wb.write(fh, off, data)
        if len(model) < off + len(data):
            model.extend(bytes(off + len(data) - len(model)))
        model[off:off + len(data)] = data
        roots.add(wb.root)
    assert len(roots) > 2, "expected spills under a 1 MiB max_dirty"
    assert source.published == []
    assert read_all(wb, fh, len(model)) == bytes(model)

    published = wb.flush()
    assert source.published == [published]
    assert fs.read(published, "f") == bytes(model)
    wb.release(fh)


def test_spills_go_on_while_a_publish_waits(setup):
    """A publish (an fdatasync of everything spilled: up to a second) runs outside flush_lock:
    a spill meanwhile is not held up, and publishes still land in commit order. The gc hold
    stays on while anything posted is unpublished, and ends with the publish that covers it."""
    fs, source, make = setup
    wb = make(max_dirty=1 << 40)
    gate = Gate()
    real_publish = source.publish
    source.publish = gate.wrap(real_publish)
    fh, _ = wb.create(ROOT_INODE, b"f", 0o644)
    wb.write(fh, 0, b"a" * 100_000)
    first = threading.Thread(target=wb.flush)
    first.start()
    assert gate.reached.wait(10)
    wb.write(fh, 100_000, b"b" * 100_000)
    spilled = wb.flush(publish=False)  # returns while the publish above still waits
    assert spilled == wb.root and fs.read(spilled, "f") == b"a" * 100_000 + b"b" * 100_000
    releases = getattr(source, "releases", 0)
    gate.open()
    first.join(10)
    assert len(source.published) == 1 and source.published[0] != spilled
    assert getattr(source, "releases", 0) == releases  # the spill's blobs are still unpublished
    source.publish = real_publish
    assert wb.flush() == spilled
    assert source.published[-1] == spilled and source.releases == releases + 1
