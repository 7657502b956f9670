"""Extent: a run of a file's bytes held at (offset, length) inside one data blob.

Because an extent names a slice of a blob, many small files can share one blob (packing).
Canonical layout: u32 offset | u32 length | ref bytes (32 or 64).
"""

from __future__ import annotations

import struct
from gotkv.blobs.ref import Ref
from gotkv.errors import CorruptNode, InvalidInput
from gotkv.value import Value

_HEAD = struct.Struct("<II")


class Extent(Value):
    __slots__ = ("ref", "offset", "length")
    ref: Ref
    offset: int
    length: int

    def __init__(self, ref: Ref, offset: int, length: int) -> None:
        if offset < 0 or length <= 0 or offset + length > 1 << 32:
            raise InvalidInput(f"bad extent offset {offset} length {length}")
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "length", length)

    def to_bytes(self) -> bytes:
        return _HEAD.pack(self.offset, self.length) + self.ref.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Extent:
        if len(data) not in (40, 72):
            raise CorruptNode("extent", f"{len(data)} bytes")
        offset, length = _HEAD.unpack_from(data)
        try:
            return cls(Ref.from_bytes(data[8:]), offset, length)
        except InvalidInput as e:  # zero length, or a slice past 4 GiB: not a valid extent
            raise CorruptNode("extent", str(e)) from None

    def trimmed(self, skip: int, length: int) -> Extent:
        """The sub-extent that drops `skip` bytes from the front and keeps `length`."""
        return Extent(self.ref, self.offset + skip, length)
