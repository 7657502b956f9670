"""sync and reachable: walking the blobs a tree depends on.

Trees refer to two kinds of blobs: their own nodes, and whatever the caller's values point at
(gotfs extents point at data blobs). A `value_refs(key, value)` callback names the latter; the
walks here know nothing about what values mean.

sync copies children before their parent, so a store that holds a node always holds its whole
subtree: finding a node in the destination lets the walk skip that subtree unread, and an
interrupted sync never leaves a node whose children are missing.
"""

from __future__ import annotations

from typing import Callable, Iterable

from gotkv.blobs.codec import content_id
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.errors import IntegrityError
from gotkv.nodestore import NodeStore
from gotkv.root import Root

ValueRefs = Callable[[bytes, bytes], Iterable[Ref]]


def _no_refs(key: bytes, value: bytes) -> Iterable[Ref]:
    return ()


def copy_blob(src: Store, dst: Store, cid: bytes) -> None:
    """Copy one stored blob, verifying its hash on the way."""
    data = src.get(cid)
    if content_id(data) != cid:
        raise IntegrityError(f"blob {cid.hex()[:12]}", "content hash does not match its id")
    dst.post(data, cid)


def sync(nodes: NodeStore, root: Root, dst: Store, value_refs: ValueRefs = _no_refs) -> int:
    """Copy into `dst` every blob of `root` it lacks; return how many were copied."""
    src = nodes.store
    copied = 0

    def visit(ref: Ref) -> None:
        nonlocal copied
        node = nodes.load(ref)
        if node.level:
            children = [Ref.from_bytes(v) for v in node.values]
            have = dst.exists(r.cid for r in children)
            for child in children:
                if child.cid not in have:
                    visit(child)
        else:
            data = {r.cid for k, v in zip(node.keys, node.values) for r in value_refs(k, v)}
            have = dst.exists(data)
            for cid in data - have:
                copy_blob(src, dst, cid)
                copied += 1
        copy_blob(src, dst, ref.cid)
        copied += 1

    if not dst.exists([root.ref.cid]):
        visit(root.ref)
    dst.flush()
    return copied


def reachable(nodes: NodeStore, roots: Iterable[Root], value_refs: ValueRefs = _no_refs) -> set[bytes]:
    """Content ids of every node and value-referenced blob reachable from `roots`."""
    seen: set[bytes] = set()
    for root in roots:
        stack = [root.ref]
        while stack:
            ref = stack.pop()
            if ref.cid in seen:
                continue
            seen.add(ref.cid)
            node = nodes.load(ref)
            if node.level:
                stack.extend(Ref.from_bytes(v) for v in node.values)
            else:
                for k, v in zip(node.keys, node.values):
                    seen.update(r.cid for r in value_refs(k, v))
    return seen
