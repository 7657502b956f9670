"""diff: the entries that differ between two trees, skipping every subtree they share.

Both trees are walked as streams of items in key order, where an item is either a whole
subtree (level, first key, ref) or one entry. At each step, looking at the two heads:

- two subtrees with the same ref hold the same entries at the same place: skip both unread;
- two entries: compare them like a merge, and report what differs;
- an entry whose key is below the other head's first key cannot be on the other side;
- otherwise open the subtree with the smaller first key (on a tie, the higher level; on a tie
  of both, both), pushing its children back onto its stream.

Because equal content has equal refs (history independence), the streams fall back into step
right after each change, so the nodes read are those on the paths to the changes (both sides)
plus a short run while the boundaries resynchronise: O(changes x depth), not O(size).
"""

from __future__ import annotations

from typing import Iterator

from gotkv.nodestore import NodeStore
from gotkv.root import Root
from gotkv.value import Value

_ENTRY = -1


class Change(Value):
    """One differing key: `old` is None if added, `new` is None if removed."""

    __slots__ = ("key", "old", "new")
    key: bytes
    old: bytes | None
    new: bytes | None

    def __init__(self, key: bytes, old: bytes | None, new: bytes | None) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "old", old)
        object.__setattr__(self, "new", new)


def diff(nodes: NodeStore, a: Root, b: Root) -> Iterator[Change]:
    """Changes that turn tree `a` into tree `b`, in key order."""
    if a.ref == b.ref:
        return
    sa = _open_root(nodes, a)
    sb = _open_root(nodes, b)
    while sa and sb:
        la, ka, va = sa[-1]
        lb, kb, vb = sb[-1]
        if la == _ENTRY and lb == _ENTRY:
            if ka == kb:
                sa.pop()
                sb.pop()
                if va != vb:
                    yield Change(ka, va, vb)
            elif ka < kb:
                sa.pop()
                yield Change(ka, va, None)
            else:
                sb.pop()
                yield Change(kb, None, vb)
        elif la != _ENTRY and lb != _ENTRY and va == vb:
            sa.pop()
            sb.pop()
        elif la == _ENTRY:  # b's head is a subtree
            if ka < kb:
                sa.pop()
                yield Change(ka, va, None)
            else:
                _expand(nodes, sb)
        elif lb == _ENTRY:  # a's head is a subtree
            if kb < ka:
                sb.pop()
                yield Change(kb, None, vb)
            else:
                _expand(nodes, sa)
        elif ka < kb or (ka == kb and la > lb):
            _expand(nodes, sa)
        elif kb < ka or lb > la:
            _expand(nodes, sb)
        else:
            _expand(nodes, sa)
            _expand(nodes, sb)
    for k, v in _drain(nodes, sa):
        yield Change(k, v, None)
    for k, v in _drain(nodes, sb):
        yield Change(k, None, v)


def _open_root(nodes: NodeStore, root: Root) -> list:
    stack = [(root.depth, b"", root.ref.to_bytes())]
    _expand(nodes, stack)
    return stack


def _expand(nodes: NodeStore, stack: list) -> None:
    """Replace the subtree at the top of `stack` by its children (or entries), in order."""
    level, _, ref_bytes = stack.pop()
    node = nodes.load_child(ref_bytes)
    tag = _ENTRY if level == 0 else level - 1
    stack.extend((tag, k, v) for k, v in zip(reversed(node.keys), reversed(node.values)))


def _drain(nodes: NodeStore, stack: list) -> Iterator[tuple[bytes, bytes]]:
    while stack:
        if stack[-1][0] == _ENTRY:
            _, k, v = stack.pop()
            yield k, v
        else:
            _expand(nodes, stack)
