"""Regions: the one rule that turns buffered bytes into a file's extents, in three phases.

A write at an offset must neither rechunk the whole file nor leave a tiny blob per write.
The rule: a group of buffered runs is rewritten together with every extent it overlaps or
touches (one that ends where the group starts, or starts where it ends), so that a file
written in pieces, forwards or backwards, still gets content-defined chunks. That union is a
*region*: its bytes (the old extents' bytes with the runs laid on top) are chunked as one
stream from the region's start, and its new extents replace the old ones. Extents no run
touches are kept as they are, and so are holes between regions.

Why exactly this rule: it does not depend on how writes were batched. One write at a time,
each merges with the extents it touches, earlier merges included; all at once, each
connected set of runs and extents merges in one go; either way the same regions come out,
and while a region is shorter than the chunker's minimum chunk (one chunk), the same extents
(tests/gotfs/test_staging.py checks this). Longer regions hold the same bytes, cut at the
same content-defined points except near a write that creates or removes one. Runs may also
be grouped with a `gap` (the read-write mount does, to rechunk scattered writes at once):
the extents between them, and zeros for holes there, join the region.

Three phases, so that the slow one can run without a lock (the read-write mount does):
1. `plan` reads the tree: per file, its regions and the old extents they replace or, for a
   buffer holding the file's entire new contents, a stream; immutable values from then on.
2. `chunk` touches no tree: it cuts and seals the new bytes on the DataStore's threads,
   whole-file streams packed together (small files share blobs).
3. `apply` writes the tree: the new extents in place of the old, then size and mtime.
"""

from __future__ import annotations

from typing import Callable, Iterable

from gotfs import keys
from gotfs.chunking import DataStore, Source
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.pieces import DirtyFile, Patch, PiecesReader
from gotfs.tx import Tx
from gotkv.blobs.ref import Ref

GROUP_GAP = 4 << 20  # the mount groups runs closer than one maximal chunk (one rechunk; see `plan`)
Piece = tuple[int, int, Extent]  # (start, end) of an extent in its file, and the extent


class Region:
    """One rewritten stretch of a file: [lo, hi), the extents it replaces, its new extents.

    Before `chunk`, [lo, hi) spans the runs only; after it, the runs and the touched extents.
    A plain record (no dataclass: see gotkv/value.py for what that import costs a command).
    """

    __slots__ = ("lo", "hi", "touched", "runs", "extents")

    def __init__(self, lo: int, hi: int, touched: list[Piece], runs: list[Patch]) -> None:
        self.lo = lo
        self.hi = hi
        self.touched = touched
        self.runs = runs
        self.extents: list[tuple[int, Extent]] = []  # (end relative to lo, Extent)


class Plan:
    """One file's new bytes on their way into the tree: regions, or a whole-file stream."""

    __slots__ = ("path", "mtime_ns", "whole", "size_hint", "tag", "clear", "info", "regions", "size", "extents",
                 "done")

    def __init__(self, path: Path, mtime_ns: int | None, whole: Source | None = None, size_hint: int = 0,
                 tag: object = None, *, clear: bool = True, info: Info | None = None) -> None:
        self.path = path  # where the file was when planned (packing groups are chosen by it)
        self.mtime_ns = mtime_ns  # set at apply (None: keep the file's)
        self.whole = whole  # opens the file's entire new contents, or None for regions
        self.size_hint = size_hint  # of `whole`, if known (packing groups are chosen by it)
        self.tag = tag  # the caller's, untouched
        self.clear = clear  # `whole` replaces extents (False: the file has none; skip the span delete)
        self.info = info  # the file's current Info, if its owner knows it (saves a read at apply)
        self.regions: list[Region] = []
        self.size = 0  # of `whole`, once chunked
        self.extents: list[tuple[int, Extent]] = []  # of `whole`, once chunked
        self.done = False  # chunked: ready to apply


def touched(tx: Tx, path: Path, lo: int, hi: int) -> list[Piece]:
    """The extents that overlap [lo, hi) or touch it at either end, in order.
    Cost: O(d + extents returned) node reads."""
    out = []
    for start, end, extent in tx.extents(path, max(lo - 1, 0)):  # those ending at or after lo
        if start > hi:
            break
        out.append((start, end, extent))
    return out


def plan(tx: Tx, path: Path, buffered: DirtyFile, *, mtime_ns: int | None = None, gap: int = 0,
         whole: bool = True) -> Plan:
    """Phase 1: what writing `buffered` into the file at `path` rewrites. O(d + runs + touched
    extents) node reads; nothing is copied (pieces never change). With `whole`, a buffer that
    covers the whole file becomes one stream (packed with others at chunk time)."""
    info = tx.require_file(path)
    p = Plan(path, mtime_ns)
    pieces = buffered.whole(info.size) if whole else None
    if pieces is not None:
        p.whole, p.size_hint = lambda: PiecesReader(pieces), buffered.end
        return p
    for lo, hi, runs in buffered.groups(gap):
        old = touched(tx, path, lo, hi)
        last = p.regions[-1] if p.regions else None
        if last is not None and last.touched and old and last.touched[-1][1] == old[0][1]:
            last.hi = hi  # both touch one extent: one region (the rule is transitive)
            last.runs.extend(runs)
            last.touched.extend(old[1:])
        else:
            p.regions.append(Region(lo, hi, old, list(runs)))
    return p


def chunk(data: DataStore, plans: list[Plan], *,
          streams: Callable[[list[Plan]], Iterable[list[Plan]]] | None = None,
          on_chunked: Callable[[Plan], None] | None = None, known: dict[bytes, Ref] | None = None) -> None:
    """Phase 2: cut the new bytes into posted blobs. Blocks on hashing and the store; reads
    touched extents' bytes (one blob read per chunk not cached); no tree access.

    Whole-file plans are chunked as the streams `streams` groups them into (default: all in
    one), each region alone. Marks each plan done (and calls `on_chunked`) as it completes;
    on an error the rest stay undone and the error propagates. Nothing is durable until the
    store is flushed. `known`: chunks already stored, not sealed again (DataStore.write_many).
    """
    wholes = [p for p in plans if p.whole is not None]
    for group in (streams(wholes) if streams is not None else [wholes] if wholes else []):
        for w in data.write_many(((p, p.whole) for p in group), known=known):
            w.tag.size, w.tag.extents, w.tag.done = w.size, w.extents, True
            if on_chunked is not None:
                on_chunked(w.tag)
    for p in plans:
        if p.whole is not None:
            continue
        for r in p.regions:
            lo = min([r.lo] + [s for s, _, _ in r.touched])
            hi = max([r.hi] + [e for _, e, _ in r.touched])
            base = [(start, end, data.read_extent(extent)) for start, end, extent in r.touched]
            r.lo, r.hi = lo, hi
            r.extents = data.write_one(PiecesReader(_overlay(lo, hi, base, r.runs))).extents
        p.done = True
        if on_chunked is not None:
            on_chunked(p)


def _overlay(lo: int, hi: int, base: list[tuple[int, int, memoryview]], runs: list[Patch]) -> list:
    """The bytes of [lo, hi) as a list of pieces: `runs` (sorted, disjoint) over `base` extents,
    zeros where neither has bytes (a gap inside a group). Nothing is copied but the zeros: a
    region can be tens of megabytes, and assembling it in one buffer would copy every byte twice."""
    out: list = []

    def from_base(a: int, b: int) -> None:
        for start, end, view in base:
            s, e = max(start, a), min(end, b)
            if e <= s:
                continue
            if s > a:
                out.append(bytes(s - a))
            out.append(view[s - start:e - start])
            a = e
        if b > a:
            out.append(bytes(b - a))

    pos = lo
    for at, run in runs:
        if at > pos:
            from_base(pos, at)
        out.append(run)
        pos = at + len(run)
    if hi > pos:
        from_base(pos, hi)
    return out


def apply(tx: Tx, path: Path, p: Plan) -> Info:
    """Phase 3: put a chunked plan's extents in place of the old ones; the file's size grows
    to cover them (a whole-file plan sets it), and its mtime becomes the plan's, if any.
    `path` is resolved anew (the file may have been renamed since `plan`). Returns the new
    Info. Cost: O(d + extents changed) node reads; the writes go into the transaction."""
    info = p.info if p.info is not None else tx.require_file(path)
    if p.whole is not None:
        if p.clear:
            tx.delete_span(keys.extents_span(path))
        for end, extent in p.extents:
            tx.put_extent(path, end, extent)
        size = p.size
    else:
        size = info.size
        for r in p.regions:
            for _, end, _ in r.touched:
                tx.delete_key(keys.extent_key(path, end))
            for end, extent in r.extents:
                tx.put_extent(path, r.lo + end, extent)
            size = max(size, r.hi)
    mtime = p.mtime_ns if p.mtime_ns is not None else info.mtime_ns
    if size != info.size or mtime != info.mtime_ns:  # (a scanned file's Info has its size already)
        info = info.with_(size=size, mtime_ns=mtime)
        tx.put_info(path, info)
    return info
