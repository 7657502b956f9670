"""Reads: get, and in-order iteration over a span, forwards or backwards.

Each descends from the root with a bisect per node; a warm NodeCache makes them pure Python
list work. Iteration prunes by key range, so a span costs O(depth + entries in it).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from gotkv.keyspan import Span
from gotkv.nodestore import NodeStore
from gotkv.root import Root

_MISSING = object()


def get(nodes: NodeStore, root: Root, key: bytes, default=_MISSING):
    """The value at `key`, or `default` when the key is absent (KV.get turns that into KeyNotFound)."""
    node = nodes.load(root.ref)
    while node.level:
        i = bisect_right(node.keys, key) - 1
        if i < 0:
            return default
        node = nodes.load_child(node.values[i])
    i = bisect_left(node.keys, key)
    if i < len(node.keys) and node.keys[i] == key:
        return node.values[i]
    return default


def iterate(nodes: NodeStore, root: Root, span: Span = Span(), reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """Entries with keys in `span`, in key order (descending if `reverse`)."""
    node = nodes.load(root.ref)
    if reverse:
        return _backward(nodes, node, span.lo, span.hi)
    return _forward(nodes, node, span.lo, span.hi)


def _child_range(keys: list[bytes], lo: bytes | None, hi: bytes | None) -> tuple[int, int]:
    """Indices [i, j) of the children of an index node that may hold keys in [lo, hi)."""
    i = max(bisect_right(keys, lo) - 1, 0) if lo is not None else 0
    j = bisect_left(keys, hi) if hi is not None else len(keys)
    return i, j


def _forward(nodes: NodeStore, node, lo, hi) -> Iterator[tuple[bytes, bytes]]:
    keys, values = node.keys, node.values
    if node.level == 0:
        i = bisect_left(keys, lo) if lo is not None else 0
        j = bisect_left(keys, hi) if hi is not None else len(keys)
        yield from zip(keys[i:j], values[i:j])
        return
    i, j = _child_range(keys, lo, hi)
    for c in range(i, j):
        yield from _forward(nodes, nodes.load_child(values[c]), lo, hi)


def _backward(nodes: NodeStore, node, lo, hi) -> Iterator[tuple[bytes, bytes]]:
    keys, values = node.keys, node.values
    if node.level == 0:
        i = bisect_left(keys, lo) if lo is not None else 0
        j = bisect_left(keys, hi) if hi is not None else len(keys)
        for c in range(j - 1, i - 1, -1):
            yield keys[c], values[c]
        return
    i, j = _child_range(keys, lo, hi)
    for c in range(j - 1, i - 1, -1):
        yield from _backward(nodes, nodes.load_child(values[c]), lo, hi)
