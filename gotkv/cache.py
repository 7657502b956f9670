"""NodeCache: a thread-safe LRU of decoded nodes, bounded in bytes.

Decoding a node costs tens of microseconds and fetching it far more; a warm cache makes a
`get` a few bisects. Nodes are immutable and filed by content id, so entries never go stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from gotkv.node import Node


class NodeCache:
    """LRU keyed by content id; evicts least recently used nodes past `max_bytes`."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes = max_bytes
        self._nodes: OrderedDict[bytes, Node] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, cid: bytes) -> Node | None:
        with self._lock:
            node = self._nodes.get(cid)
            if node is not None:
                self._nodes.move_to_end(cid)
            return node

    def put(self, cid: bytes, node: Node) -> None:
        if node.nbytes > self.max_bytes:
            return
        with self._lock:
            if cid in self._nodes:
                return
            self._nodes[cid] = node
            self._bytes += node.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._nodes.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._nodes.clear()
            self._bytes = 0
