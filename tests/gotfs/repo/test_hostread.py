"""HashingReader (gotfs/repo/hostread.py): a large host file is read in parallel parts and
hashed off the caller's thread; what it hands out and its hash are the file's, whatever the
sizes of the caller's buffers."""

from __future__ import annotations

import os
import random
import threading

import blake3
import pytest

from gotfs.repo import hostread
from gotfs.repo.hostread import HashingReader

MiB = 1 << 20


@pytest.mark.parametrize("size", [0, 1, 1000, hostread.PARALLEL_FROM - 1, hostread.PARALLEL_FROM,
                                  hostread.PARALLEL_FROM + 12345, 9 * MiB + 7])
@pytest.mark.parametrize("fill", [4096, 3 * MiB + 5, 16 * MiB])
def test_reads_and_hashes_the_whole_file_whatever_the_buffer(tmp_path, size, fill):
    data = random.Random(size).randbytes(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    reader = HashingReader(path)
    buf = bytearray(fill + 3)
    out = bytearray()
    while True:
        n = reader.readinto(memoryview(buf)[3:])  # (an unaligned view, as a segment's tail is)
        if not n:
            break
        out += buf[3:3 + n]
    reader.close()
    assert out == data
    assert reader.hash.digest() == blake3.blake3(data).digest()


def test_a_large_file_is_read_with_several_reads_in_flight(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(8 * MiB))
    lock = threading.Lock()
    inflight = [0, 0]  # now, most
    both = threading.Barrier(2, timeout=5)
    real = os.preadv

    def preadv(fd, buffers, offset, *flags):
        with lock:
            inflight[0] += 1
            inflight[1] = max(inflight[1], inflight[0])
        try:
            if offset < 4 * MiB:
                both.wait()  # the first two parts of the first fill: both must be under way
            return real(fd, buffers, offset, *flags)
        finally:
            with lock:
                inflight[0] -= 1

    monkeypatch.setattr(hostread.os, "preadv", preadv)
    reader = HashingReader(path)
    try:
        assert reader.readinto(bytearray(4 * MiB)) == 4 * MiB
    finally:
        reader.close()
    assert inflight[1] >= 2


def test_a_read_error_surfaces_and_the_reader_still_closes(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(bytes(8 * MiB))

    def failing(fd, buffers, offset, *flags):
        raise OSError(5, "Input/output error")

    reader = HashingReader(path)
    monkeypatch.setattr(hostread.os, "preadv", failing)
    with pytest.raises(OSError):
        reader.readinto(bytearray(4 * MiB))
    reader.close()
    assert reader.f.closed
