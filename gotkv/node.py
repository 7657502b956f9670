"""Node: one gotkv tree node and its byte format.

A leaf (level 0) holds entries (key -> value); an index node (level >= 1) holds
(first key of child -> child ref bytes). The format is built for decoding speed in Python —
a struct header, two length arrays read with array.frombytes, then one slice per key and
value — and leaves key redundancy to zstd:

    u8 version | u8 level | u32 count
    count x u16  key lengths        (little endian)
    count x u32  value lengths
    keys, concatenated
    values, concatenated

Decoding checks that the lengths account for every byte; check_tree checks ordering.
"""

from __future__ import annotations

import sys
from array import array
from itertools import accumulate
from struct import Struct

from gotkv.boundary import ENTRY_OVERHEAD
from gotkv.errors import CorruptNode

VERSION = 1
_HEADER = Struct("<BBI")
NODE_HEADER_SIZE = _HEADER.size
_BIG_ENDIAN = sys.byteorder == "big"


class Node:
    """A decoded node: parallel lists of keys and values, sorted by key."""

    __slots__ = ("level", "keys", "values", "nbytes")

    def __init__(self, level: int, keys: list[bytes], values: list[bytes], nbytes: int = 0):
        self.level = level
        self.keys = keys
        self.values = values
        self.nbytes = nbytes or (_HEADER.size + sum(map(len, keys)) + sum(map(len, values))
                                 + ENTRY_OVERHEAD * len(keys))

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"Node(level={self.level}, entries={len(self.keys)}, bytes={self.nbytes})"


def encode(node: Node) -> bytes:
    """Canonical bytes of a node: equal nodes always encode equally."""
    n = len(node.keys)
    klens = array("H", map(len, node.keys))
    vlens = array("I", map(len, node.values))
    if _BIG_ENDIAN:
        klens.byteswap()
        vlens.byteswap()
    return b"".join((_HEADER.pack(VERSION, node.level, n), klens.tobytes(), vlens.tobytes(),
                     *node.keys, *node.values))


def decode(data: bytes, where: str = "node") -> Node:
    """Parse node bytes. Raises CorruptNode if the layout does not add up."""
    if len(data) < _HEADER.size:
        raise CorruptNode(where, "shorter than a node header")
    version, level, n = _HEADER.unpack_from(data)
    if version != VERSION:
        raise CorruptNode(where, f"unknown node version {version}")
    o = _HEADER.size
    if len(data) < o + 6 * n:
        raise CorruptNode(where, "length arrays run past the end")
    klens = array("H")
    klens.frombytes(data[o:o + 2 * n])
    o += 2 * n
    vlens = array("I")
    vlens.frombytes(data[o:o + 4 * n])
    o += 4 * n
    if _BIG_ENDIAN:
        klens.byteswap()
        vlens.byteswap()
    koffs = list(accumulate(klens, initial=o))
    voffs = list(accumulate(vlens, initial=koffs[-1]))
    if voffs[-1] != len(data):
        raise CorruptNode(where, f"lengths cover {voffs[-1]} bytes of {len(data)}")
    keys = [data[a:b] for a, b in zip(koffs, koffs[1:])]
    values = [data[a:b] for a, b in zip(voffs, voffs[1:])]
    return Node(level, keys, values, len(data))
