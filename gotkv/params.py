"""Params: the frozen settings that decide a tree's shape.

Two repos with the same Params and the same entries have byte-identical trees; change any
field and every node changes. So Params are chosen once, at repo creation, and stored with it.
"""

from __future__ import annotations

from gotkv.value import Value

MAX_KEY_SIZE = 4096
MAX_VALUE_SIZE = 256 << 10


class Params(Value):
    """Tree-shape settings.

    salt: per-repo secret keying the boundary hash, so that nobody without it can craft keys
        that make nodes degenerate, and node sizes say nothing about keys.
    target_node_size: mean encoded node size the boundary aims for (bytes).
    max_node_size: a node is cut once it reaches this size, whatever the hash says.
    """

    __slots__ = ("salt", "target_node_size", "max_node_size")
    salt: bytes
    target_node_size: int
    max_node_size: int

    def __init__(self, salt: bytes = bytes(32), target_node_size: int = 8192, max_node_size: int = 65536) -> None:
        if len(salt) != 32:
            raise ValueError("Params.salt must be 32 bytes")
        if not 256 <= target_node_size < max_node_size <= (1 << 20):
            raise ValueError("need 256 <= target_node_size < max_node_size <= 1 MiB")
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "target_node_size", target_node_size)
        object.__setattr__(self, "max_node_size", max_node_size)
