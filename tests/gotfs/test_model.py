"""gotfs against a plain in-memory model, driven by a hypothesis state machine.

The model is a dict path -> Node(kind, data, mode, xattrs) and it alone decides the outcome of
every operation, including which error class a bad one raises (following POSIX where POSIX
has an answer). After every step the filesystem must agree with it through stat, read (whole
and ranged), readlink, listdir and walk, and the raw gotkv entries must have the GotFS layout.
Every earlier root is kept with a snapshot of the model, and earlier roots must keep reading
exactly as their snapshot (immutability). Finally the whole log of successful operations,
replayed as ONE transaction (`fs.edit`) from the first root, must give the very same root as
the step-by-step run (history independence at the filesystem level).

Small ChunkParams and small gotkv nodes make a 200 KiB file dozens of extents and the tree
several levels deep.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gotfs import dirs, files, keys
from gotfs.errors import (AlreadyExists, DirectoryNotEmpty, InvalidPath, IsADirectory, NotADirectory,
                          NotAFile, PathNotFound)
from gotfs.extent import Extent
from gotfs.info import Info, Kind
from gotfs.keys import parse_path
from gotkv import MemoryStore, Span

from .conftest import make_fs, rand_bytes

NAMES = [b"a", b"b", b"b-c", b"\xe9\xff"]  # '-' sorts before '/', and one name is not UTF-8

# -- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    kind: str  # "dir" | "file" | "symlink"
    data: bytes = b""  # file contents or symlink target
    mode: int = 0o644
    xattrs: tuple[tuple[bytes, bytes], ...] = ()

    def info(self) -> Info:
        kind = {"dir": Kind.DIR, "file": Kind.FILE, "symlink": Kind.SYMLINK}[self.kind]
        size = 0 if self.kind == "dir" else len(self.data)
        target = self.data if self.kind == "symlink" else b""
        return Info(kind, self.mode, size, target, self.xattrs)


def under(p, q) -> bool:
    """p is strictly below q."""
    return len(p) > len(q) and p[:len(q)] == q


class Model:
    """Each method returns the error class the operation must raise, or None (then it applied)."""

    def __init__(self, nodes=None):
        self.nodes: dict = dict(nodes) if nodes is not None else {(): Node("dir", mode=0o755)}

    def copy(self) -> Model:
        return Model(self.nodes)

    # lookups
    def missing(self, p):
        for i in range(1, len(p)):
            up = self.nodes.get(p[:i])
            if up is None:
                return PathNotFound
            if up.kind != "dir":
                return NotADirectory
        return PathNotFound

    def require(self, p):
        return None if p in self.nodes else self.missing(p)

    def require_dir(self, p):
        err = self.require(p)
        if err is None and self.nodes[p].kind != "dir":
            return NotADirectory
        return err

    def require_file(self, p):
        err = self.require(p)
        if err is None:
            kind = self.nodes[p].kind
            return {"dir": IsADirectory, "symlink": NotAFile, "file": None}[kind]
        return err

    def children(self, p):
        return sorted((q[-1] for q in self.nodes if len(q) == len(p) + 1 and q[:len(p)] == p),
                      key=lambda n: n + b"/")

    def subtree(self, p):
        return [q for q in self.nodes if q == p or under(q, p)]

    # operations
    def mkdir(self, p, mode, parents, exist_ok):
        old = self.nodes.get(p)
        if old is not None:
            return None if old.kind == "dir" and (parents or exist_ok) else AlreadyExists
        if parents:
            for i in range(1, len(p)):
                up = self.nodes.get(p[:i])
                if up is None:
                    break
                if up.kind != "dir":
                    return NotADirectory  # mkdir -p a/b with a a file: ENOTDIR, as mkdir(1) says
            for i in range(1, len(p)):
                self.nodes.setdefault(p[:i], Node("dir", mode=0o755))
        else:
            err = self.require_dir(p[:-1])
            if err:
                return err
        self.nodes[p] = Node("dir", mode=mode)
        return None

    def write_file(self, p, data, mode):
        if not p:
            return AlreadyExists
        err = self.require_dir(p[:-1])
        if err:
            return err
        old = self.nodes.get(p)
        if old is not None and old.kind != "file":
            return IsADirectory if old.kind == "dir" else NotAFile
        self.nodes[p] = Node("file", data, mode, old.xattrs if old else ())
        return None

    def write_at(self, p, offset, data):
        err = self.require_file(p)
        if err:
            return err
        old = self.nodes[p]
        cur = old.data
        if data:
            new = cur[:offset].ljust(offset, b"\0") + data + cur[offset + len(data):]
            self.nodes[p] = replace(old, data=new)
        return None

    def truncate(self, p, size):
        err = self.require_file(p)
        if err:
            return err
        old = self.nodes[p]
        self.nodes[p] = replace(old, data=old.data[:size].ljust(size, b"\0"))
        return None

    def remove(self, p, recursive):
        if not p:
            return InvalidPath
        err = self.require(p)
        if err:
            return err
        if self.nodes[p].kind == "dir" and not recursive and self.children(p):
            return DirectoryNotEmpty
        for q in self.subtree(p):
            del self.nodes[q]
        return None

    def _target(self, src, dst):
        """POSIX rename(2) rules for the target; None if the move may go ahead."""
        is_dir = self.nodes[src].kind == "dir"
        if is_dir and under(dst, src):
            return InvalidPath  # EINVAL: a directory into itself
        err = self.require_dir(dst[:-1])
        if err:
            return err
        old = self.nodes.get(dst)
        if old is None:
            return None
        if is_dir:
            if old.kind != "dir":
                return NotADirectory
            if self.children(dst):
                return DirectoryNotEmpty
        elif old.kind == "dir":
            return IsADirectory
        return None

    def _move(self, src, dst, keep_src):
        for q in self.subtree(dst):
            del self.nodes[q]
        moved = {dst + q[len(src):]: self.nodes[q] for q in self.subtree(src)}
        if not keep_src:
            for q in self.subtree(src):
                del self.nodes[q]
        self.nodes.update(moved)

    def rename(self, src, dst):
        if not src or not dst:
            return InvalidPath
        err = self.require(src)
        if err:
            return err
        if src == dst:
            return None
        err = self._target(src, dst)
        if err:
            return err
        self._move(src, dst, keep_src=False)
        return None

    def copy_(self, src, dst):
        if not dst:
            return AlreadyExists
        err = self.require(src)
        if err:
            return err
        if dst == src or (self.nodes[src].kind == "dir" and under(dst, src)):
            return InvalidPath
        if dst in self.nodes:
            return AlreadyExists
        err = self._target(src, dst)
        if err:
            return err
        self._move(src, dst, keep_src=True)
        return None

    def symlink(self, p, target):
        if not p:
            return AlreadyExists
        err = self.require_dir(p[:-1])
        if err:
            return err
        if p in self.nodes:
            return AlreadyExists
        self.nodes[p] = Node("symlink", target, 0o777)
        return None

    def chmod(self, p, mode):
        err = self.require(p)
        if err is None:
            self.nodes[p] = replace(self.nodes[p], mode=mode & 0o7777)
        return err

    def set_xattr(self, p, name, value):
        err = self.require(p)
        if err is None:
            x = dict(self.nodes[p].xattrs)
            x[name] = value
            self.nodes[p] = replace(self.nodes[p], xattrs=tuple(sorted(x.items())))
        return err

    def remove_xattr(self, p, name):
        err = self.require(p)
        if err is None:
            x = dict(self.nodes[p].xattrs)
            x.pop(name, None)
            self.nodes[p] = replace(self.nodes[p], xattrs=tuple(sorted(x.items())))
        return err


# -- running an operation on gotfs -----------------------------------------------------------

def fmt(p, style: int):
    """The same path in different spellings the API accepts."""
    raw = b"/".join(p)
    if style == 0:
        return raw
    if style == 1:
        return "/" + os.fsdecode(raw)
    return os.fsdecode(raw) + "/"


def run_fs(fs, root, op, args, style):
    """One operation through the FS facade (each a one-operation transaction)."""
    f = lambda p: fmt(p, style)  # noqa: E731
    if op == "mkdir":
        p, mode, parents, exist_ok = args
        return fs.mkdir(root, f(p), mode, parents=parents, exist_ok=exist_ok)
    if op == "write_file":
        p, data, mode = args
        return fs.write_file(root, f(p), data, mode=mode)
    if op == "write_at":
        p, offset, data = args
        return fs.write_at(root, f(p), offset, data)
    if op == "truncate":
        return fs.truncate(root, f(args[0]), args[1])
    if op == "remove":
        return fs.remove(root, f(args[0]), recursive=args[1])
    if op == "rename":
        return fs.rename(root, f(args[0]), f(args[1]))
    if op == "copy_":
        return fs.copy(root, f(args[0]), f(args[1]))
    if op == "symlink":
        return fs.symlink(root, f(args[0]), args[1])
    if op == "chmod":
        return fs.chmod(root, f(args[0]), args[1])
    if op == "set_xattr":
        return fs.set_xattr(root, f(args[0]), args[1], args[2])
    if op == "remove_xattr":
        return fs.remove_xattr(root, f(args[0]), args[1])
    raise AssertionError(op)


def run_tx(tx, op, args) -> None:
    """The same operation inside a multi-operation transaction (fs.edit)."""
    s = lambda p: os.fsdecode(b"/".join(p))  # noqa: E731
    if op == "mkdir":
        p, mode, parents, exist_ok = args
        tx.mkdir(s(p), mode, parents=parents, exist_ok=exist_ok)
    elif op == "write_file":
        p, data, mode = args
        tx.write_file(s(p), data, mode=mode)
    elif op == "write_at":
        tx.write_at(s(args[0]), args[1], args[2])
    elif op == "truncate":
        tx.truncate(s(args[0]), args[1])
    elif op == "remove":
        tx.remove(s(args[0]), recursive=args[1])
    elif op == "rename":
        tx.rename(s(args[0]), s(args[1]))
    elif op == "copy_":
        dirs.copy(tx, args[0], args[1])
    elif op == "symlink":
        tx.symlink(s(args[0]), args[1])
    elif op == "chmod":
        files.set_attrs(tx, args[0], mode=args[1])
    elif op == "set_xattr":
        files.set_attrs(tx, args[0], set_xattrs={args[1]: args[2]})
    elif op == "remove_xattr":
        files.set_attrs(tx, args[0], remove_xattrs=[args[1]])
    else:
        raise AssertionError(op)


# -- checks ----------------------------------------------------------------------------------

def check_reads(fs, root, model: Model, *, full: bool = True) -> None:
    nodes = model.nodes
    expected_walk = [(keys.show(p), nodes[p].info()) for p in sorted(nodes, key=keys.info_key)]
    assert list(fs.walk(root)) == expected_walk
    for p, node in nodes.items():
        path = b"/".join(p)
        assert fs.stat(root, path) == node.info(), p
        assert fs.exists(root, path)
        if node.kind == "file":
            assert fs.read(root, path) == node.data, p
            if full:
                n = len(node.data)
                assert fs.read(root, path, n // 3, n // 2 + 1) == node.data[n // 3:n // 3 + n // 2 + 1]
                assert fs.read(root, path, n, 10) == b""
                assert fs.read(root, path, n + 5) == b""
        elif node.kind == "dir" and full:
            assert fs.listdir(root, path) == [(keys.show((c,)), nodes[p + (c,)].info()) for c in model.children(p)]
            # walk of a subtree is the matching slice of the whole walk
            assert [q for q, _ in fs.walk(root, path)] == [keys.show(q) for q in sorted(model.subtree(p), key=keys.info_key)]
        elif node.kind == "symlink":
            assert fs.readlink(root, path) == node.data
    if full:
        assert not fs.exists(root, "no-such-name")
        with pytest.raises(PathNotFound):
            fs.stat(root, "no-such-name/x")
        for p, node in nodes.items():
            if node.kind != "dir":
                with pytest.raises(NotADirectory):
                    fs.stat(root, b"/".join(p + (b"x",)))
                with pytest.raises(NotADirectory):
                    fs.listdir(root, b"/".join(p))
                break


def check_layout(fs, root, model: Model) -> None:
    """The raw entries: one Info key per path; extents of files only, ordered, disjoint, in size."""
    infos = []
    last: dict = {}
    for k, v in fs.kv.iterate(root, Span()):
        if keys.is_extent_key(k):
            p = keys.path_of(k)
            assert k.count(b"\x00") >= 1 and k[-9] == 0
            node = model.nodes[p]
            assert node.kind == "file", f"extent under a {node.kind}: {k!r}"
            e = Extent.from_bytes(v)
            end = keys.extent_end(k)
            assert end - e.length >= last.get(p, 0), f"overlapping extents at {k!r}"
            assert end <= len(node.data)
            last[p] = end
        else:
            assert k.endswith(b"/") and b"\x00" not in k
            assert Info.from_bytes(v).to_bytes() == v  # stored canonically
            infos.append(keys.path_of(k))
    assert infos == sorted(model.nodes, key=keys.info_key)


# -- the state machine ---------------------------------------------------------------------

sizes = st.one_of(st.integers(0, 64), st.integers(0, 8 << 10), st.integers(0, 200 << 10))
modes = st.sampled_from([0o644, 0o600, 0o755, 0o4755, 0o1777, 0o000])
xattr_names = st.sampled_from([b"user.a", b"user.b", b"security.x"])


def content(seed: int, size: int) -> bytes:
    if seed == 0:
        return (b"gotfs" * (size // 5 + 1))[:size]  # compressible and repetitive
    return rand_bytes(seed, size)


class FSMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = MemoryStore()
        self.fs = make_fs(self.store)
        self.root = self.fs.new()
        self.start = self.root
        self.model = Model()
        self.history = [(self.root, self.model)]
        self.log: list[tuple[str, tuple]] = []
        self.steps = 0

    # strategies that depend on the state
    def path(self, data, *, allow_root: bool = False, prefer: str | None = None):
        """An existing path, a new child of an existing one, or any path; `prefer` weights
        existing paths of one kind, so that operations on them mostly succeed."""
        existing = sorted(self.model.nodes, key=keys.info_key)
        if not allow_root:
            existing = [p for p in existing if p] or [(b"a",)]
        names = st.sampled_from(NAMES)
        child = st.sampled_from(sorted(self.model.nodes)).flatmap(lambda p: names.map(lambda n: p + (n,)))
        random_path = st.lists(names, min_size=1, max_size=3).map(tuple)
        choices = [st.sampled_from(existing), child, random_path]
        preferred = [p for p in existing if self.model.nodes.get(p, Node("")).kind == prefer]
        if preferred:
            choices += [st.sampled_from(preferred)] * 3
        return data.draw(st.one_of(choices), label="path")

    def apply(self, data, op: str, *args) -> None:
        self.steps += 1
        style = data.draw(st.integers(0, 2), label="spelling")
        model = self.model.copy()
        expected = getattr(model, op)(*args)
        event(f"{op}: {'ok' if expected is None else expected.__name__}")
        if expected is None:
            self.root = run_fs(self.fs, self.root, op, args, style)
            self.model = model
            self.history.append((self.root, model))
            self.log.append((op, args))
        else:
            with pytest.raises(expected) as caught:
                run_fs(self.fs, self.root, op, args, style)
            assert type(caught.value) is expected, f"{op}{args!r:.200}: {caught.value!r}"
            assert caught.value.errno, "every error carries an errno"

    @initialize(data=st.data(), seed=st.integers(1, 4), size=sizes)
    def populate(self, data, seed, size):
        """Start from a small tree, so that most runs exercise files and non-empty dirs."""
        self.apply(data, "mkdir", (b"a", b"b"), 0o755, True, False)
        self.apply(data, "write_file", (b"a", b"f"), content(seed, size), 0o644)
        self.apply(data, "write_file", (b"b-c",), content(0, 3000), 0o600)
        self.apply(data, "symlink", (b"a", b"b", b"l"), b"../f")

    @rule(data=st.data(), mode=modes, parents=st.booleans(), exist_ok=st.booleans())
    def mkdir(self, data, mode, parents, exist_ok):
        self.apply(data, "mkdir", self.path(data, allow_root=True), mode, parents, exist_ok)

    @rule(data=st.data(), seed=st.integers(0, 4), size=sizes, mode=modes)
    def write_file(self, data, seed, size, mode):
        self.apply(data, "write_file", self.path(data, prefer="file"), content(seed, size), mode)

    @rule(data=st.data(), seed=st.integers(0, 4), size=st.one_of(st.integers(0, 16), st.integers(0, 40 << 10)))
    def write_at(self, data, seed, size):
        p = self.path(data, prefer="file")
        node = self.model.nodes.get(p)
        cur = len(node.data) if node is not None and node.kind == "file" else 0
        offset = data.draw(st.one_of(st.integers(0, cur), st.integers(cur, cur + 60000)), label="offset")
        self.apply(data, "write_at", p, offset, content(seed, size))

    @rule(data=st.data())
    def truncate(self, data):
        p = self.path(data, prefer="file")
        node = self.model.nodes.get(p)
        cur = len(node.data) if node is not None and node.kind == "file" else 0
        size = data.draw(st.one_of(st.integers(0, cur), st.integers(cur, cur + 50000)), label="size")
        self.apply(data, "truncate", p, size)

    @rule(data=st.data(), recursive=st.booleans())
    def remove(self, data, recursive):
        self.apply(data, "remove", self.path(data, allow_root=True, prefer="dir"), recursive)

    @rule(data=st.data())
    def rename(self, data):
        src = self.path(data, allow_root=True, prefer=data.draw(st.sampled_from(["file", "dir", "symlink"])))
        dst = self.path(data, allow_root=True, prefer=data.draw(st.sampled_from(["file", "dir", None])))
        self.apply(data, "rename", src, dst)

    @rule(data=st.data())
    def copy(self, data):
        src = self.path(data, prefer=data.draw(st.sampled_from(["file", "dir", "symlink"])))
        self.apply(data, "copy_", src, self.path(data))

    @rule(data=st.data(), link=st.sampled_from([b"a", b"../b-c", b"/abs/path", b"\xff\xfe-not-utf8"]))
    def symlink(self, data, link):
        self.apply(data, "symlink", self.path(data), link)

    @rule(data=st.data(), mode=modes)
    def chmod(self, data, mode):
        self.apply(data, "chmod", self.path(data, allow_root=True, prefer="file"), mode)

    @rule(data=st.data(), name=xattr_names, value=st.binary(max_size=40))
    def set_xattr(self, data, name, value):
        self.apply(data, "set_xattr", self.path(data, allow_root=True, prefer=data.draw(st.sampled_from(["file", "dir"]))), name, value)

    @rule(data=st.data(), name=xattr_names)
    def remove_xattr(self, data, name):
        self.apply(data, "remove_xattr", self.path(data, allow_root=True, prefer="dir"), name)

    @rule()
    def replay_as_one_transaction(self):
        """All successful operations so far, as one fs.edit from the first root: same root."""
        event(f"replay of {min(len(self.log), 10) // 5 * 5}+ operations")
        with self.fs.edit(self.start) as tx:
            for op, args in self.log:
                run_tx(tx, op, args)
        assert tx.root == self.root, "one transaction and step-by-step commits gave different roots"
        self.fs.kv.check(tx.root)

    @invariant()
    def agrees_with_model(self):
        check_reads(self.fs, self.root, self.model)

    @invariant()
    def layout_is_gotfs(self):
        check_layout(self.fs, self.root, self.model)

    @invariant()
    def earlier_roots_unchanged(self):
        rng = random.Random(self.steps)
        for root, snapshot in [self.history[0]] + [rng.choice(self.history)]:
            check_reads(self.fs, root, snapshot, full=False)


FSMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestFSModel = FSMachine.TestCase


# -- a few fixed scenarios the machine might take long to reach -------------------------

def test_transaction_sees_its_own_writes_and_matches_step_by_step():
    fs = make_fs()
    r0 = fs.new()
    ops = [
        ("mkdir", ((b"a",), 0o755, False, False)),
        ("write_file", ((b"a", b"f"), rand_bytes(1, 100_000), 0o644)),
        ("write_at", ((b"a", b"f"), 150_000, b"tail")),  # leaves a hole
        ("truncate", ((b"a", b"f"), 120_000)),
        ("rename", ((b"a",), (b"b",))),
        ("rename", ((b"b",), (b"a",))),  # back again: deleted span then re-put in one batch
        ("copy_", ((b"a",), (b"b-c",))),
        ("write_at", ((b"b-c", b"f"), 10, b"changed")),
        ("symlink", ((b"a", b"l"), b"f")),
        ("set_xattr", ((b"a", b"f"), b"user.k", b"v")),
        ("remove", ((b"a",), True)),
        ("mkdir", ((b"a", b"x", b"y"), 0o700, True, False)),
    ]
    root = r0
    model = Model()
    for op, args in ops:
        assert getattr(model, op)(*args) is None
        root = run_fs(fs, root, op, args, 0)
    check_reads(fs, root, model)
    with fs.edit(r0) as tx:
        for op, args in ops[:4]:
            run_tx(tx, op, args)
        # the transaction reads its own uncommitted writes
        assert tx.read("a/f", 99_990, 20) == rand_bytes(1, 100_000)[99_990:] + bytes(10)
        for op, args in ops[4:]:
            run_tx(tx, op, args)
    assert tx.root == root
    assert fs.stat(r0, "") == Info.dir(0o755) and fs.listdir(r0) == []


def test_failed_operation_leaves_root_usable():
    fs = make_fs()
    r = fs.write_file(fs.new(), "f", b"data")
    for call in (lambda: fs.mkdir(r, "f/x"), lambda: fs.remove(r, ""), lambda: fs.rename(r, "f", "nope/g"),
                 lambda: fs.write_at(r, "", 0, b"x"), lambda: fs.copy(r, "f", "f")):
        with pytest.raises((NotADirectory, InvalidPath, PathNotFound, IsADirectory)):
            call()
    assert fs.read(r, "f") == b"data"
    assert [p for p, _ in fs.walk(r)] == ["", "f"]


def test_overwrite_keeps_xattrs_and_takes_the_new_mode():
    fs = make_fs()
    r = fs.write_file(fs.new(), "f", b"old", mode=0o600)
    r = fs.set_xattr(r, "f", b"user.tag", b"kept")
    r2 = fs.write_file(r, "f", b"new contents", mode=0o640)
    assert fs.stat(r2, "f") == Info.file(0o640, 12, xattrs=((b"user.tag", b"kept"),))
    assert fs.read(r2, "f") == b"new contents" and fs.read(r, "f") == b"old"


def test_transaction_reads_respect_its_own_deletes():
    fs = make_fs()
    r = fs.write_file(fs.mkdir(fs.new(), "a"), "a/f", b"base")
    with fs.edit(r) as tx:
        tx.remove("a", recursive=True)
        assert tx.info((b"a",)) is None and tx.info((b"a", b"f")) is None
        with pytest.raises(PathNotFound):
            tx.read("a/f")
        with pytest.raises(PathNotFound):
            tx.write_file("a/g", b"no parent")
        tx.mkdir("a")  # no AlreadyExists: the old "a" is gone in this transaction
        assert [n for n, _ in dirs.listdir(tx, (b"a",))] == []
        tx.write_file("a/g", b"new")
    assert [p for p, _ in fs.walk(tx.root)] == ["", "a", "a/g"]
    assert tx.root == fs.write_file(fs.mkdir(fs.new(), "a"), "a/g", b"new")


tree_specs = st.dictionaries(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(tuple),
    st.one_of(st.none(), st.tuples(st.integers(0, 3), st.integers(0, 30_000))), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(tree_specs, st.randoms(use_true_random=False))
def test_same_tree_same_root_whatever_the_order(spec, rnd):
    """A tree built op by op in one order, and in one transaction in another order, has one root."""
    # normalise: parents of anything are directories (None), leaves with data are files
    nodes = {}
    for p, v in spec.items():
        for i in range(1, len(p)):
            nodes[p[:i]] = None
    for p, v in spec.items():
        if p not in nodes:
            nodes[p] = v
    fs = make_fs()

    def build(order, one_tx):
        def do(tx_or_none, r, p):
            v = nodes[p]
            if tx_or_none is not None:
                if v is None:
                    tx_or_none.mkdir(b"/".join(p), parents=True, exist_ok=True)
                else:
                    tx_or_none.mkdir(b"/".join(p[:-1]), parents=True, exist_ok=True)
                    tx_or_none.write_file(b"/".join(p), content(*v))
                return r
            if v is None:
                return fs.mkdir(r, b"/".join(p), parents=True, exist_ok=True)
            r = fs.mkdir(r, b"/".join(p[:-1]), parents=True, exist_ok=True)
            return fs.write_file(r, b"/".join(p), content(*v))
        r = fs.new()
        if one_tx:
            with fs.edit(r) as tx:
                for p in order:
                    do(tx, None, p)
            return tx.root
        for p in order:
            r = do(None, r, p)
        return r

    order = sorted(nodes)
    shuffled = list(order)
    rnd.shuffle(shuffled)
    a = build(order, one_tx=False)
    b = build(shuffled, one_tx=True)
    c = build(list(reversed(order)), one_tx=False)
    assert a == b == c
