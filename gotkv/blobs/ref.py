"""Ref: everything needed to fetch, verify and decrypt one blob.

A ref is the content id (BLAKE3-256 of the *stored* bytes, so any store can verify what it
holds without the key) plus, when the repo encrypts, the 32-byte data key. Refs are values:
frozen, hashable, comparable, with a stable binary form (`to_bytes`, 32 or 64 bytes) and a
stable text form (lowercase hex of the same bytes).
"""

from __future__ import annotations

from gotkv.errors import InvalidRef
from gotkv.value import Value

CID_SIZE = 32
KEY_SIZE = 32


class Ref(Value):
    """A content id and an optional data key (empty when the blob is not encrypted)."""

    __slots__ = ("cid", "key")
    cid: bytes
    key: bytes

    def __init__(self, cid: bytes, key: bytes = b"") -> None:
        if not isinstance(cid, bytes) or len(cid) != CID_SIZE:
            raise InvalidRef(f"a ref's content id must be {CID_SIZE} bytes, got {cid!r:.80}")
        if not isinstance(key, bytes) or len(key) not in (0, KEY_SIZE):
            raise InvalidRef(f"a ref's key must be empty or {KEY_SIZE} bytes")
        object.__setattr__(self, "cid", cid)
        object.__setattr__(self, "key", key)

    # Refs are compared and hashed on every tree walk: these two skip Value's generic ones.
    def __eq__(self, other) -> bool:
        if other.__class__ is Ref:
            return self.cid == other.cid and self.key == other.key
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.cid, self.key))

    def to_bytes(self) -> bytes:
        """Binary form: cid, then key (32 or 64 bytes in all)."""
        return self.cid + self.key

    @classmethod
    def from_bytes(cls, data: bytes) -> Ref:
        """Parse the binary form. Raises InvalidRef on any other length or type."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRef(f"a ref's binary form is bytes, not {type(data).__name__}")
        if len(data) == CID_SIZE:
            return cls(bytes(data))
        if len(data) == CID_SIZE + KEY_SIZE:
            return cls(bytes(data[:CID_SIZE]), bytes(data[CID_SIZE:]))
        raise InvalidRef(f"a ref is {CID_SIZE} or {CID_SIZE + KEY_SIZE} bytes, got {len(data)}")

    def __str__(self) -> str:
        return self.to_bytes().hex()

    @classmethod
    def parse(cls, text: str) -> Ref:
        """Parse the text form (64 or 128 hex digits). Raises InvalidRef naming the bad text."""
        try:
            raw = bytes.fromhex(text.strip())
        except (ValueError, AttributeError, TypeError):
            raise InvalidRef(f"not a ref: {text!r:.140} (expected 64 or 128 hex digits)") from None
        if len(raw) not in (CID_SIZE, CID_SIZE + KEY_SIZE):
            raise InvalidRef(f"not a ref: {text!r:.140} (expected 64 or 128 hex digits)")
        return cls.from_bytes(raw)

    def short(self) -> str:
        """First 12 hex digits of the content id, for messages."""
        return self.cid.hex()[:12]
