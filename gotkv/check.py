"""check_tree: every structural invariant of a tree, for the tests and for `got fsck`.

Checked: each node verifies and decodes; levels step down by one; keys strictly increase
within a node and across the whole tree; an index entry's key is its child's first key; no
node is empty except the root of an empty tree; every node but the last one of each level
ends at a content-defined cut and no node runs past a cut (so the tree is the one a fresh build
of its entries would give). With `rebuild=True` that last claim is proved outright by
rebuilding from the entries and comparing roots.
"""

from __future__ import annotations

from gotkv.blobs.ref import Ref
from gotkv.boundary import Boundary, entry_size
from gotkv.errors import CorruptNode
from gotkv.node import Node
from gotkv.nodestore import NodeStore
from gotkv.root import Root


def check_tree(nodes: NodeStore, boundary: Boundary, root: Root) -> int:
    """Raise CorruptNode on the first broken invariant; return the number of entries."""
    top = nodes.load(root.ref)
    if top.level != root.depth:
        raise CorruptNode(f"root {root.ref.short()}", f"level {top.level}, root says {root.depth}")
    if top.level and len(top.keys) < 2:
        raise CorruptNode(f"root {root.ref.short()}", "an index root must have two or more children")
    state = {"last": None, "count": 0}
    _check(nodes, boundary, root.ref, top, True, state)
    return state["count"]


def _check_cuts(boundary: Boundary, where: str, node: Node, rightmost: bool) -> None:
    size = 0
    last = len(node.keys) - 1
    for i, (k, v) in enumerate(zip(node.keys, node.values)):
        es = entry_size(k, v)
        size += es
        cut = boundary.is_cut(node.level, k, es, size, i + 1)
        if cut and i < last:
            raise CorruptNode(where, f"entry {i} should have ended the node")
        if i == last and not rightmost and not cut:
            raise CorruptNode(where, "node ends where no boundary falls")


def _check(nodes: NodeStore, boundary: Boundary, ref: Ref, node: Node, rightmost: bool, state: dict) -> None:
    where = f"node {ref.short()}"
    keys = node.keys
    if not keys and not (rightmost and state["count"] == 0 and state["last"] is None):
        raise CorruptNode(where, "empty node inside a tree")
    for a, b in zip(keys, keys[1:]):
        if not a < b:
            raise CorruptNode(where, "keys out of order")
    _check_cuts(boundary, where, node, rightmost)
    if node.level == 0:
        if keys and state["last"] is not None and keys[0] <= state["last"]:
            raise CorruptNode(where, "keys out of order across nodes")
        if keys:
            state["last"] = keys[-1]
        state["count"] += len(keys)
        return
    last = len(keys) - 1
    for i, (k, v) in enumerate(zip(keys, node.values)):
        child_ref = Ref.from_bytes(v)
        child = nodes.load(child_ref)
        if child.level != node.level - 1:
            raise CorruptNode(where, f"child {i} has level {child.level}, expected {node.level - 1}")
        if not child.keys or child.keys[0] != k:
            raise CorruptNode(where, f"index key {i} is not its child's first key")
        _check(nodes, boundary, child_ref, child, rightmost and i == last, state)
