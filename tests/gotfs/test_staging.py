"""Staging: changes flushed at once give the root that the same changes one at a time give.

The FS API applies each write as it comes (a staging of one change); a Staging buffers them
and applies the region rule (gotfs/regions.py) to all of them at flush. With packing off,
and regions under the chunker's minimum chunk (files here stay under 256 KiB), the two must
give the very same root, not just the same contents: history independence makes this an
exact check of the extents as well as of the bytes.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from gotfs.fs import FS
from gotfs.keys import parse_path
from gotfs.staging import Staging
from gotkv.blobs.memory import MemoryStore
from gotkv.errors import GotError

NAMES = ["a", "b", "d/c", "d/e", "f/g"]
DIRS = ["d", "f"]
# Writes at random places, and bursts of writes into 4,000-byte slots of one file, in any
# order, which then abut one another and the ends of extents (the rule's edge cases) as
# often as they overlap them.
offsets = st.integers(0, 60_000)
burst = st.builds(lambda name, slots: [("write", name, k * 4_000, 4_000) for k in slots],
                  st.sampled_from(["a", "b", "d/c"]), st.lists(st.integers(0, 4), min_size=2, max_size=6))
one = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), offsets, st.integers(1, 9_000)),
    st.tuples(st.just("truncate"), st.sampled_from(NAMES), offsets),
    st.tuples(st.just("rename"), st.sampled_from(NAMES + DIRS), st.sampled_from(NAMES + DIRS)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES + DIRS)),
    st.tuples(st.just("create"), st.sampled_from(NAMES)),
    st.tuples(st.just("write_file"), st.sampled_from(NAMES), st.integers(0, 9_000)),
    st.tuples(st.just("flush"),),
).map(lambda op: [op])
ops = st.lists(st.one_of(burst, one), max_size=12).map(lambda groups: [op for g in groups for op in g])

def _base(fs: FS, seed: int):
    """A tree with files of a few extents each (written in pieces), for writes to land on,
    and an empty file."""
    rnd = random.Random(seed)
    root = fs.create(fs.mkdir(fs.new(), "d"), "b")
    for name in ("a", "d/c"):
        root = fs.write_file(root, name, rnd.randbytes(rnd.randrange(0, 40_000)))
        for _ in range(rnd.randrange(4)):
            root = fs.write_at(root, name, rnd.randrange(0, 50_000), rnd.randbytes(rnd.randrange(1, 5_000)))
    return root


def _one_at_a_time(fs: FS, root, op, data: bytes):
    """`op` through the FS API: the new root, or the GotError type it raised."""
    kind = op[0]
    try:
        if kind == "write":
            return fs.write_at(root, op[1], op[2], data)
        if kind == "truncate":
            return fs.truncate(root, op[1], op[2])
        if kind == "rename":
            return fs.rename(root, op[1], op[2])
        if kind == "remove":
            return fs.remove(root, op[1], recursive=True)
        if kind == "create":
            return fs.create(root, op[1])
        if kind == "write_file":
            return fs.write_file(root, op[1], data)
        return root
    except GotError as e:
        return type(e)


def _staged(staging: Staging, op, data: bytes):
    """`op` into a Staging: None, or the GotError type it raised."""
    kind = op[0]
    try:
        if kind == "write":
            staging.write(parse_path(op[1]), op[2], data)
        elif kind == "truncate":
            staging.truncate(parse_path(op[1]), op[2])
        elif kind == "rename":
            staging.rename(parse_path(op[1]), parse_path(op[2]))
        elif kind == "remove":
            staging.remove(parse_path(op[1]), recursive=True)
        elif kind == "create":
            staging.create(parse_path(op[1]))
        elif kind == "write_file":
            staging.write_file(parse_path(op[1]), data)
        else:
            staging.flush()
    except GotError as e:
        return type(e)
    return None


def _data(op, i: int) -> bytes:
    size = op[3] if op[0] == "write" else op[2] if op[0] == "write_file" else 0
    return random.Random(i).randbytes(size)


def _contents(fs: FS, root) -> dict:
    return {path: (info.kind, info.size, fs.read(root, path) if info.is_file else b"")
            for path, info in fs.walk(root)}


def _both_ways(steps, seed: int, *, pack: bool, max_buffered: int = 64 << 20):
    """Apply `steps` one at a time through the FS API and into one Staging, checking that
    both refuse the same steps with the same error. Returns (fs, FS API root, staged root)."""
    fs = FS(MemoryStore())
    expected = _base(fs, seed)
    staging = Staging(fs, expected, pack=pack, max_buffered=max_buffered)
    for i, op in enumerate(steps):
        data = _data(op, i)
        got = _one_at_a_time(fs, expected, op, data)
        error = _staged(staging, op, data)
        if isinstance(got, type):
            assert error is got, (i, op)
        else:
            assert error is None, (i, op, error)
            expected = got
        assert staging.buffered <= max_buffered
    return fs, expected, staging.flush()


@settings(max_examples=150, deadline=None)
@given(steps=ops, seed=st.integers(0, 2**16))
def test_flushed_at_once_is_one_at_a_time(steps, seed):
    fs, expected, root = _both_ways(steps, seed, pack=False)
    assert root == expected, _contents(fs, root) == _contents(fs, expected)
    fs.kv.check(root)


@settings(max_examples=60, deadline=None)
@given(steps=ops, seed=st.integers(0, 2**16), bound=st.integers(1, 20_000))
def test_spilling_under_memory_pressure_is_one_at_a_time(steps, seed, bound):
    """Buffers spilled into the transaction past `max_buffered` bytes: still the same root."""
    fs, expected, root = _both_ways(steps, seed, pack=False, max_buffered=bound)
    assert root == expected


@settings(max_examples=30, deadline=None)
@given(steps=ops, seed=st.integers(0, 2**16))
def test_packed_staging_keeps_the_same_contents(steps, seed):
    """With packing on, whole files share chunks (a different root), holding the same bytes."""
    fs, expected, root = _both_ways(steps, seed, pack=True)
    assert _contents(fs, root) == _contents(fs, expected)


def test_small_new_files_share_a_chunk():
    """Whole files staged together are chunked as one packed stream: many small files, few blobs."""
    fs = FS(MemoryStore())
    staging = Staging(fs, fs.new())
    for i in range(50):
        staging.write_file((b"f%02d" % i,), b"file %d\n" % i * 20)
    root = staging.flush()
    refs = {e.ref for i in range(50) for _, _, e in staging.tx.extents((b"f%02d" % i,))}
    assert len(refs) == 1
    assert fs.read(root, "f07") == b"file 7\n" * 20


def test_writes_in_pieces_make_one_region():
    """Pieces written back to front, each touching the last, are rechunked as one region
    (the rule includes an extent that starts where a write ends), as they are one at a time."""
    fs = FS(MemoryStore())
    root = fs.create(fs.new(), "x")
    staging = Staging(fs, root, pack=False)
    for off in range(9_000, -1, -1_000):
        root = fs.write_at(root, "x", off, bytes([off // 1000]) * 1_000)
        staging.write((b"x",), off, bytes([off // 1000]) * 1_000)
    assert len(list(staging.flush() and staging.tx.extents((b"x",)))) == 1
    assert staging.tx.base == root


def test_truncate_below_buffered_bytes_cuts_them_as_written():
    fs = FS(MemoryStore())
    root = fs.write_file(fs.new(), "x", b"a" * 10_000)
    staging = Staging(fs, root, pack=False)
    staging.write((b"x",), 5_000, b"b" * 10_000)
    staging.truncate((b"x",), 8_000)
    staging.write((b"x",), 9_000, b"c" * 10)
    got = staging.flush()
    assert fs.read(got, "x") == b"a" * 5_000 + b"b" * 3_000 + bytes(1_000) + b"c" * 10
    one = fs.write_at(fs.truncate(fs.write_at(root, "x", 5_000, b"b" * 10_000), "x", 8_000), "x", 9_000, b"c" * 10)
    assert got == one


@pytest.mark.parametrize("bad", [-1, 2**63, "3"])
def test_bad_offsets_are_refused_before_anything_is_staged(bad):
    fs = FS(MemoryStore())
    staging = Staging(fs, fs.write_file(fs.new(), "x", b"abc"))
    with pytest.raises(GotError):
        staging.write((b"x",), bad, b"z")
    assert not staging
