"""mutate: apply a Batch to a tree, rewriting only what the batch touches.

The walk goes down the old tree in key order, feeding a Builder. At each child it chooses:

- drop it unread, if one span of the batch deletes its whole key range;
- splice it whole, unread, if no edit lands in its range and the builder is aligned at its
  level. (A node on the old tree's rightmost path may end for lack of entries rather than at
  a cut; but its range runs to the end of the key space, so any edit after it touches it, and
  with none it stays the last node, as a fresh build would leave it.)
- otherwise descend (and at a leaf, merge its entries with the batch's edits).

After the last edit in a region the builder is briefly out of step with the old boundaries;
entries stream through it until it cuts where the old tree cut, and from there on whole nodes
are spliced again. So the nodes read and written are those on the paths to the edits plus a
short resynchronisation run: O(changes x depth), never O(size).
"""

from __future__ import annotations

from bisect import bisect_left

from gotkv.builder import Builder
from gotkv.edit import Batch, merge_edits
from gotkv.node import Node
from gotkv.nodestore import NodeStore
from gotkv.root import Root


def mutate(nodes: NodeStore, builder: Builder, root: Root, batch: Batch) -> Root:
    """Return the root of `root` with `batch` applied. `root` itself is untouched."""
    if not len(batch):
        return root
    node = nodes.load(root.ref)
    if node.level == 0 and not node.keys:  # into an empty tree (a tree built by one batch):
        builder.extend((k, v) for k, v in batch.points.items() if v is not None)  # spans delete nothing
        return builder.finish()
    _walk(nodes, builder, batch, node, None, None)
    return builder.finish()


def _walk(nodes: NodeStore, b: Builder, batch: Batch, node: Node, lo: bytes | None, hi: bytes | None) -> None:
    if node.level == 0:
        _merge_leaf(b, batch, node, lo, hi)
        return
    if not batch.has_spans():
        _walk_points(nodes, b, batch, node, lo, hi)
        return
    keys, values = node.keys, node.values
    last = len(keys) - 1
    child_level = node.level - 1
    for i, first in enumerate(keys):
        c_lo = lo if i == 0 else first
        c_hi = hi if i == last else keys[i + 1]
        if batch.covers(first, c_hi) and not batch.has_points(c_lo, first):
            continue  # a span deletes the whole child and no put lands in it
        if b.aligned(child_level) and not batch.touches(c_lo, c_hi):
            b.add_subtree(child_level, first, values[i], known=0 < i < last)
            continue
        _walk(nodes, b, batch, nodes.load_child(values[i]), c_lo, c_hi)


def _walk_points(nodes: NodeStore, b: Builder, batch: Batch, node: Node, lo: bytes | None,
                 hi: bytes | None) -> None:
    """_walk's loop for a batch of point edits only (the usual one): the edited keys under
    this node are taken once, in order, and matched to its children by one forward scan,
    instead of a search of the batch per child (an index node has ~100 children and a
    random batch edits a few of them)."""
    keys, values = node.keys, node.values
    last = len(keys) - 1
    child_level = node.level - 1
    edited = batch.point_keys_in(lo, hi)
    p, n = 0, len(edited)
    aligned = b.aligned(child_level)  # a splice adds above child_level: only a descent changes it
    for i, first in enumerate(keys):
        c_hi = hi if i == last else keys[i + 1]
        touched = p < n and (c_hi is None or edited[p] < c_hi)
        if not touched and aligned:
            b.add_subtree(child_level, first, values[i], known=0 < i < last)
            continue
        _walk(nodes, b, batch, nodes.load_child(values[i]), lo if i == 0 else first, c_hi)
        aligned = b.aligned(child_level)
        while p < n and (c_hi is None or edited[p] < c_hi):
            p += 1


def _merge_leaf(b: Builder, batch: Batch, node: Node, lo: bytes | None, hi: bytes | None) -> None:
    """Feed the builder this leaf's entries merged with the batch's edits in [lo, hi).

    Untouched entries other than the leaf's last go in bulk through add_known (they cannot
    pass the hash test); edited entries and the old last entry get the full boundary test.
    Without spans (the usual batch) the edits are bisected in (_merge_points); with spans,
    entries are merged one by one.
    """
    keys, values = node.keys, node.values
    points = batch.points_in(lo, hi)
    spans = batch.spans_in(lo, hi)
    if not spans or not keys:  # (an empty leaf has nothing for a span to delete)
        _merge_points(b, points, keys, values)
        return
    edited = {k for k, _ in points}
    last = keys[-1]
    run_k: list[bytes] = []
    run_v: list[bytes] = []
    for k, v in merge_edits(zip(keys, values), points, spans):
        if k not in edited and k != last:
            run_k.append(k)
            run_v.append(v)
            continue
        if run_k:
            b.add_known(run_k, run_v)
            run_k, run_v = [], []
        b.add(k, v)
    b.add_known(run_k, run_v)


def _merge_points(b: Builder, points: list[tuple[bytes, bytes | None]], keys: list[bytes],
                  values: list[bytes]) -> None:
    """_merge_leaf without spans: each edit is bisected into the leaf, and the untouched runs
    between edits go to the builder as list slices, so the cost is per edit, not per entry
    (a leaf holds ~100 entries and a random batch edits one or two of them)."""
    i = 0  # the first entry not fed yet
    for k, v in points:
        j = bisect_left(keys, k, i)
        _feed_untouched(b, keys, values, i, j)
        i = j + 1 if j < len(keys) and keys[j] == k else j  # a put replaces, a delete drops
        if v is not None:
            b.add(k, v)
    _feed_untouched(b, keys, values, i, len(keys))


def _feed_untouched(b: Builder, keys: list[bytes], values: list[bytes], i: int, j: int) -> None:
    """Feed old entries [i, j) of a leaf: in bulk, except the leaf's last entry, which ended
    its old node at a cut or for lack of entries and so takes the full boundary test."""
    if j < len(keys):
        b.add_known(keys[i:j], values[i:j])
    elif i < j:
        b.add_known(keys[i:j - 1], values[i:j - 1])
        b.add(keys[-1], values[-1])
