"""Spill: buffered writes into a transaction, with the slow part outside the mount's lock.

Turning 64 MiB of buffered writes into blobs (chunking, hashing, compressing, posting) takes
a few hundred milliseconds; done under the mount's lock it would stall every request for
that long. So a spill has three phases:

1. `plan` (under the lock): per file, copy the buffered bytes and note the extents they
   touch — all immutable values from then on.
2. `chunk` (no lock): build each region and cut it into blobs. Files whose buffer is their
   whole new contents (new files, rewrites) go through ONE packed stream, so small files share
   blobs; the others are patched region by region, each region being the union of the
   buffered runs and the extents they touch (the `files.write_at` rule: the extent that ends
   where a run starts is included, so appends stay content-defined).
3. `apply` (under the lock): swap the new extents in and update size and mtime.

Between 1 and 3 the file may change: new writes land in a fresh buffer (newer: applied by a
later spill, on top); a truncate is applied to the tree at once and recorded as a `Cut`, to
be applied again after the spilled bytes; mode, xattrs and renames do not conflict (apply
re-reads the Info and resolves the path anew). The caller discards a plan whose file is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from gotfs import files, keys
from gotfs.chunking import DataStore
from gotfs.extent import Extent
from gotfs.keys import Path
from gotfs.mount.dirty import Cut, DirtyFile
from gotfs.mount.readahead import Patch, Piece
from gotfs.tx import Tx


_IOV_MAX = 1024  # buffers per pwritev (Linux's limit)


@dataclass(slots=True)
class Region:
    """One rewritten stretch of a file: [lo, hi), the extents it replaces, its new extents."""

    lo: int
    hi: int
    touched: list[Piece]
    runs: list[Patch]
    extents: list[tuple[int, Extent]] = field(default_factory=list)  # (end relative to lo, Extent)


@dataclass(slots=True)
class Plan:
    """One file's buffered bytes on their way into the tree."""

    ino: int
    mtime_ns: int | None
    whole: list | None = None  # the file's entire new contents (pieces), or None for regions
    regions: list[Region] = field(default_factory=list)
    size: int = 0  # of `whole`, once chunked
    extents: list[tuple[int, Extent]] = field(default_factory=list)  # of `whole`
    done: bool = False  # chunked: ready to apply


def plan(tx: Tx, path: Path, ino: int, df: DirtyFile) -> Plan:
    """Phase 1 (under the lock): what to write, as immutable values. O(runs + touched extents)."""
    info = tx.require_file(path)
    p = Plan(ino, df.mtime_ns)
    p.whole = df.whole(info.size)
    if p.whole is not None:
        return p
    for lo, hi, group in df.groups():
        touched = []
        for start, end, extent in tx.extents(path, max(lo - 1, 0)):
            if start >= hi:
                break
            touched.append((start, end, extent))
        p.regions.append(Region(lo, hi, touched, group))  # pieces are immutable: no copy
    return p


def chunk(data: DataStore, plans: list[Plan]) -> None:
    """Phase 2 (no lock): cut the new bytes into posted blobs. Blocks on hashing and the store.

    Marks each plan done as it completes; on an error the rest stay undone (the caller puts
    their bytes back in the buffers) and the error propagates.
    """
    whole = [p for p in plans if p.whole is not None]
    for w in data.write_many((p, _opener(p.whole)) for p in whole):
        w.tag.size, w.tag.extents, w.tag.done = w.size, w.extents, True
    for p in plans:
        for r in p.regions:
            lo = min([r.lo] + [s for s, _, _ in r.touched])
            hi = max([r.hi] + [e for _, e, _ in r.touched])
            base = [(start, end, data.read_extent(extent)) for start, end, extent in r.touched]
            r.lo, r.hi = lo, hi
            r.extents = data.write_one(_PiecesReader(_overlay(lo, hi, base, r.runs))).extents
        p.done = True


def _overlay(lo: int, hi: int, base: list[tuple[int, int, memoryview]], runs: list[Patch]) -> list:
    """The bytes of [lo, hi) as a list of pieces: `runs` (sorted, disjoint) over `base` extents,
    zeros where neither has bytes (a sparse gap). Nothing is copied but the zeros: a region can
    be tens of megabytes, and assembling it in one buffer cost two fresh copies of every byte."""
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


def apply(tx: Tx, path: Path, p: Plan, cut: Cut | None) -> None:
    """Phase 3 (under the lock): put the new extents in place of the old ones."""
    info = tx.require_file(path)
    if p.whole is not None:
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
    tx.put_info(path, info.with_(size=size, mtime_ns=mtime))
    if cut is not None:
        files.truncate(tx, path, cut.shortest)
        files.truncate(tx, path, cut.last)


class _PiecesReader:
    """A readinto() stream over a list of byte pieces (the chunker's input), copying once.

    `copy_into` copies into a memory file with pwritev instead: in the kernel, without the
    GIL, which the FUSE loop needs for every request while a spill runs (the memoryview copy
    held it for ~0.4 s per GiB spilled).
    """

    def __init__(self, pieces: list):
        self._pieces = [memoryview(p).cast("B") for p in pieces if len(p)]
        self._i = 0
        self._at = 0

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = 0
        for part in self._take(len(view)):
            view[n:n + len(part)] = part
            n += len(part)
        return n

    def copy_into(self, buf, fd: int, offset: int) -> int:
        """readinto(buf), by writing the bytes into file `fd` at `offset`, which `buf` maps."""
        n = 0
        while n < len(buf):
            parts = self._take(len(buf) - n, most=_IOV_MAX)
            if not parts:
                break
            size = sum(map(len, parts))
            _pwrite_all(fd, parts, offset + n)  # (trims `parts` as it goes)
            n += size
        return n

    def _take(self, limit: int, most: int | None = None) -> list[memoryview]:
        """The next views of the pieces, `limit` bytes in all at most (and at most `most`
        views), which the stream then moves past."""
        parts: list[memoryview] = []
        size = 0
        while size < limit and self._i < len(self._pieces) and (most is None or len(parts) < most):
            piece = self._pieces[self._i]
            take = min(limit - size, len(piece) - self._at)
            parts.append(piece[self._at:self._at + take])
            size += take
            self._at += take
            if self._at == len(piece):
                self._i, self._at = self._i + 1, 0
        return parts

    def close(self) -> None:
        self._pieces = []


def _pwrite_all(fd: int, parts: list[memoryview], offset: int) -> None:
    """pwritev every byte of `parts` at `offset`, going on after a short write."""
    i = 0
    while i < len(parts):
        done = os.pwritev(fd, parts[i:i + _IOV_MAX], offset)
        if not done:  # a memory file takes every byte, or raises (ENOMEM, ENOSPC)
            raise OSError(f"pwritev into the cutting segment wrote nothing at {offset}")
        offset += done
        while i < len(parts) and done >= len(parts[i]):
            done -= len(parts[i])
            i += 1
        if done:
            parts[i] = parts[i][done:]


def _opener(pieces: list):
    return lambda: _PiecesReader(pieces)
