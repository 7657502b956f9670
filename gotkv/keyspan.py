"""Key ranges and key/value checks: Span, prefix_end, check_key, check_value.

Apart from gotkv.edit's Batch so that what only reads keys (gotfs.keys, a read, the builder)
does not import the batch's SortedDict (sortedcontainers, ~5 ms of every process that loads
it); gotkv.edit re-exports Span.
"""

from __future__ import annotations

from gotkv.errors import InvalidInput, InvalidKey, InvalidValue
from gotkv.params import MAX_KEY_SIZE, MAX_VALUE_SIZE
from gotkv.value import Value


def check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise InvalidKey(f"a key must be bytes, got {type(key).__name__}")
    if len(key) > MAX_KEY_SIZE:
        raise InvalidKey(f"a key is at most {MAX_KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


def check_value(value: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidValue(f"a value must be bytes, got {type(value).__name__}")
    if len(value) > MAX_VALUE_SIZE:
        raise InvalidValue(f"a value is at most {MAX_VALUE_SIZE} bytes, got {len(value)}")
    return bytes(value)


class Span(Value):
    """Keys k with lo <= k < hi; None means unbounded on that side."""

    __slots__ = ("lo", "hi")
    lo: bytes | None
    hi: bytes | None

    def __init__(self, lo: bytes | None = None, hi: bytes | None = None) -> None:
        if lo is not None and hi is not None and hi < lo:
            raise InvalidInput(f"span end {hi!r} is before its start {lo!r}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @classmethod
    def prefix(cls, prefix: bytes) -> Span:
        """Every key that starts with `prefix`."""
        return cls(prefix or None, prefix_end(prefix))

    def __contains__(self, key: bytes) -> bool:
        return (self.lo is None or key >= self.lo) and (self.hi is None or key < self.hi)


def prefix_end(prefix: bytes) -> bytes | None:
    """The least key greater than every key starting with `prefix` (None if there is none)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)
