"""The Cutter cuts exactly where pyfastcdc's cut_stream does, whatever the reads' sizes, and
never refills a segment while a chunk cut from it is still held."""

from __future__ import annotations

import io
import random
import threading
from concurrent.futures import Future

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyfastcdc import FastCDC

from gotfs.cutter import Cutter, Segment

CDC = dict(avg_size=4096, min_size=1024, max_size=16384)


class Trickle(io.RawIOBase):
    """A stream whose reads return at most `step` bytes (short reads, like a pipe's)."""

    def __init__(self, data: bytes, step: int):
        self._data, self._at, self._step = data, 0, step

    def readinto(self, buf) -> int:
        n = min(len(buf), self._step, len(self._data) - self._at)
        buf[:n] = self._data[self._at:self._at + n]
        self._at += n
        return n


def segments(size: int) -> tuple[Segment, Segment]:
    return Segment(bytearray(size)), Segment(bytearray(size))


def reference(data: bytes, seed: int) -> list[tuple[int, bytes]]:
    return [(c.offset, bytes(c.data)) for c in FastCDC(**CDC, seed=seed).cut_stream(io.BytesIO(data))]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 200_000), step=st.integers(1, 70_000), seg=st.integers(2 * 16384, 80_000),
       seed=st.integers(0, 2**31), repeat=st.booleans())
def test_cuts_equal_cut_stream(size, step, seg, seed, repeat):
    rnd = random.Random(seed)
    data = rnd.randbytes(size) if not repeat else (rnd.randbytes(3000) * (size // 3000 + 1))[:size]
    cuts = [(c.offset, bytes(c.data)) for c in Cutter(FastCDC(**CDC, seed=seed), Trickle(data, step), segments(seg))]
    assert cuts == reference(data, seed)
    assert b"".join(b for _, b in cuts) == data


def test_a_held_segment_is_not_refilled_until_its_sealing_is_done():
    """Each chunk is 'sealed' on a thread that takes a while and then checks that its view
    still holds the bytes it was cut with; had the cutter refilled the segment early, the
    view would show the next bytes of the stream."""
    data = random.Random(1).randbytes(400_000)
    changed = []
    threads = []

    def seal(view: memoryview, copy: bytes, future: Future, delay: float) -> None:
        threading.Event().wait(delay)
        if bytes(view) != copy:
            changed.append(len(copy))
        future.set_result(None)

    rnd = random.Random(2)
    cuts = 0
    for cut in Cutter(FastCDC(**CDC), io.BytesIO(data), segments(40_000)):
        future: Future = Future()
        Cutter.hold(cut, future)
        t = threading.Thread(target=seal, args=(cut.data, bytes(cut.data), future, rnd.uniform(0, 0.01)))
        t.start()
        threads.append(t)
        cuts += 1
    for t in threads:
        t.join()
    assert cuts > 20 and not changed


def test_segments_must_hold_two_largest_chunks():
    with pytest.raises(ValueError, match="two largest chunks"):
        Cutter(FastCDC(**CDC), io.BytesIO(b""), segments(16384))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 30_000), max_size=40), seg=st.integers(2 * 16384, 70_000),
       seed=st.integers(0, 2**31))
def test_pieces_copied_into_memory_files_cut_like_a_stream(sizes, seg, seed):
    """A flush copies buffered pieces into memfd segments with pwritev: the
    same bytes, the same cuts, whatever the pieces' sizes (views of pieces included)."""
    from gotfs.pieces import PiecesReader

    rnd = random.Random(seed)
    pieces = [rnd.randbytes(n) for n in sizes]
    pieces = [memoryview(p)[1:] if i % 3 == 0 and p else p for i, p in enumerate(pieces)]
    data = b"".join(bytes(p) for p in pieces)
    cutter = Cutter(FastCDC(**CDC, seed=seed), PiecesReader(pieces), (Segment.in_memfd(seg), Segment.in_memfd(seg)))
    cuts = [(c.offset, bytes(c.data)) for c in cutter]
    assert cuts == reference(data, seed)


def test_short_pwritev_writes_go_on(monkeypatch):
    """A pwritev may write less than asked; the copy goes on from where it stopped."""
    from gotfs import pieces as pieces_module

    real = pieces_module.os.pwritev

    def short(fd, parts, offset):  # writes at most 1000 bytes, like an interrupted call
        head, size = [], 0
        for p in parts:
            head.append(p[:1000 - size])
            size += len(head[-1])
            if size >= 1000:
                break
        return real(fd, head, offset)

    monkeypatch.setattr(pieces_module.os, "pwritev", short)
    rnd = random.Random(8)
    pieces = [rnd.randbytes(n) for n in (700, 1, 5000, 300, 40_000, 999)]
    data = b"".join(pieces)
    segs = (Segment.in_memfd(40_000), Segment.in_memfd(40_000))
    cuts = [(c.offset, bytes(c.data)) for c in Cutter(FastCDC(**CDC), pieces_module.PiecesReader(pieces), segs)]
    assert cuts == reference(data, 0)
