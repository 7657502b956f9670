"""LRU: a thread-safe least-recently-used map bounded in bytes.

Used for decoded nodes (a warm cache makes a `get` a few bisects) and, in gotfs, for decoded
data chunks. Everything cached is immutable and filed by content id, so entries never go stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """Evicts least recently used values once their summed `sizeof` passes `max_bytes`."""

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int] = len):
        self.max_bytes = max_bytes
        self.sizeof = sizeof
        self._items: OrderedDict[bytes, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.generation = 0  # counts clear()s: lets holders of cached values tell a cleared cache

    def get(self, key: bytes) -> V | None:
        # No lock: a warm get is the hot path of every tree read, and each OrderedDict call
        # is atomic under the GIL. A put evicting `key` between the two calls makes
        # move_to_end raise; the value read is still good (entries never go stale).
        items = self._items
        value = items.get(key)
        if value is not None:
            try:
                items.move_to_end(key)
            except KeyError:
                pass
        return value

    def put(self, key: bytes, value: V) -> None:
        size = self.sizeof(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= self.sizeof(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.generation += 1

    def __len__(self) -> int:
        return len(self._items)


def NodeCache(max_bytes: int = 64 << 20) -> LRU:
    """An LRU of decoded gotkv nodes, sized by their encoded bytes."""
    return LRU(max_bytes, lambda node: node.nbytes)
