"""NodeStore: nodes in and out of a blob store, through the codec and the node cache.

It also counts what it does (nodes loaded, fetched from the store, saved), which is how the
tests and benchmarks prove that mutate and diff cost O(changes x depth) and not O(size).
"""

from __future__ import annotations


from gotkv.blobs.codec import Codec
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.cache import LRU
from gotkv.node import Node, decode, encode


class NodeStore:
    """Loads and saves nodes; every load is verified by the codec before it is decoded."""

    def __init__(self, store: Store, codec: Codec, cache: LRU):
        self.store = store
        self.codec = codec
        self.cache = cache
        # (cid, node, cache, its generation) of the last load(): void once that cache is cleared
        self._last: tuple | None = None
        self.loads = 0
        self.fetches = 0
        self.saves = 0

    def load(self, ref: Ref) -> Node:
        """The node at `ref`. Raises BlobNotFound, IntegrityError or CorruptNode.

        The last node loaded this way is kept at hand: reads start here, at their root, and
        a run of reads of one tree starts at the same one. Clearing the cache voids it, so a
        cleared cache still means cold reads."""
        self.loads += 1
        last, cache = self._last, self.cache
        if last is not None and last[0] == ref.cid and last[2] is cache and last[3] == cache.generation:
            return last[1]
        node = self.cache.get(ref.cid)
        if node is None:
            self.fetches += 1
            plain = self.codec.decode(ref, self.store.get(ref.cid))
            node = decode(plain, f"node {ref.short()}")
            self.cache.put(ref.cid, node)
        self._last = (ref.cid, node, cache, cache.generation)
        return node

    def load_child(self, ref_bytes: bytes) -> Node:
        """load() for a ref in an index node's value, skipping Ref construction on a cache hit."""
        node = self.cache.get(ref_bytes[:32])
        if node is not None:
            self.loads += 1
            return node
        return self.load(Ref.from_bytes(ref_bytes))

    def save(self, node: Node) -> Ref:
        """Encode, seal and post a node; return its ref."""
        ref, stored = self.codec.encode(encode(node))
        self.store.post(stored, ref.cid)
        self.saves += 1
        self.cache.put(ref.cid, node)
        return ref

    def counters(self) -> dict[str, int]:
        return {"loads": self.loads, "fetches": self.fetches, "saves": self.saves}

    def reset_counters(self) -> None:
        self.loads = self.fetches = self.saves = 0
