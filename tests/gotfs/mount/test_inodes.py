"""InodeTable: paths by inode number against a model, and what a kept path costs.

The table keeps each path it walked (a writable mount asks for the same few paths at every
request) and must drop them whenever a name changes: after a directory's rename every path
below it is different, after a detach the inode has none.
"""

from __future__ import annotations

import random

import pytest

from gotfs.mount import inodes
from gotfs.mount.inodes import ROOT_INODE, InodeTable, StaleInode

NAMES = [b"a", b"b", b"c"]


def _model_paths(table: InodeTable, model: dict[int, tuple]) -> None:
    for ino, path in model.items():
        assert table.path(ino) == path, ino


@pytest.mark.parametrize("seed", range(8))
def test_paths_follow_renames_and_detaches(seed):
    """Random numbering, renames (of directories with numbered children too) and detaches;
    every numbered inode's path is asked for after each step, so kept paths are used."""
    rng = random.Random(seed)
    table = InodeTable()
    model: dict[int, tuple] = {ROOT_INODE: ()}  # inode -> path, for inodes with one
    for _ in range(400):
        op = rng.choice(["child", "child", "rename", "detach", "forget"])
        parent = rng.choice(sorted(model))
        name = rng.choice(NAMES)
        if op == "child":
            ino = table.child(parent, name)
            table.ref(ino)
            model[ino] = model[parent] + (name,)
        elif op == "rename":
            src = rng.choice(sorted(i for i in model if i != ROOT_INODE) or [None])
            if src is None:
                continue
            dst = model[parent] + (name,)
            if dst[:len(model[src])] == model[src] or any(len(p) > len(dst) and p[:len(dst)] == dst
                                                          for p in model.values()):
                continue  # into itself, or over a directory that is not empty: refused by the kernel
            target = table.find(parent, name)
            old = model[src]
            table.rename(table.parent(src), old[-1], parent, name)
            if target is not None and target != src:
                model = {i: p for i, p in model.items() if p[:len(dst)] != dst}
            model = {i: (dst + p[len(old):] if p[:len(old)] == old else p) for i, p in model.items()}
        elif op == "detach":
            ino = table.find(parent, name)
            if ino is None:
                continue
            gone = model[ino]
            table.detach(parent, name)
            for i in [i for i, p in model.items() if p[:len(gone)] == gone]:
                del model[i]
                with pytest.raises(StaleInode):
                    table.path(i)
        elif op == "forget":
            ino = table.find(parent, name)
            if ino is not None:
                table.forget(ino, 1)
                # (still numbered while it has a path: forgetting keeps it, idle)
        _model_paths(table, model)


def test_a_directory_renamed_moves_the_kept_paths_below_it():
    table = InodeTable()
    d = table.child(ROOT_INODE, b"d")
    sub = table.child(d, b"sub")
    f = table.child(sub, b"f")
    assert table.path(f) == (b"d", b"sub", b"f")  # kept now
    table.rename(ROOT_INODE, b"d", ROOT_INODE, b"e")
    assert table.path(f) == (b"e", b"sub", b"f")
    assert table.path(sub) == (b"e", b"sub")
    table.detach(ROOT_INODE, b"e")
    with pytest.raises(StaleInode):
        table.path(f)


def test_a_kept_path_is_not_walked_again(monkeypatch):
    table = InodeTable()
    ino = ROOT_INODE
    for name in (b"a", b"b", b"c", b"d"):
        ino = table.child(ino, name)
    walks = []
    walk = table._walk
    monkeypatch.setattr(table, "_walk", lambda i: walks.append(i) or walk(i))
    for _ in range(5):
        assert table.path(ino) == (b"a", b"b", b"c", b"d")
    assert walks == [ino]


def test_kept_paths_are_bounded(monkeypatch):
    monkeypatch.setattr(inodes, "PATHS_KEPT", 4)
    table = InodeTable()
    kids = [table.child(ROOT_INODE, b"f%d" % i) for i in range(10)]
    for i, ino in enumerate(kids):
        assert table.path(ino) == (b"f%d" % i,)
        assert len(table._paths) <= 4


def test_an_evicted_inode_has_no_kept_path():
    table = InodeTable(max_idle=1)
    a = table.child(ROOT_INODE, b"a")  # never handed to the kernel: idle
    assert table.path(a) == (b"a",)
    table.child(ROOT_INODE, b"b")  # a second idle inode: the oldest, a, is evicted
    assert table.find(ROOT_INODE, b"a") is None
    with pytest.raises(StaleInode):
        table.path(a)
