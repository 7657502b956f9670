"""Gather (gotfs/mount/readahead.py): a read reply in parts, against a naive model.

The model builds the file as one bytearray — piece bytes where pieces are, zeros in the holes,
patches laid on top in order — and slices [off, stop). `into` must produce exactly that in a
reused, dirty buffer (pre-filled with b"\\xff", so a hole left unzeroed shows), `single` must
be that too whenever it answers (and must answer, zero-copy, when one piece covers the range
and nothing is patched), and `to_bytes` always.

Pieces are what FileView.under yields: sorted, disjoint, and possibly reaching past either
end of [off, stop); their bytes are slices of larger "cached chunks", as in the mount.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gotfs.mount.gather import Gather

MiB = 1 << 20
GARBAGE = 0xFF


# -- the model --------------------------------------------------------------------------------


def model(off: int, stop: int, pieces, patches) -> bytes:
    size = max([stop, off] + [end for _, end, _ in pieces] + [at + len(d) for at, d in patches])
    file = bytearray(size)
    for start, end, data in pieces:
        assert len(data) == end - start
        file[start:end] = data
    for at, data in patches:
        file[at:at + len(data)] = data
    return bytes(file[off:stop]) if stop > off else b""


def make_pieces(rng: random.Random, layout: list[tuple[int, int]]) -> list[tuple[int, int, memoryview]]:
    """(hole before, length) pairs -> sorted, disjoint pieces whose bytes are chunk slices."""
    pieces, pos = [], 0
    for gap, length in layout:
        start = pos + gap
        pad_lo, pad_hi = rng.choice([0, 7, 300]), rng.choice([0, 5, 1000])
        chunk = rng.randbytes(pad_lo + length + pad_hi)
        pieces.append((start, start + length, memoryview(chunk)[pad_lo:pad_lo + length]))
        pos = start + length
    return pieces


def check(g: Gather, slack: int = 64) -> bytes:
    """Every way of turning `g` into bytes agrees with the model; returns the expected reply."""
    off, stop = g.off, g.stop
    pieces = [(s, e, bytes(d)) for s, e, d in g.pieces]
    expected = model(off, stop, pieces, list(g.patches))
    n = max(stop - off, 0)
    assert len(expected) == n

    buffer = bytearray([GARBAGE]) * (n + slack)  # dirty, and bigger than needed
    out = g.into(buffer)
    assert isinstance(out, memoryview)
    assert len(out) == n
    assert out.obj is buffer  # written into the caller's buffer, not a copy of it
    assert out == expected
    assert buffer[n:] == bytes([GARBAGE]) * slack  # nothing written past the reply

    buffer[:] = bytes([0x5A]) * len(buffer)  # reuse the same buffer, dirty in another way
    assert g.into(buffer) == expected

    single = g.single()
    covered = stop <= off or (
        not g.patches and len(g.pieces) == 1 and g.pieces[0][0] <= off and g.pieces[0][1] >= stop)
    if covered:
        assert single is not None
    if single is not None:
        assert bytes(single) == expected
        if stop > off:
            assert isinstance(single, memoryview)
            assert single.obj is g.pieces[0][2].obj  # zero-copy: a slice of the chunk itself

    assert bytes(g.to_bytes()) == expected
    return expected


# -- the property -----------------------------------------------------------------------------

_gaps = st.one_of(
    st.integers(0, 3000),
    st.sampled_from([0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB + 3, 3 * MiB + 12345]),
)
_lengths = st.one_of(
    st.integers(0, 3000),
    st.sampled_from([1, 4096, MiB - 1, MiB, MiB + 1]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    layout=st.lists(st.tuples(_gaps, _lengths), max_size=5),
    trailing=st.sampled_from([0, 1, 500, MiB, MiB + 7, 2 * MiB + 1]),
    data=st.data(),
)
def test_gather_matches_model(seed, layout, trailing, data):
    rng = random.Random(seed)
    pieces = make_pieces(rng, layout)
    size = (pieces[-1][1] if pieces else 0) + trailing  # the file may end in a hole
    bound = size + 100

    def position():
        edges = [0, size, bound] + [p for s, e, _ in pieces for p in (s, e, s + 1, e - 1)]
        return st.one_of(st.integers(0, bound), st.sampled_from([max(p, 0) for p in edges]))

    off = data.draw(position(), label="off")
    stop = data.draw(st.one_of(position(), st.integers(max(off - 10, 0), off + 10)), label="stop")

    if data.draw(st.booleans(), label="only overlapping pieces"):  # as FileView.under yields them
        pieces = [p for p in pieces if p[0] < stop and p[1] > off]

    patch_count = data.draw(st.integers(0, 4), label="patches")
    patches = []
    for _ in range(patch_count):
        at = data.draw(st.integers(max(off - 200, 0), max(stop, off) + 200), label="at")
        length = data.draw(st.one_of(st.integers(0, 3000), st.just(MiB + 3)), label="length")
        patches.append((at, rng.randbytes(length)))

    check(Gather(off, stop, pieces, patches))


# -- unit tests -------------------------------------------------------------------------------


def test_single_is_a_view_of_the_piece():
    chunk = bytearray(random.Random(1).randbytes(5000))
    piece = memoryview(chunk)[1000:4000]  # the file's bytes [10_000, 13_000)
    g = Gather(10_500, 12_000, [(10_000, 13_000, piece)])
    single = g.single()
    assert isinstance(single, memoryview)
    assert single.obj is chunk
    assert bytes(single) == bytes(chunk[1500:3000])
    chunk[1500:1504] = b"MUT!"  # shares memory: a change to the chunk shows through
    assert bytes(single[:4]) == b"MUT!"
    out = g.to_bytes()  # bytes of its own: a slice could be of arena memory, which is reused
    assert isinstance(out, bytes) and out == bytes(chunk[1500:3000])


def test_single_exact_cover():
    chunk = bytearray(b"0123456789")
    g = Gather(100, 110, [(100, 110, memoryview(chunk))])
    assert g.single().obj is chunk
    assert bytes(g.single()) == b"0123456789"


@pytest.mark.parametrize("stop", [100, 99, 0])
def test_empty_range(stop):
    piece = memoryview(b"abcdefghij")
    g = Gather(100, stop, [(95, 105, piece)], [(100, b"zz")])
    assert g.single() == b""
    assert bytes(g.to_bytes()) == b""
    buffer = bytearray(b"\xff" * 8)
    out = g.into(buffer)
    assert len(out) == 0
    assert buffer == b"\xff" * 8


def test_single_declines():
    chunk = memoryview(bytes(range(256)) * 4)
    # a patch on top
    assert Gather(10, 20, [(0, 1024, chunk)], [(15, b"x")]).single() is None
    # even an empty patch means the slow path is taken (and gives the same bytes)
    g = Gather(10, 20, [(0, 1024, chunk)], [(15, b"")])
    assert bytes(g.to_bytes()) == bytes(chunk[10:20])
    # the piece starts after off (a hole first) or ends before stop (a hole after)
    assert Gather(10, 20, [(11, 1035, chunk)]).single() is None
    assert Gather(1000, 1030, [(0, 1024, chunk)]).single() is None
    # no piece at all: all hole
    assert Gather(0, 10, []).single() is None
    # two pieces
    assert Gather(0, 20, [(0, 10, chunk[:10]), (10, 20, chunk[10:20])]).single() is None
    for g in (Gather(10, 20, [(11, 1035, chunk)]), Gather(1000, 1030, [(0, 1024, chunk)]),
              Gather(0, 10, []), Gather(0, 20, [(0, 10, chunk[:10]), (10, 20, chunk[10:20])])):
        check(g)


def test_all_hole_larger_than_the_zero_slab():
    n = 3 * MiB + 12345  # three full slabs and a partial one
    g = Gather(7, 7 + n, [])
    buffer = bytearray(b"\xff") * n
    out = g.into(buffer)
    assert len(out) == n and out.obj is buffer
    assert buffer.count(0) == n
    assert g.to_bytes() == bytes(n)


def test_holes_around_and_between_pieces_larger_than_the_slab():
    rng = random.Random(2)
    a, b = rng.randbytes(1000), rng.randbytes(MiB + 1)
    start_a = 2 * MiB + 5  # a hole of more than two slabs before the first piece
    start_b = start_a + len(a) + MiB + 1  # a hole of just over one slab between them
    end = start_b + len(b) + 2 * MiB  # and a long hole at the end of the range
    pieces = [(start_a, start_a + len(a), memoryview(a)), (start_b, start_b + len(b), memoryview(b))]
    expected = check(Gather(3, end, pieces))
    assert expected[start_a - 3:start_a - 3 + len(a)] == a
    assert expected[start_b - 3:start_b - 3 + len(b)] == b
    assert expected.count(0) >= end - 3 - len(a) - len(b)  # every hole byte is zero


def test_pieces_reaching_past_both_ends():
    rng = random.Random(3)
    a, b = rng.randbytes(5000), rng.randbytes(5000)
    pieces = [(0, 5000, memoryview(a)), (6000, 11_000, memoryview(b))]
    g = Gather(4000, 7000, pieces)
    expected = a[4000:] + bytes(1000) + b[:1000]
    assert check(g) == expected
    buffer = bytearray(b"\xff") * 3000
    assert g.into(buffer) == expected


def test_patches_laid_on_top_in_order():
    base = memoryview(b"." * 100)
    patches = [(10, b"AAAAAAAAAA"), (15, b"BBBBBBBBBB"), (5, b"cc"), (18, b"")]
    g = Gather(0, 30, [(0, 100, base)], patches)
    assert bytes(g.to_bytes()) == b"....." + b"cc" + b"..." + b"AAAAA" + b"BBBBBBBBBB" + b"." * 5
    # a patch over a hole, and patches straddling both ends of the range
    g = Gather(10, 20, [], [(0, b"x" * 12), (18, b"yyyyy"), (14, b"z")])
    assert bytes(g.to_bytes()) == b"xx" + bytes(2) + b"z" + bytes(3) + b"yy"
    check(g)


def test_to_bytes_copies_when_not_single():
    chunk = bytearray(b"abcdefghij")
    g = Gather(0, 12, [(0, 10, memoryview(chunk))])  # a hole at the end: not single
    got = g.to_bytes()
    assert bytes(got) == b"abcdefghij\x00\x00"
    chunk[:3] = b"XYZ"
    assert bytes(got) == b"abcdefghij\x00\x00"  # memory of its own


# -- side by side in the arena ---------------------------------------------------------------


def arena_gather(off: int, stop: int, layout: list[tuple[int, int, int | None]], arena_size: int = 1 << 16):
    """Pieces of `length` bytes at file offset `start`, each at arena position `where`
    (None: memory of its own); returns the Gather and the file as the model sees it."""
    rng = random.Random(len(layout))
    arena = memoryview(bytearray(rng.randbytes(arena_size)))
    pieces, where = [], []
    for start, length, at in layout:
        data = arena[at:at + length] if at is not None else memoryview(rng.randbytes(length))
        pieces.append((start, start + length, data))
        where.append(at)
    return Gather(off, stop, pieces, [], where, arena), arena


def test_consecutive_chunks_side_by_side_are_one_arena_slice():
    g, arena = arena_gather(100, 2100, [(0, 1000, 5000), (1000, 1000, 6000), (2000, 500, 7000)])
    single = g.single()
    assert single is not None and single.obj is arena.obj
    assert bytes(single) == bytes(arena[5100:7100])
    check(g)


@pytest.mark.parametrize("layout, off, stop", [
    ([(0, 1000, 5000), (1000, 1000, 6001)], 100, 1500),  # a gap in the arena
    ([(0, 1000, 5000), (1001, 1000, 6001)], 100, 1500),  # a hole in the file
    ([(0, 1000, 5000), (1000, 1000, None)], 100, 1500),  # the second has memory of its own
    ([(0, 1000, 5000), (1000, 1000, 4000)], 100, 1500),  # side by side, but the wrong way round
    ([(100, 1000, 5000), (1100, 1000, 6000)], 50, 1500),  # the range starts in a hole
    ([(0, 1000, 5000), (1000, 1000, 6000)], 100, 2500),  # ...or ends in one
])
def test_not_side_by_side_is_copied(layout, off, stop):
    g, _ = arena_gather(off, stop, layout)
    assert g.single() is None
    check(g)


def test_patches_are_never_served_from_the_arena():
    g, arena = arena_gather(100, 1500, [(0, 1000, 5000), (1000, 1000, 6000)])
    g.patches.append((200, b"patch"))
    assert g.single() is None
    assert check(g)[100:105] == b"patch"
