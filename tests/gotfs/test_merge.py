"""Three-way merge of gotfs roots against a model of plain dicts (path -> node).

Hypothesis builds a base tree and two sides from random operations (files with line-edited
text or binary bytes, modes, directories, symlinks, removals, renames), on the filesystem and
on the model at once. The model's merge is written from scratch over whole dicts, path by
path; only the line merge of one file (gotfs.mergetext, over merge3) is shared. Checked:

- conflict-free: the merged tree equals the model's merge, and swapping ours and theirs gives
  the very same root;
- every conflict the model sees is reported, with its kind, and no other;
- merging with an ancestor is a fast-forward; the result is always a well-formed tree;
- favor=ours/theirs: the favored side's version at every conflict, nothing else changes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from gotfs import keys
from gotfs.merge import (BINARY, CONTENT, DELETE_MODIFY, FILE_DIRECTORY, MODE, OURS, RENAME_EDIT, THEIRS, TYPE,
                         merge)
from gotfs.mergetext import has_markers, is_text, merge_text

from .conftest import make_fs, rand_bytes

NAMES = [b"a", b"b", b"c"]
PATHS = [(x,) for x in NAMES] + [(x, y) for x in NAMES[:2] for y in NAMES]
LINES = [b"one", b"two", b"three", b"four"]

# -- the model: path tuple -> ("dir", mode) | ("file", mode, bytes) | ("link", target) ------


def parent_ok(m: dict, p) -> bool:
    return len(p) == 1 or m.get(p[:-1], ("",))[0] == "dir"


def apply(fs, root, m: dict, op) -> tuple:
    """Apply one operation to the filesystem and the model when it is valid in the model."""
    kind, p = op[0], op[1]
    node = m.get(p)
    if kind == "write":
        _, _, data, mode = op
        if any(m.get(p[:i], ("dir",))[0] != "dir" for i in range(1, len(p))) or (node and node[0] == "dir"):
            return root, m
        for i in range(1, len(p)):
            if p[:i] not in m:
                root = fs.mkdir(root, keys.show(p[:i]))
                m = {**m, p[:i]: ("dir", 0o755)}
        if node and node[0] == "link":
            root = fs.remove(root, keys.show(p))
        return fs.write_file(root, keys.show(p), data, mode=mode), {**m, p: ("file", mode, data)}
    if kind == "chmod" and node and node[0] != "link":
        return fs.chmod(root, keys.show(p), op[2]), {**m, p: (node[0], op[2], *node[2:])}
    if kind == "remove" and node:
        return (fs.remove(root, keys.show(p), recursive=True),
                {q: v for q, v in m.items() if q[:len(p)] != p})
    if kind == "mkdir" and not node and parent_ok(m, p):
        return fs.mkdir(root, keys.show(p), op[2]), {**m, p: ("dir", op[2])}
    if kind == "symlink" and not node and parent_ok(m, p):
        return fs.symlink(root, keys.show(p), op[2]), {**m, p: ("link", op[2])}
    if kind == "rename" and node and node[0] == "file" and op[2] not in m and parent_ok(m, op[2]) \
            and op[2][:len(p)] != p:
        m = {q: v for q, v in m.items() if q != p}
        return fs.rename(root, keys.show(p), keys.show(op[2])), {**m, op[2]: node}
    return root, m


def three(b, o, t):
    if o == t or t == b:
        return o, True
    if o == b:
        return t, True
    return o, False


def model_merge(b: dict, o: dict, t: dict) -> tuple[dict, dict]:
    """(merged dict, {path: conflict kind}) — the rules of gotfs.merge, path by path."""
    out, conflicts = {}, {}
    for p in sorted(set(b) | set(o) | set(t)):
        vb, vo, vt = b.get(p), o.get(p), t.get(p)
        r, ok = three(vb, vo, vt)
        if ok:
            if r is not None:
                out[p] = r
            continue
        if vo is None or vt is None:
            deleter, kept = (o, vt) if vo is None else (t, vo)
            renamed = vb[0] == "file" and any(
                q not in b and v[0] == "file" and v[2] == vb[2] for q, v in deleter.items())
            conflicts[p] = RENAME_EDIT if renamed else DELETE_MODIFY
        elif vo[0] != vt[0]:
            conflicts[p] = FILE_DIRECTORY if "dir" in (vo[0], vt[0]) else TYPE
        elif vo[0] == "link":
            conflicts[p] = CONTENT
        else:
            same_kind = vb is not None and vb[0] == vo[0]
            mode, mode_ok = three(vb[1] if same_kind else None, vo[1], vt[1])
            if vo[0] == "dir":
                data_ok, data = True, None
            else:
                data, data_ok = three(vb[2] if same_kind else None, vo[2], vt[2])
                if not data_ok:
                    base = vb[2] if same_kind else None
                    if all(is_text(x) for x in (base, vo[2], vt[2])):
                        data, data_ok = merge_text(base, vo[2], vt[2])
                        if not data_ok:
                            conflicts[p] = CONTENT
                    else:
                        conflicts[p] = BINARY
            if data_ok and not mode_ok:
                conflicts[p] = MODE
            if data_ok and mode_ok:
                out[p] = (vo[0], mode) if vo[0] == "dir" else ("file", mode, data)
    for p in list(out) + list(conflicts):
        for i in range(1, len(p)):
            a = p[:i]
            if a not in conflicts and out.get(a, ("",))[0] != "dir":
                conflicts[a] = DELETE_MODIFY if a not in out else FILE_DIRECTORY
    return out, conflicts


def tree_of(fs, root) -> dict:
    out = {}
    for path, info in fs.walk(root):
        p = keys.parse_path(path)
        if not p:
            continue
        if info.is_dir:
            out[p] = ("dir", info.mode)
        elif info.is_symlink:
            out[p] = ("link", info.target)
        else:
            out[p] = ("file", info.mode, fs.read(root, path))
    return out


def well_formed(tree: dict) -> None:
    for p in tree:
        assert len(p) == 1 or tree.get(p[:-1], ("",))[0] == "dir", (p, tree)


# -- strategies ---------------------------------------------------------------------------

texts = st.lists(st.sampled_from(LINES), max_size=5).map(lambda ls: b"".join(x + b"\n" for x in ls))
datas = st.one_of(texts, texts, st.sampled_from([b"", b"\x00bin", b"\x00other", b"no newline"]))
modes = st.sampled_from([0o644, 0o755])
paths = st.sampled_from(PATHS)
ops = st.one_of(
    st.tuples(st.just("write"), paths, datas, modes),
    st.tuples(st.just("write"), paths, texts, st.just(0o644)),
    st.tuples(st.just("write"), paths, datas, st.just(0o644)),
    st.tuples(st.just("chmod"), paths, modes),
    st.tuples(st.just("remove"), paths),
    st.tuples(st.just("mkdir"), paths, modes),
    st.tuples(st.just("symlink"), paths, st.sampled_from([b"x", b"y"])),
    st.tuples(st.just("rename"), paths, paths),
)


def build(fs, root, m, operations):
    for op in operations:
        root, m = apply(fs, root, m, op)
    return root, m


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=3, max_size=10), st.lists(ops, min_size=1, max_size=6),
       st.lists(ops, min_size=1, max_size=6))
def test_merge_agrees_with_the_model(base_ops, our_ops, their_ops):
    fs = make_fs()
    base, mb = build(fs, fs.new(), {}, base_ops)
    ours, mo = build(fs, base, mb, our_ops)
    theirs, mt = build(fs, base, mb, their_ops)
    assert tree_of(fs, ours) == mo and tree_of(fs, theirs) == mt
    expected, expected_conflicts = model_merge(mb, mo, mt)
    root, conflicts = merge(fs, base, ours, theirs)
    assert {keys.parse_path(c.path): c.kind for c in conflicts} == expected_conflicts
    merged = tree_of(fs, root)
    well_formed(merged)
    if not conflicts:
        assert merged == expected
        assert merge(fs, base, theirs, ours).root == root  # symmetric
        assert merge(fs, base, ours, theirs, favor=THEIRS).root == root
    else:
        for c in conflicts:
            p = keys.parse_path(c.path)
            if c.kind == CONTENT and merged.get(p, ("",))[0] == "file" and mo[p][0] == "file":
                assert has_markers(merged[p][2])
            if c.kind == DELETE_MODIFY and p in mb and (p in mo) != (p in mt):
                assert merged.get(p) == (mo.get(p) or mt.get(p))
    for favor, side in ((OURS, mo), (THEIRS, mt)):
        root_f, conflicts_f = merge(fs, base, ours, theirs, favor=favor)
        assert [(c.path, c.kind) for c in conflicts_f] == [(c.path, c.kind) for c in conflicts]
        got = tree_of(fs, root_f)
        well_formed(got)
        for c in conflicts_f:
            p = keys.parse_path(c.path)
            if c.kind == MODE:
                assert got[p][1] == side[p][1]
            elif c.kind in (CONTENT, BINARY) and side[p][0] == "file":
                assert got[p][2] == side[p][2]
            elif c.kind not in (CONTENT, BINARY):
                assert got.get(p) == side.get(p), (c, favor)
        unconflicted = {p for p in set(got) | set(expected)
                        if not any(p[:len(keys.parse_path(c.path))] == keys.parse_path(c.path) for c in conflicts)}
        assert {p: got.get(p) for p in unconflicted} == {p: expected.get(p) for p in unconflicted}


@settings(max_examples=60, deadline=None)
@given(st.lists(ops, max_size=8), st.lists(ops, max_size=6))
def test_merging_with_an_ancestor_is_a_fast_forward(base_ops, our_ops):
    fs = make_fs()
    base, _ = build(fs, fs.new(), {}, base_ops)
    ours, _ = build(fs, base, tree_of(fs, base), our_ops)
    assert merge(fs, base, base, ours) == (ours, [])
    assert merge(fs, base, ours, base) == (ours, [])
    assert merge(fs, base, ours, ours) == (ours, [])


# -- examples a reader can follow -----------------------------------------------------------


def _fs_with(files: dict):
    fs = make_fs()
    root = fs.new()
    for path, data in files.items():
        for i in range(1, len(keys.parse_path(path))):
            root = fs.mkdir(root, keys.show(keys.parse_path(path)[:i]), exist_ok=True)
        root = fs.write_file(root, path, data)
    return fs, root


def test_text_edits_on_different_lines_merge_cleanly():
    fs, base = _fs_with({"doc.txt": b"1\n2\n3\n4\n5\n"})
    ours = fs.write_file(base, "doc.txt", b"1\nours\n3\n4\n5\n")
    theirs = fs.write_file(base, "doc.txt", b"1\n2\n3\n4\ntheirs\n")
    root, conflicts = merge(fs, base, ours, theirs)
    assert conflicts == [] and fs.read(root, "doc.txt") == b"1\nours\n3\n4\ntheirs\n"


def test_colliding_lines_get_markers_and_sides_stay_retrievable():
    fs, base = _fs_with({"doc.txt": b"1\n2\n3\n"})
    ours = fs.write_file(base, "doc.txt", b"1\nmine\n3\n")
    theirs = fs.write_file(base, "doc.txt", b"1\nyours\n3\n")
    root, [c] = merge(fs, base, ours, theirs, labels=("HEAD", "feature"))
    assert (c.path, c.kind) == ("doc.txt", CONTENT)
    assert fs.read(root, "doc.txt") == b"1\n<<<<<<< HEAD\nmine\n=======\nyours\n>>>>>>> feature\n3\n"
    assert fs.read(theirs, "doc.txt") == b"1\nyours\n3\n"


def test_owners_merge_three_way():
    """A chown on one side and an edit on the other both survive; two chowns conflict."""
    fs, base = _fs_with({"f": b"1\n2\n3\n", "g": b"g"})
    with fs.edit(base) as tx:
        tx.put_info((b"f",), tx.require((b"f",)).with_(uid=1000, gid=100))
        tx.put_info((b"g",), tx.require((b"g",)).with_(uid=5, gid=5))
    ours = tx.root
    theirs = fs.write_file(base, "f", b"1\n2\n3\nmore\n")
    with fs.edit(theirs) as tx:
        tx.put_info((b"g",), tx.require((b"g",)).with_(uid=6, gid=6))
    root, conflicts = merge(fs, base, ours, tx.root)
    assert fs.read(root, "f") == b"1\n2\n3\nmore\n"
    assert (fs.stat(root, "f").uid, fs.stat(root, "f").gid) == (1000, 100)
    assert [(c.path, c.kind) for c in conflicts] == [("g", MODE)]
    assert fs.stat(root, "g").uid == 5  # ours, as for a mode


def test_a_file_against_a_directory_keeps_both():
    fs, base = _fs_with({"x": b"1\n"})
    ours = fs.write_file(fs.mkdir(fs.remove(base, "x"), "x"), "x/inner", b"i")
    theirs = fs.write_file(base, "x", b"2\n")
    root, [c] = merge(fs, base, ours, theirs, labels=("HEAD", "topic/x"))
    assert c.kind == FILE_DIRECTORY and "x~topic_x" in c.note
    assert fs.read(root, "x/inner") == b"i" and fs.read(root, "x~topic_x") == b"2\n"


def test_rename_on_one_side_and_edit_on_the_other_is_reported():
    fs, base = _fs_with({"old.txt": b"hello\n", "other": b"o"})
    ours = fs.rename(base, "old.txt", "new.txt")
    theirs = fs.write_file(base, "old.txt", b"hello, edited\n")
    root, [c] = merge(fs, base, ours, theirs)
    assert (c.path, c.kind) == ("old.txt", RENAME_EDIT) and "new.txt" in c.note
    assert fs.read(root, "old.txt") == b"hello, edited\n" and fs.read(root, "new.txt") == b"hello\n"


def test_cost_follows_the_change_not_the_tree():
    """10 files changed on each side of a 4,000-file tree: the merge reads a small fraction
    of the tree's nodes (what the two diffs read, plus the paths written)."""
    fs = make_fs()
    with fs.edit(fs.new()) as tx:
        for d in range(40):
            tx.mkdir(f"d{d:02}")
            for i in range(100):
                tx.write_file(f"d{d:02}/f{i:03}.txt", b"file %d %d\n" % (d, i))
    base = tx.root
    total = len(fs.kv.reachable([base]))
    ours = theirs = base
    for i in range(10):
        ours = fs.write_file(ours, f"d{i:02}/f000.txt", rand_bytes(i, 50))
        theirs = fs.write_file(theirs, f"d{i + 20:02}/f050.txt", rand_bytes(100 + i, 50))
    fs.kv.nodes.cache.clear()
    fs.kv.nodes.reset_counters()
    root, conflicts = merge(fs, base, ours, theirs)
    read = fs.kv.nodes.fetches
    assert conflicts == []
    assert read < total / 4, (read, total)
    fs.kv.nodes.cache.clear()
    fs.kv.nodes.reset_counters()
    list(fs.kv.diff(base, ours)), list(fs.kv.diff(base, theirs))
    assert read <= 2 * fs.kv.nodes.fetches + 10, (read, fs.kv.nodes.fetches)
    assert merge(fs, base, theirs, ours).root == root
