"""Root: a whole gotkv tree as one small value — the root node's ref and its level."""

from __future__ import annotations

from gotkv.blobs.ref import Ref
from gotkv.errors import InvalidRef
from gotkv.value import Value


class Root(Value):
    """A tree. `depth` is the root node's level: 0 when the root is a leaf."""

    __slots__ = ("ref", "depth")
    ref: Ref
    depth: int

    def __init__(self, ref: Ref, depth: int) -> None:
        if not 0 <= depth < 64:
            raise InvalidRef(f"tree depth {depth} out of range")
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "depth", depth)

    def __eq__(self, other) -> bool:
        if other.__class__ is Root:
            return self.depth == other.depth and self.ref == other.ref
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.ref, self.depth))

    def to_bytes(self) -> bytes:
        return bytes([self.depth]) + self.ref.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Root:
        if len(data) < 33:
            raise InvalidRef(f"a root is 33 or 65 bytes, got {len(data)}")
        return cls(Ref.from_bytes(data[1:]), data[0])

    def __str__(self) -> str:
        return self.to_bytes().hex()

    @classmethod
    def parse(cls, text: str) -> Root:
        """Parse the text form (hex of to_bytes). Raises InvalidRef naming the bad text."""
        try:
            return cls.from_bytes(bytes.fromhex(text.strip()))
        except (ValueError, AttributeError):
            raise InvalidRef(f"not a tree root: {text!r:.140}") from None
