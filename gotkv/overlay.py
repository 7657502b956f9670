"""Overlay: read a tree as if a pending Batch were already applied.

A transaction collects edits in a Batch and commits them with one mutate; in between, its own
reads must see its own writes. The overlay answers get and iterate by merging the base tree
with the batch — points win, spans hide base entries — without writing anything.
Cost: a get is one batch lookup plus, at most, a tree get; iterate merges two sorted streams.
"""

from __future__ import annotations

from typing import Iterator

from gotkv.edit import Batch, Span, merge_edits
from gotkv.kv import KV
from gotkv.root import Root


class Overlay:
    """The entries of `root` with `batch` applied, readable without committing."""

    def __init__(self, kv: KV, root: Root, batch: Batch):
        self.kv = kv
        self.root = root
        self.batch = batch

    def get(self, key: bytes, default=None):
        if not self.batch:  # nothing written: the base tree answers
            return self.kv.get(self.root, key, default)
        points = self.batch.points
        if key in points:
            value = points[key]
            return default if value is None else value
        if self.batch.touches(key, key + b"\x00"):  # inside a deleted span
            return default
        return self.kv.get(self.root, key, default)

    def iterate(self, span: Span = Span()) -> Iterator[tuple[bytes, bytes]]:
        """Entries in `span`, in key order."""
        spans = self.batch.spans_in(span.lo, span.hi)
        points = self.batch.points_in(span.lo, span.hi)
        base = self.kv.iterate(self.root, span)
        if not spans and not points:
            yield from base
            return
        yield from merge_edits(base, points, spans)

    def seek(self, key: bytes) -> tuple[bytes, bytes] | None:
        return next(self.iterate(Span(key, None)), None)
