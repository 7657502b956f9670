"""Writeback.try_gather: a read of a writable mount answered on the event loop.

It must give exactly what gather() gives (buffered bytes over the tree's, zeros past the
buffers up to the size), and must decline, changing nothing, when it could block: the
state lock is held (a flush plans or commits), or a chunk the read needs is not decoded.
"""

from __future__ import annotations

import random
import threading

from gotfs.fs import FS
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotkv import MemoryStore
from tests.gotfs.mount.fakes import RecordingSource


def _file(size=70_000):
    fs = FS(MemoryStore())
    wb = writeback.Writeback(fs, RecordingSource(fs), max_dirty=1 << 30)
    fh, _ = wb.create(ROOT_INODE, b"wal", 0o644)
    data = bytearray(random.Random(1).randbytes(size))
    wb.write(fh, 0, bytes(data))
    return wb, fh, data


def _write(wb, fh, data, off, new):
    wb.write(fh, off, new)
    assert off <= len(data)  # no holes
    data[off:off + len(new)] = new


def test_a_read_of_buffered_bytes_is_answered_inline_and_equals_gather():
    wb, fh, data = _file()
    _write(wb, fh, data, 4096, b"\x01" * 24)  # a WAL frame header, as sqlite writes it
    _write(wb, fh, data, 4120, b"\x02" * 4096)
    for off, size in ((0, 4096), (4000, 8192), (65_536, 8192), (69_000, 4096)):
        inline = wb.try_gather(fh, off, size)
        assert inline is not None, (off, size)
        assert inline.to_bytes() == bytes(data[off:off + size]), (off, size)
        wb.fetcher.release(inline.held)


def test_a_read_over_flushed_and_buffered_bytes_equals_gather():
    wb, fh, data = _file()
    wb.flush()
    _write(wb, fh, data, 1000, b"\x03" * 5000)
    _write(wb, fh, data, len(data), b"\x04" * 3000)  # past the published size
    for off, size in ((0, 8192), (66_000, 8192)):
        slow = wb.gather(fh, off, size)
        expected = slow.to_bytes()
        wb.fetcher.release(slow.held)
        assert expected == bytes(data[off:off + size])
        inline = wb.try_gather(fh, off, size)  # gather() just decoded the chunks it needs
        assert inline is not None and inline.to_bytes() == expected
        wb.fetcher.release(inline.held)


def test_it_declines_while_another_thread_holds_the_state_lock():
    wb, fh, data = _file()
    held, done = threading.Event(), threading.Event()

    def holder():
        with wb.lock:
            held.set()
            done.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        assert wb.try_gather(fh, 0, 4096) is None
    finally:
        done.set()
        t.join()
    again = wb.try_gather(fh, 0, 4096)
    assert again is not None and again.to_bytes() == bytes(data[:4096])


def test_it_declines_when_a_chunk_is_not_decoded_and_changes_nothing():
    wb, fh, data = _file(3 << 20)
    wb.flush()
    wb.fs.data.cache.clear()  # no decoder process over a MemoryStore: no chunk is decoded now
    seq = repr(wb.handles[fh].seq)
    assert wb.try_gather(fh, 0, 4096) is None
    assert repr(wb.handles[fh].seq) == seq  # the sequential-read state is gather()'s to move
    slow = wb.gather(fh, 0, 4096)
    assert slow.to_bytes() == bytes(data[:4096])
    wb.fetcher.release(slow.held)
    inline = wb.try_gather(fh, 0, 4096)  # decoded by gather() now
    assert inline is not None and inline.to_bytes() == bytes(data[:4096])
    wb.fetcher.release(inline.held)


def test_a_read_of_buffered_bytes_only_looks_up_no_extent():
    """A read that the buffers cover and that gather's readahead would not look past
    (appended bytes past the tree's size; a jump back into the file) is answered from the
    buffers with no walk of the tree's extents; one that continues a run short of the
    tree's end still looks them up, and both equal gather()."""
    wb, fh, data = _file(3 << 20)
    wb.flush()
    _write(wb, fh, data, len(data), b"\x05" * 8192)  # past the tree's size, as a WAL frame
    _write(wb, fh, data, 3_000_000, b"\x06" * 8192)
    _write(wb, fh, data, 1_100_000, b"\x07" * 8192)
    looked = []
    real = wb.tx.extents
    wb.tx.extents = lambda *a: looked.append(a) or real(*a)
    # a jump (the handle's run starts at 0), then on past the tree's size, then a read that
    # continues the run short of the tree's end (within 2 MiB of where the last one ended)
    for off, lookup in ((3_000_000, False), (3 << 20, False), (1_100_000, True)):
        looked.clear()
        inline = wb.try_gather(fh, off, 8192)
        assert bool(looked) == lookup, off
        if inline is None:  # declined: a chunk its readahead needs is not decoded
            assert lookup
            inline = wb.gather(fh, off, 8192)
        assert inline.to_bytes() == bytes(data[off:off + 8192]), off
        wb.fetcher.release(inline.held)
