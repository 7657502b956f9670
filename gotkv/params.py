"""Params: the frozen settings that decide a tree's shape.

Two repos with the same Params and the same entries have byte-identical trees; change any
field and every node changes. So Params are chosen once, at repo creation, and stored with it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_KEY_SIZE = 4096
MAX_VALUE_SIZE = 256 << 10


@dataclass(frozen=True, slots=True)
class Params:
    """Tree-shape settings.

    salt: per-repo secret keying the boundary hash, so that nobody without it can craft keys
        that make nodes degenerate, and node sizes say nothing about keys.
    target_node_size: mean encoded node size the boundary aims for (bytes).
    max_node_size: a node is cut once it reaches this size, whatever the hash says.
    """

    salt: bytes = bytes(32)
    target_node_size: int = 8192
    max_node_size: int = 65536

    def __post_init__(self) -> None:
        if len(self.salt) != 32:
            raise ValueError("Params.salt must be 32 bytes")
        if not 256 <= self.target_node_size < self.max_node_size <= (1 << 20):
            raise ValueError("need 256 <= target_node_size < max_node_size <= 1 MiB")
