"""Boundary: the content-defined rule that decides where one node ends.

After each entry is added to a node at some level, cut the node there when

    node_size >= max_node_size          (a hard cap), or
    H_level(key) < entry_size * 2**64 / target_node_size

where H_level is BLAKE3 keyed by a per-level key derived from the repo salt, read as a 64-bit
integer. The second test fires with probability entry_size / target, so nodes average about
`target_node_size` bytes whatever the entry sizes. It looks only at the entry's own key and size
and at the size of the node so far, which restarts at every cut: so the same entries always cut
at the same places, whatever edits led to them (history independence), and after an edit the
cuts fall back into step with the old tree at the first common cut.

An index node (level >= 1) is never cut before its second entry: otherwise keys as large as
the node cap would give every level as many nodes as the one below, and the tree would never
reach a single root. This too depends only on the node's own entries, so it keeps both claims.

The hash covers the key only, so rewriting a value of the same size never moves a boundary.
"""

from __future__ import annotations

import blake3

from gotkv.params import Params

ENTRY_OVERHEAD = 6  # the u16 key length and u32 value length each entry costs in a node


def entry_size(key: bytes, value: bytes) -> int:
    """Bytes an entry adds to an encoded node (before compression)."""
    return len(key) + len(value) + ENTRY_OVERHEAD


class Boundary:
    """Decides cuts for every level of one tree shape (Params)."""

    def __init__(self, params: Params):
        self.params = params
        self._scale = (1 << 64) // params.target_node_size
        self._keys: list[bytes] = []

    def level_key(self, level: int) -> bytes:
        """The 32-byte hash key for one level, derived once from the salt."""
        while len(self._keys) <= level:
            n = len(self._keys)
            self._keys.append(blake3.blake3(b"gotkv boundary level %d" % n, key=self.params.salt).digest())
        return self._keys[level]

    def hash_threshold(self, level: int) -> tuple[bytes, int]:
        """(level key, scale): the hash test of is_cut is H(key) < entry_size * scale, for
        callers that inline it in a loop over many entries (Builder.extend)."""
        return self.level_key(level), self._scale

    def is_cut(self, level: int, key: bytes, size: int, node_size: int, count: int) -> bool:
        """True if a node at `level` ends after its `count`-th entry (`key`, `size` bytes),
        which brought it to `node_size` bytes. Builder.extend inlines this rule for level 0:
        change both together (the history-independence tests compare the two paths)."""
        if level and count < 2:
            return False
        if node_size >= self.params.max_node_size:
            return True
        h = int.from_bytes(blake3.blake3(key, key=self.level_key(level)).digest(8), "little")
        return h < size * self._scale
