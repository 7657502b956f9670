"""The mount's read path below FUSE: the decoder process, its fallbacks, and arena pins.

Snapshot and Ops are driven directly here (the mount tests drive them through the kernel):
a read must return the same bytes whichever way each chunk was decoded (by the child into
the arena, on a thread into the arena, on a thread into the LRU), survive the child dying,
report corruption as an error, and leave no arena chunk pinned once replies are sent.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import time

import pyfuse3
import pytest
import trio

from gotfs.fs import FS
from gotfs.mount import readahead
from gotfs.mount.inodes import ROOT_INODE
from gotfs.mount.ops import Ops
from gotfs.mount.snapshot import Snapshot
from gotfs.tx import Tx
from gotkv.blobs.local import LocalStore
from gotkv.errors import IntegrityError

MiB = 1 << 20


@pytest.fixture(params=[b"k" * 32, None], ids=["encrypted", "plain"])
def tree(request, tmp_path):
    """A store holding one incompressible file, one compressible one, and a root naming both."""
    store = LocalStore(tmp_path / "store")
    fs = FS(store, secret=request.param)
    rng = random.Random(7)
    files = {"random.bin": rng.randbytes(12 * MiB + 12345),
             "text.txt": b"".join(b"line %d of some text\n" % i for i in range(400_000))}
    root = fs.new()
    for name, data in files.items():
        root = fs.write_file(root, name, data)
    store.flush()
    yield fs, root, files
    store.close()


def read_whole(snap: Snapshot, name: str, size: int, step: int = MiB) -> bytes:
    ino = snap.lookup(ROOT_INODE, name.encode()).ino
    fh = snap.open(ino, os.O_RDONLY)
    try:
        return b"".join(snap.read(fh, off, step) for off in range(0, size, step))
    finally:
        snap.release(fh)


@pytest.mark.parametrize("offload", [True, False], ids=["child", "threads"])
def test_every_decode_path_reads_the_same_bytes(tree, offload):
    fs, root, files = tree
    snap = Snapshot(fs, root, offload=offload)
    try:
        assert (snap.fetcher.decoder is not None) == offload
        for name, data in files.items():
            assert read_whole(snap, name, len(data)) == data
            assert read_whole(snap, name, len(data), step=3 * MiB + 17) == data  # again, other offsets
    finally:
        snap.close()


def test_reads_survive_the_decoder_dying(tree):
    fs, root, files = tree
    snap = Snapshot(fs, root)
    try:
        data = files["random.bin"]
        ino = snap.lookup(ROOT_INODE, b"random.bin").ino
        fh = snap.open(ino, os.O_RDONLY)
        got = [snap.read(fh, 0, MiB)]
        os.kill(snap.fetcher.decoder._proc.pid, signal.SIGKILL)
        got += [snap.read(fh, off, MiB) for off in range(MiB, len(data), MiB)]
        assert b"".join(got) == data
        assert not snap.fetcher.decoder.alive
    finally:
        snap.close()


def test_a_corrupt_chunk_is_an_error_not_data(tree):
    fs, root, files = tree
    store = fs.store
    extent = next(x for _, _, x in Tx(fs, root).extents((b"random.bin",)))
    store.hint([extent.ref.cid])
    path, offset, length = store.where(extent.ref.cid)
    with open(path, "r+b") as f:
        f.seek(offset + 100)
        byte = f.read(1)
        f.seek(offset + 100)
        f.write(bytes([byte[0] ^ 0x40]))
    snap = Snapshot(fs, root)
    try:
        ino = snap.lookup(ROOT_INODE, b"random.bin").ino
        fh = snap.open(ino, os.O_RDONLY)
        with pytest.raises(IntegrityError):
            snap.read(fh, 0, MiB)
    finally:
        snap.close()


def test_a_read_takes_in_what_the_decoder_finished_when_it_needs_it(tree, monkeypatch):
    """Readers poll the decoder every few jobs, and whenever a chunk they need is not ready
    yet. With the periodic poll off, the second must still find every finished chunk."""
    monkeypatch.setattr(readahead, "POLL_EVERY", 1 << 40)
    fs, root, files = tree
    data = files["random.bin"]
    snap = Snapshot(fs, root)
    try:
        assert snap.fetcher.wait_ready(10)
        fh = snap.open(snap.lookup(ROOT_INODE, b"random.bin").ino, os.O_RDONLY)
        first = snap.gather(fh, 0, MiB)  # starts the readahead
        snap.fetcher.release(first.held)
        for off in range(MiB, 8 * MiB, MiB):
            deadline = time.monotonic() + 10
            while (gather := snap.try_gather(fh, off, MiB)) is None:
                assert time.monotonic() < deadline, f"the chunks at {off} never became ready"
                time.sleep(0.01)
            assert gather.to_bytes() == data[off:off + MiB]
            snap.fetcher.release(gather.held)
    finally:
        snap.close()


def test_no_arena_chunk_stays_pinned_once_replies_are_sent(tree):
    """Ops.read keeps a reply's arena chunks pinned until the next read begins (pyfuse3 has
    copied the reply by then). Concurrent readers, some waiting on worker threads, must not
    lose each other's pins: a lost pin is a chunk that can never be evicted again."""
    fs, root, files = tree
    snap = Snapshot(fs, root)
    ops = Ops(snap, limiter=trio.CapacityLimiter(4))
    data = files["random.bin"]

    async def main():
        ino = snap.lookup(ROOT_INODE, b"random.bin").ino
        fhs = [snap.open(ino, os.O_RDONLY) for _ in range(4)]

        async def reader(fh, start):
            for off in range(start, len(data), 4 * MiB):
                reply = await ops.read(fh, off, MiB)
                assert bytes(reply) == data[off:off + MiB]  # the reply, as pyfuse3 would send it
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for i, fh in enumerate(fhs):
                nursery.start_soon(reader, fh, i * MiB)
        await ops.read(fhs[0], 0, 4096)  # sends nothing new from the arena's point of view...
        await ops.read(fhs[0], 0, 1)  # ...and releases what the one before held

    try:
        trio.run(main)
        arena = snap.fetcher.arena
        assert len(arena) > 0
        pinned = [slot for slot in arena._ring if slot.pins]
        assert len(pinned) <= 1  # at most the last reply's chunk
    finally:
        snap.close()


def test_bad_reads_map_to_errno(tree):
    fs, root, files = tree
    snap = Snapshot(fs, root)
    ops = Ops(snap, limiter=trio.CapacityLimiter(2))

    async def main():
        absent = await ops.lookup(ROOT_INODE, b"nope", None)  # a negative entry, which the kernel caches
        assert absent.st_ino == 0 and absent.entry_timeout > 0
        with pytest.raises(pyfuse3.FUSEError) as info:
            await ops.lookup(snap.lookup(ROOT_INODE, b"random.bin").ino, b"x", None)  # under a file
        assert info.value.errno == errno.ENOTDIR

    try:
        trio.run(main)
    finally:
        snap.close()
