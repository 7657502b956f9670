"""gotfs.diff: the changed paths of two roots, as a naive comparison of every path finds them.

A tree built again with one file changed re-stores the packed neighbours that shared its
chunk: their extents move, their bytes and Info do not, and the diff must leave them out
without reading the trees beyond what gotkv's diff reads. Holes, writes in place (the same
size, the same Info, other bytes), truncates, kind changes and removals must all come out
as the naive walk says.
"""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from gotfs import keys
from gotfs.diff import ADDED, MODIFIED, REMOVED, diff
from gotfs.info import Info
from gotfs.staging import Staging
from gotkv import Span
from tests.gotfs.conftest import make_fs

NAMES = ["a", "b", "c", "d/x", "d/y", "d/z", "e/p", "e/q"]


def _build(fs, files: dict[str, bytes]):
    """A tree holding `files` (sizes as given), staged at once: packed as a full build packs them."""
    staging = Staging(fs, fs.new())
    for top in ("d", "e"):
        staging.mkdir((top.encode(),))
    for name, data in sorted(files.items()):
        staging.write_file(keys.parse_path(name), data)
    return staging.flush()


def _paths(fs, root) -> dict[bytes, Info]:
    return {k: Info.from_bytes(v) for k, v in fs.kv.iterate(root, Span()) if not keys.is_extent_key(k)}


def _naive(fs, a, b) -> list[tuple]:
    """Every path of both trees, compared by Info and (for files) by the bytes read."""
    pa, pb = _paths(fs, a), _paths(fs, b)
    out = []
    for k in sorted(pa.keys() | pb.keys()):
        old, new = pa.get(k), pb.get(k)
        path = keys.show(keys.path_of(k))
        if old is None:
            out.append((path, ADDED, None, new, True))
        elif new is None:
            out.append((path, REMOVED, old, None, True))
        elif old.kind != new.kind or old.size != new.size or old.target != new.target:
            out.append((path, MODIFIED, old, new, True))
        else:
            content = old.is_file and fs.read(a, path) != fs.read(b, path)
            if content or old != new:
                out.append((path, MODIFIED, old, new, content))
    return out


def _diffed(fs, a, b, prefix: str = "") -> list[tuple]:
    return [(c.path, c.kind, c.old, c.new, c.content_changed) for c in diff(fs, a, b, prefix)]


def _content(rnd: random.Random, size: int) -> bytes:
    """Bytes from a two-letter alphabet: equal and same-size-but-different contents both occur."""
    return bytes(rnd.choice(b"ab") for _ in range(size))


sizes = st.one_of(st.integers(0, 40), st.integers(100, 3_000), st.integers(15_000, 30_000))
edit = st.one_of(
    st.tuples(st.just("rewrite"), st.sampled_from(NAMES), sizes),
    st.tuples(st.just("same_size"), st.sampled_from(NAMES)),
    st.tuples(st.just("drop"), st.sampled_from(NAMES)),
)
op = st.one_of(
    st.tuples(st.just("write_at"), st.sampled_from(NAMES), st.integers(0, 35_000), st.integers(1, 5_000)),
    st.tuples(st.just("truncate"), st.sampled_from(NAMES), st.integers(0, 35_000)),
    st.tuples(st.just("chmod"), st.sampled_from(NAMES), st.sampled_from([0o600, 0o644, 0o755])),
    st.tuples(st.just("symlink"), st.sampled_from(NAMES)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
)


def _apply(fs, root, o, rnd: random.Random):
    """One FS operation on `root` (the same root back if it does not apply there)."""
    kind, name = o[0], o[1]
    info = fs.stat(root, name) if fs.exists(root, name) else None
    if kind == "symlink":
        root = fs.remove(root, name) if info is not None else root
        return fs.symlink(root, name, b"target-" + name.encode())
    if info is None or not info.is_file:
        return root
    if kind == "write_at":
        return fs.write_at(root, name, o[2], _content(rnd, o[3]))
    if kind == "truncate":
        return fs.truncate(root, name, o[2])
    if kind == "chmod":
        return fs.chmod(root, name, o[2])
    return fs.remove(root, name)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), initial=st.lists(sizes, min_size=len(NAMES), max_size=len(NAMES)),
       edits=st.lists(edit, max_size=4), ops=st.lists(op, max_size=4), reverse=st.booleans())
def test_diff_is_the_naive_diff(seed, initial, edits, ops, reverse):
    """Root a: a full build. Root b: a full build with some files rewritten (the same bytes,
    same-size other bytes, other sizes) or dropped, which moves packed neighbours, then FS
    operations on it (writes in place and past the end, truncates that make holes, chmod,
    symlinks, removals). The diff either way, and under a prefix, is the naive one."""
    rnd = random.Random(seed)
    fs = make_fs()
    files = {name: _content(rnd, n) for name, n in zip(NAMES, initial)}
    a = _build(fs, files)
    for e in edits:
        if e[0] == "rewrite":
            files[e[1]] = _content(rnd, e[2])
        elif e[0] == "same_size" and e[1] in files:
            files[e[1]] = _content(rnd, len(files[e[1]]))
        else:
            files.pop(e[1], None)
    b = _build(fs, files)
    for o in ops:
        b = _apply(fs, b, o, rnd)
    if reverse:
        a, b = b, a
    assert _diffed(fs, a, b) == _naive(fs, a, b)
    assert _diffed(fs, a, b, "d") == [c for c in _naive(fs, a, b) if c[0].startswith("d/")]


def test_moved_packed_neighbours_cost_no_reads_beyond_the_tree_diff():
    """One file of 3,000 packed small files changed, the tree built again: hundreds of
    neighbours that shared its chunk get new extents. The diff reports the one file and
    loads no node beyond those gotkv's diff loads (no lookup or transaction per path)."""
    fs = make_fs()
    files = {f"f{i:04}": b"file %d\n" % i * 8 for i in range(3000)}
    a = _build(fs, files)
    files["f1500"] = b"second\n"
    b = _build(fs, files)
    moved = {keys.path_of(c.key) for c in fs.kv.diff(a, b) if keys.is_extent_key(c.key)}
    assert len(moved) > 100
    fs.kv.nodes.reset_counters()
    list(fs.kv.diff(a, b))
    tree_diff = fs.kv.nodes.loads
    fs.kv.nodes.reset_counters()
    assert [c.path for c in diff(fs, a, b)] == ["f1500"]
    assert fs.kv.nodes.loads <= tree_diff, (fs.kv.nodes.loads, tree_diff)


def test_a_same_size_write_under_an_unchanged_info_is_reported():
    """Bytes rewritten in place, the size and Info unchanged: found from the extents alone,
    and reported with the Info it has on both sides."""
    fs = make_fs()
    a = _build(fs, {"x": b"a" * 5_000, "y": b"b" * 50})
    b = fs.write_at(a, "x", 1_000, b"z" * 10)
    assert fs.stat(a, "x") == fs.stat(b, "x")
    [c] = diff(fs, a, b)
    assert (c.path, c.kind, c.content_changed) == ("x", MODIFIED, True)
    assert c.old == c.new == fs.stat(b, "x")
    assert list(diff(fs, a, fs.write_at(a, "x", 1_000, b"a" * 10))) == []


def test_holes_equal_zeros_written_out():
    """A hole (a file grown by truncate) and the same zeros written as data are equal bytes."""
    fs = make_fs()
    base = _build(fs, {"x": b"head"})
    holed = fs.truncate(base, "x", 20_000)
    written = fs.write_at(base, "x", 4, bytes(19_996))
    assert list(diff(fs, holed, written)) == []
    assert [c.path for c in diff(fs, holed, fs.write_at(holed, "x", 10_000, b"\1"))] == ["x"]
