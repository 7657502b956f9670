"""Reads: holes, EOF, ranges inside one extent and across many, listdir and walk order, the
errors reads raise, and old roots that never change (immutability)."""

from __future__ import annotations

import hashlib

import pytest

from gotfs import FS, files, keys
from gotfs.errors import IsADirectory, NotADirectory, NotAFile, PathNotFound
from gotfs.info import Info
from gotfs.tx import Tx
from gotkv import MemoryStore

from .conftest import SECRET, SMALL_CHUNKS, SMALL_TREE, extents_of, make_fs, rand_bytes


class CountingStore(MemoryStore):
    """A MemoryStore that records which blobs are fetched."""

    def __init__(self):
        super().__init__()
        self.fetched: list[bytes] = []

    def get(self, cid: bytes) -> bytes:
        self.fetched.append(cid)
        return super().get(cid)


def cold(fs: FS) -> FS:
    """A second FS over the same store, with empty caches."""
    return FS(fs.store, secret=SECRET, params=SMALL_TREE, chunk_params=SMALL_CHUNKS)


# -- holes and EOF ---------------------------------------------------------------------------

def test_holes_read_as_zeros():
    fs = make_fs()
    r = fs.write_file(fs.new(), "f", b"head")
    r = fs.write_at(r, "f", 100_000, b"middle")   # hole 4..100000
    r = fs.truncate(r, "f", 250_000)              # hole at the end
    expected = b"head" + bytes(100_000 - 4) + b"middle" + bytes(250_000 - 100_006)
    assert fs.stat(r, "f").size == 250_000
    assert fs.read(r, "f") == expected
    for off, n in [(0, 10), (2, 5), (4, 99_996), (50_000, 10), (99_999, 3), (100_003, 10), (100_006, 1000),
                   (249_999, 5), (3, 100_010)]:
        assert fs.read(r, "f", off, n) == expected[off:off + n], (off, n)
    # a file that is all hole
    r = fs.truncate(fs.create(r, "sparse"), "sparse", 1 << 40)
    assert fs.stat(r, "sparse").size == 1 << 40
    assert fs.read(r, "sparse", (1 << 40) - 3, 100) == bytes(3)
    assert fs.read(r, "sparse", 123_456_789, 4096) == bytes(4096)
    assert extents_of(fs, r, "sparse") == []


def test_shrink_then_extend_does_not_resurrect_old_bytes():
    fs = make_fs()
    data = rand_bytes(3, 80_000)
    r = fs.write_file(fs.new(), "f", data)
    r = fs.truncate(r, "f", 30_001)
    r = fs.truncate(r, "f", 80_000)
    assert fs.read(r, "f") == data[:30_001] + bytes(80_000 - 30_001)
    r = fs.truncate(r, "f", 0)
    assert fs.read(r, "f") == b"" and extents_of(fs, r, "f") == []


def test_truncate_at_every_kind_of_offset():
    """Shrink to an extent's end, its start, one past its start, and inside it."""
    fs = make_fs()
    data = rand_bytes(4, 200_000)
    r = fs.write_file(fs.new(), "f", data)
    ext = extents_of(fs, r, "f")
    s, e, _ = ext[len(ext) // 2]
    for size in [e, s, s + 1, e - 1, (s + e) // 2, 1, len(data) - 1, len(data)]:
        t = fs.truncate(r, "f", size)
        assert fs.stat(t, "f").size == size
        assert fs.read(t, "f") == data[:size], size
        assert extents_of(fs, t, "f")[-1][1] == size
        assert fs.read(fs.truncate(t, "f", size + 10), "f") == data[:size] + bytes(10)


def test_read_at_and_past_eof():
    fs = make_fs()
    data = rand_bytes(1, 50_000)
    r = fs.write_file(fs.new(), "f", data)
    r = fs.create(r, "empty")
    assert fs.read(r, "f", 50_000) == b""
    assert fs.read(r, "f", 50_000, 10) == b""
    assert fs.read(r, "f", 10 ** 12, 10) == b""
    assert fs.read(r, "f", 49_990, 100) == data[49_990:]
    assert fs.read(r, "f", 0, 0) == b""
    assert fs.read(r, "f", 7, -1) == data[7:]
    assert fs.read(r, "empty") == b"" and fs.read(r, "empty", 5, 5) == b""


def test_read_errors():
    fs = make_fs()
    r = fs.mkdir(fs.new(), "d")
    r = fs.write_file(r, "d/f", b"x")
    r = fs.symlink(r, "d/l", "f")
    with pytest.raises(IsADirectory):
        fs.read(r, "d")
    with pytest.raises(NotAFile):
        fs.read(r, "d/l")
    with pytest.raises(NotAFile):
        fs.readlink(r, "d/f")
    with pytest.raises(PathNotFound):
        fs.read(r, "d/nope")
    with pytest.raises(NotADirectory):
        fs.read(r, "d/f/g")
    with pytest.raises(NotADirectory):
        fs.listdir(r, "d/f")
    with pytest.raises(PathNotFound):
        list(fs.walk(r, "nope"))
    assert fs.readlink(r, "d/l") == b"f"


# -- ranges and extents ------------------------------------------------------------------------

def test_range_inside_one_extent_fetches_one_blob_and_does_not_copy():
    store = CountingStore()
    fs = make_fs(store)
    data = rand_bytes(5, 400_000)
    r = fs.write_file(fs.new(), "f", data)
    ext = extents_of(fs, r, "f")
    start, end, e = ext[len(ext) // 2]
    assert end - start > 20
    fresh = cold(fs)
    store.fetched.clear()
    out = files.read(Tx(fresh, r), keys.parse_path("f"), start + 5, end - start - 10)
    assert bytes(out) == data[start + 5:end - 5]
    assert isinstance(out, memoryview), "a range inside one extent is served from the cached chunk"
    data_fetched = [c for c in store.fetched if c in {x.ref.cid for _, _, x in ext}]
    assert data_fetched == [e.ref.cid]


def test_reads_spanning_many_extents():
    store = CountingStore()
    fs = make_fs(store)
    data = rand_bytes(6, 600_000)
    r = fs.write_file(fs.new(), "f", data)
    ext = extents_of(fs, r, "f")
    assert len(ext) >= 30
    lo, hi = ext[3][0] + 1, ext[-4][1] - 1
    fresh = cold(fs)
    store.fetched.clear()
    assert fresh.read(r, "f", lo, hi - lo) == data[lo:hi]
    wanted = {e.ref.cid for s, t, e in ext if t > lo and s < hi}
    data_fetched = [c for c in store.fetched if c in {x.ref.cid for _, _, x in ext}]
    assert sorted(data_fetched) == sorted(wanted), "exactly the overlapping extents are fetched, once each"
    # every extent boundary, read across
    for (_, boundary, _) in ext[:-1]:
        assert fs.read(r, "f", boundary - 3, 6) == data[boundary - 3:boundary + 3]


def test_read_across_holes_between_extents():
    fs = make_fs()
    r = fs.create(fs.new(), "f")
    pieces = {0: rand_bytes(1, 5000), 30_000: rand_bytes(2, 40_000), 200_000: rand_bytes(3, 10)}
    expected = bytearray(200_010)
    for off, b in pieces.items():
        r = fs.write_at(r, "f", off, b)
        expected[off:off + len(b)] = b
    assert fs.read(r, "f") == bytes(expected)
    assert fs.read(r, "f", 4000, 30_000) == bytes(expected[4000:34_000])
    assert fs.read(r, "f", 69_000, 200_000) == bytes(expected[69_000:])


# -- listdir and walk --------------------------------------------------------------------------

def tree(fs):
    r = fs.new()
    for d in ["b", "b/sub", "b/sub/deeper", "b-c", "a", "b0"]:
        r = fs.mkdir(r, d)
    for f in ["b/x", "b/sub/y", "b/sub/deeper/z", "b.txt", "b-c/w", "a/v", "b/a-file"]:
        r = fs.write_file(r, f, rand_bytes(len(f), 3000))
    return fs.symlink(r, "b/link", "x")


def test_listdir_children_only_in_key_order():
    fs = make_fs()
    r = tree(fs)
    names = [n for n, _ in fs.listdir(r)]
    # key order: a child sorts as its name + '/', so "b-c" and "b.txt" ('-', '.' < '/') precede "b"
    assert names == ["a", "b-c", "b.txt", "b", "b0"]
    assert names == sorted(names, key=lambda n: n.encode() + b"/")
    assert [n for n, _ in fs.listdir(r, "b")] == ["a-file", "link", "sub", "x"]
    assert [n for n, _ in fs.listdir(r, "b/sub")] == ["deeper", "y"]
    assert fs.listdir(r, "b/sub/deeper/") == [("z", fs.stat(r, "b/sub/deeper/z"))]
    listing = dict(fs.listdir(r, "b"))
    assert listing["sub"] == Info.dir(0o755) and listing["x"].size == 3000 and listing["link"].is_symlink
    assert fs.listdir(fs.mkdir(r, "empty"), "empty") == []


def test_listdir_skips_subtrees_rather_than_reading_them():
    """listdir of a directory whose children hold thousands of entries reads far fewer nodes
    than walking it (it seeks past each child's subtree)."""
    store = CountingStore()
    fs = make_fs(store)
    with fs.edit(fs.new()) as tx:
        for c in ["c1", "c2", "c3"]:
            tx.mkdir(c)
            for i in range(600):
                tx.mkdir(f"{c}/d{i:04d}")
    r = tx.root
    fresh = cold(fs)
    store.fetched.clear()
    assert [n for n, _ in fresh.listdir(r)] == ["c1", "c2", "c3"]
    listdir_gets = len(store.fetched)
    fresh = cold(fs)
    store.fetched.clear()
    assert len(list(fresh.walk(r))) == 1 + 3 + 1800
    walk_gets = len(store.fetched)
    assert listdir_gets * 4 < walk_gets, (listdir_gets, walk_gets)


def test_walk_parents_before_children():
    fs = make_fs()
    r = tree(fs)
    walked = [p for p, _ in fs.walk(r)]
    assert walked[0] == ""
    seen = set()
    for p in walked:
        parent = p.rsplit("/", 1)[0] if "/" in p else ""
        assert p == "" or parent in seen, f"{p} before its parent"
        seen.add(p)
    assert walked == sorted(walked, key=lambda p: keys.info_key(keys.parse_path(p)))
    assert set(walked) == {"", "a", "a/v", "b", "b/a-file", "b/link", "b/sub", "b/sub/deeper", "b/sub/deeper/z",
                           "b/sub/y", "b/x", "b-c", "b-c/w", "b.txt", "b0"}
    assert [p for p, _ in fs.walk(r, "b/sub")] == ["b/sub", "b/sub/deeper", "b/sub/deeper/z", "b/sub/y"]
    assert [p for p, _ in fs.walk(r, "b.txt")] == ["b.txt"]
    assert "b-c" not in [p for p, _ in fs.walk(r, "b")]


# -- immutability ------------------------------------------------------------------------------

def snapshot(fs, root):
    out = []
    for p, info in fs.walk(root):
        body = hashlib.sha256(fs.read(root, p)).hexdigest() if info.is_file else None
        out.append((p, info, body))
    return out


def test_old_roots_never_change():
    fs = make_fs()
    r = fs.new()
    history = [(r, snapshot(fs, r))]
    steps = [
        lambda r: fs.mkdir(r, "d"),
        lambda r: fs.write_file(r, "d/f", rand_bytes(1, 120_000)),
        lambda r: fs.write_at(r, "d/f", 60_000, b"edit"),
        lambda r: fs.write_at(r, "d/f", 200_000, b"past the end"),
        lambda r: fs.truncate(r, "d/f", 10_000),
        lambda r: fs.copy(r, "d", "e"),
        lambda r: fs.write_file(r, "e/f", b"replaced"),
        lambda r: fs.rename(r, "e", "g"),
        lambda r: fs.chmod(r, "g/f", 0o600),
        lambda r: fs.set_xattr(r, "d", b"user.x", b"1"),
        lambda r: fs.symlink(r, "l", "d/f"),
        lambda r: fs.remove(r, "d", recursive=True),
        lambda r: fs.rename(r, "g/f", "f"),
    ]
    for step in steps:
        new = step(r)
        assert new != r
        r = new
        history.append((r, snapshot(fs, r)))
        for old_root, snap in history:
            assert snapshot(fs, old_root) == snap
    assert len({root for root, _ in history}) == len(history)
    # and through a fresh FS (cold caches) too
    fresh = cold(fs)
    for old_root, snap in history:
        assert snapshot(fresh, old_root) == snap
