"""Batch: what a mutation changes (key ranges, Span, are gotkv.keyspan's, re-exported here).

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

from gotkv.keyspan import Span, check_key, check_value  # (Span re-exported)

if TYPE_CHECKING:
    from sortedcontainers import SortedDict


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
