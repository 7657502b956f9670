"""Batch and Span: what a mutation changes, and key ranges.

A Batch is applied as if its calls ran in order: a later put or delete of a key replaces an
earlier one, and delete_span removes the puts and deletes it covers. It is kept normalised as
(point edits in a SortedDict, disjoint sorted spans), which the mutate walk reads as "does
anything land in this node's key range?" in O(log n).

The SortedDict is made at the first put or delete: reading through an empty batch (every Tx
starts with one; `got cat` and `got show` never write) neither builds one nor imports
sortedcontainers, whose imports (traceback, tokenize, textwrap) cost ~4 ms of a start.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Iterable, Iterator

from gotkv.errors import InvalidInput, InvalidKey, InvalidValue
from gotkv.params import MAX_KEY_SIZE, MAX_VALUE_SIZE
from gotkv.value import Value

if TYPE_CHECKING:
    from sortedcontainers import SortedDict


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


class Batch:
    """An ordered set of puts, deletes and span deletes, normalised as it is built."""

    def __init__(self) -> None:
        self._points: SortedDict | None = None  # see `points`
        self._starts: list[bytes] = []
        self._ends: list[bytes | None] = []  # None: to the end of the key space

    @property
    def points(self) -> SortedDict:
        """The point edits, key -> value (None for a delete), in key order; made on first use
        (see the module docstring)."""
        if self._points is None:
            from sortedcontainers import SortedDict

            self._points = SortedDict()
        return self._points

    def put(self, key: bytes, value: bytes) -> Batch:
        self.points[check_key(key)] = check_value(value)
        return self

    def delete(self, key: bytes) -> Batch:
        self.points[check_key(key)] = None
        return self

    def delete_span(self, span: Span) -> Batch:
        """Delete every key in `span`, including puts made earlier in this batch."""
        lo = span.lo or b""
        hi = span.hi
        if self._points:
            for k in list(self._points.irange(lo, hi, inclusive=(True, False))):
                del self._points[k]
        i = bisect_left(self._starts, lo)
        if i > 0 and (self._ends[i - 1] is None or self._ends[i - 1] >= lo):
            i -= 1  # merge with the span before
            lo = self._starts[i]
        j = i
        while j < len(self._starts) and (hi is None or self._starts[j] <= hi):
            end = self._ends[j]
            hi = None if hi is None or end is None else max(hi, end)
            j += 1
        self._starts[i:j] = [lo]
        self._ends[i:j] = [hi]
        return self

    def __len__(self) -> int:
        return (len(self._points) if self._points is not None else 0) + len(self._starts)

    def spans(self) -> list[tuple[bytes, bytes | None]]:
        return list(zip(self._starts, self._ends))

    def touches(self, lo: bytes | None, hi: bytes | None) -> bool:
        """True if any edit lands in [lo, hi)."""
        if self.has_points(lo, hi):
            return True
        j = len(self._starts) if hi is None else bisect_left(self._starts, hi)
        if j == 0:
            return False
        end = self._ends[j - 1]
        return lo is None or end is None or end > lo

    def covers(self, lo: bytes, hi: bytes | None) -> bool:
        """True if one span deletes all of [lo, hi) and no put lands there."""
        i = bisect_right(self._starts, lo)
        if i == 0:
            return False
        end = self._ends[i - 1]
        if not (end is None or (hi is not None and end >= hi)):
            return False
        return not self.has_points(lo, hi)

    def has_points(self, lo: bytes | None, hi: bytes | None) -> bool:
        """True if a put or delete lands in [lo, hi). O(log n), no iterator."""
        points = self._points
        if not points:
            return False
        i = 0 if lo is None else points.bisect_left(lo)
        if i == len(points):
            return False
        return hi is None or points.keys()[i] < hi

    def has_spans(self) -> bool:
        return bool(self._starts)

    def point_keys_in(self, lo: bytes | None, hi: bytes | None) -> list[bytes]:
        """The keys put or deleted in [lo, hi), sorted."""
        points = self._points
        if not points:
            return []
        i = 0 if lo is None else points.bisect_left(lo)
        j = len(points) if hi is None else points.bisect_left(hi)
        return points.keys()[i:j]

    def points_in(self, lo: bytes | None, hi: bytes | None) -> list[tuple[bytes, bytes | None]]:
        points = self._points
        if not points:
            return []
        return [(k, points[k]) for k in points.irange(lo, hi, inclusive=(True, False))]

    def spans_in(self, lo: bytes | None, hi: bytes | None) -> list[tuple[bytes, bytes | None]]:
        """Spans overlapping [lo, hi), in order."""
        out = []
        j = len(self._starts) if hi is None else bisect_left(self._starts, hi)
        for i in range(j - 1, -1, -1):
            end = self._ends[i]
            if lo is not None and end is not None and end <= lo:
                break
            out.append((self._starts[i], end))
        out.reverse()
        return out


def merge_edits(entries: Iterable[tuple[bytes, bytes]], points: list[tuple[bytes, bytes | None]],
                spans: list[tuple[bytes, bytes | None]]) -> Iterator[tuple[bytes, bytes]]:
    """Sorted `entries` with sorted point edits (value None = delete) and sorted disjoint
    deleted spans applied: the one merge behind both mutate's leaves and Overlay reads."""
    si = 0
    pi = 0
    n = len(points)
    for k, v in entries:
        while pi < n and points[pi][0] < k:
            if points[pi][1] is not None:
                yield points[pi]
            pi += 1
        if pi < n and points[pi][0] == k:
            if points[pi][1] is not None:
                yield points[pi]
            pi += 1
            continue
        while si < len(spans) and spans[si][1] is not None and spans[si][1] <= k:
            si += 1
        if si < len(spans) and spans[si][0] <= k:
            continue
        yield k, v
    for p in points[pi:]:
        if p[1] is not None:
            yield p
