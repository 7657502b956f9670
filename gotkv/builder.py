"""Builder: streams sorted entries into a tree, bottom up, one open node per level.

Each level holds the entries of its open node. After every added entry the Boundary decides
whether the node ends there; a finished node is saved and its (first key, ref) is added one
level up, which may finish that node too. `finish` closes the open nodes from the bottom and
returns the Root. Memory is O(depth x node size) whatever the number of entries.

`add_subtree` lets mutate splice in an untouched old node whole, without reading it. That is
only sound when the builder is *aligned* at that level — no open entries at or below it — and
the node was closed by a cut (not the old tree's rightmost node): then the entries it holds
would have been cut into exactly that node anyway, so the result is the same tree a from-
scratch build gives (history independence).
"""

from __future__ import annotations

from typing import Iterable

import blake3

from gotkv.blobs.ref import Ref
from gotkv.boundary import ENTRY_OVERHEAD, Boundary
from gotkv.keyspan import check_key, check_value
from gotkv.errors import InvalidInput
from gotkv.node import NODE_HEADER_SIZE, Node
from gotkv.nodestore import NodeStore
from gotkv.params import MAX_KEY_SIZE, MAX_VALUE_SIZE
from gotkv.root import Root


class _Open:
    """The open node of one level."""

    __slots__ = ("keys", "values", "size")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.values: list[bytes] = []
        self.size = 0


class Builder:
    """Builds one tree from entries given in strictly increasing key order."""

    def __init__(self, nodes: NodeStore, boundary: Boundary):
        self.nodes = nodes
        self.boundary = boundary
        self._levels: list[_Open] = [_Open()]
        self._last: bytes | None = None

    def add(self, key: bytes, value: bytes) -> None:
        """Append a leaf entry. Keys must strictly increase (InvalidInput otherwise)."""
        if self._last is not None and key <= self._last:
            raise InvalidInput(f"entries out of order: {key!r:.80} after {self._last!r:.80}")
        self._last = key
        self._add(0, key, value)

    def extend(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """add() for each entry, checking keys and values as KV.put does (InvalidKey,
        InvalidValue, InvalidInput): the same cuts, with the leaf level's boundary test
        inlined, since building is a per-entry Python loop and calls were half its time."""
        cap = self.boundary.params.max_node_size
        level_key, scale = self.boundary.hash_threshold(0)
        hasher = blake3.blake3
        from_bytes = int.from_bytes
        last = self._last
        lv = self._levels[0]
        try:
            for key, value in entries:
                if type(key) is not bytes or len(key) > MAX_KEY_SIZE:
                    key = check_key(key)
                if type(value) is not bytes or len(value) > MAX_VALUE_SIZE:
                    value = check_value(value)
                if last is not None and key <= last:
                    raise InvalidInput(f"entries out of order: {key!r:.80} after {last!r:.80}")
                last = key
                lv.keys.append(key)
                lv.values.append(value)
                size = len(key) + len(value) + ENTRY_OVERHEAD
                lv.size += size
                if (lv.size >= cap
                        or from_bytes(hasher(key, key=level_key).digest(8), "little") < size * scale):
                    self._cut(0)
                    lv = self._levels[0]
        finally:
            self._last = last

    def aligned(self, level: int) -> bool:
        """True if no entries are open at `level` or below, so a level-`level` node may be spliced."""
        return all(not lv.keys for lv in self._levels[:level + 1])

    def add_known(self, keys: list[bytes], values: list[bytes]) -> None:
        """Append sorted leaf entries already known to fail the boundary's hash test.

        Mutate re-feeds the untouched entries of a leaf it rewrites. Any entry that was not
        the last of its old node failed the hash test there, and that test depends only on
        the entry itself, so only the size cap can still cut: the run is appended in bulk
        when it fits, entry by entry (cap checks only) when it does not. Faster than add()
        per entry (it skips the hash), and the tree is identical.
        """
        if not keys:
            return
        if self._last is not None and keys[0] <= self._last:
            raise InvalidInput(f"entries out of order: {keys[0]!r:.80} after {self._last!r:.80}")
        self._last = keys[-1]
        lv = self._levels[0]
        total = sum(map(len, keys)) + sum(map(len, values)) + ENTRY_OVERHEAD * len(keys)
        if lv.size + total < self.boundary.params.max_node_size:
            lv.keys.extend(keys)
            lv.values.extend(values)
            lv.size += total
            return
        cap = self.boundary.params.max_node_size
        for k, v in zip(keys, values):
            lv = self._levels[0]
            lv.keys.append(k)
            lv.values.append(v)
            lv.size += len(k) + len(v) + ENTRY_OVERHEAD
            if lv.size >= cap:
                self._cut(0)

    def add_subtree(self, level: int, first_key: bytes, ref_bytes: bytes, *, known: bool = False) -> None:
        """Splice a closed node of `level` whole. The caller guarantees alignment and order.

        known=True says its entry was neither first nor last in its old parent, so it failed
        the parent level's hash test there (see add_known) and only the cap is checked.
        """
        self._last = first_key
        self._add(level + 1, first_key, ref_bytes, known)

    def _add(self, level: int, key: bytes, value: bytes, known: bool = False) -> None:
        levels = self._levels
        while level >= len(levels):
            levels.append(_Open())
        lv = levels[level]
        lv.keys.append(key)
        lv.values.append(value)
        size = len(key) + len(value) + ENTRY_OVERHEAD
        lv.size += size
        if known:
            if lv.size >= self.boundary.params.max_node_size and (level == 0 or len(lv.keys) >= 2):
                self._cut(level)
        elif self.boundary.is_cut(level, key, size, lv.size, len(lv.keys)):
            self._cut(level)

    def _cut(self, level: int) -> None:
        lv = self._levels[level]
        ref = self.nodes.save(Node(level, lv.keys, lv.values, NODE_HEADER_SIZE + lv.size))
        first = lv.keys[0]
        self._levels[level] = _Open()
        self._add(level + 1, first, ref.to_bytes())

    def finish(self) -> Root:
        """Close every open node and return the root. The builder is spent afterwards."""
        level = 0
        while True:
            lv = self._levels[level]
            top = level == len(self._levels) - 1
            if not top:
                if lv.keys:
                    self._cut(level)
                level += 1
                continue
            if level > 0 and len(lv.keys) == 1:
                return self._collapse(Ref.from_bytes(lv.values[0]), level - 1)
            return Root(self.nodes.save(Node(level, lv.keys, lv.values)), level)

    def _collapse(self, ref: Ref, depth: int) -> Root:
        """The root under a chain of one-child index nodes, as a fresh build would make it.

        A spliced subtree may be an old rightmost index node that ended for lack of entries
        with a single child (when a delete leaves only the tree's last few keys): it cannot
        be the root, whose index nodes have two or more children. Reads one node per level
        collapsed, and only when the tree shrank that far.
        """
        while depth > 0:
            node = self.nodes.load(ref)
            if len(node.keys) != 1:
                break
            ref, depth = Ref.from_bytes(node.values[0]), depth - 1
        return Root(ref, depth)
