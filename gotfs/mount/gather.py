"""Gather: one read's reply, in parts, turned into bytes with as few copies as possible.

A FUSE read's reply is the bytes of the extents under [off, stop) (fetched by the
readahead module's Fetcher, often side by side in the mount's arena), zeros for holes, and
buffered writes laid on top. It is built on a worker thread, where fetching may block, and
turned into bytes on the event loop: one slice of the arena (or of one chunk) when the
request's bytes lie side by side there (no copy), else written into a reply buffer that
the FUSE adapter reuses. A Gather holds pins on the arena chunks it uses until its owner
releases them (`Fetcher.release`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gotfs.mount.arena import Arena, Slot
from gotfs.mount.readahead import Fetched
from gotfs.pieces import Patch

_ZEROS = memoryview(bytes(1 << 20))  # holes are filled from here, a slice at a time


@dataclass(slots=True)
class Gather:
    """What one read replies with: extent bytes (start, end, data) over [off, stop), patches on top.

    Holes read as zeros. Built on a worker thread (fetching may block), turned into bytes on
    the event loop: `single()` when the range's bytes lie side by side in memory without
    patches (one slice of a chunk, or of the arena across consecutive chunks; nothing
    copied), else `into(buffer)`, which lets the FUSE adapter reuse one reply buffer instead
    of allocating (and page-faulting) a megabyte per request.

    `where[i]` is the arena position of piece i's bytes (None when they are elsewhere), and
    `held` the arena chunks pinned for this reply, which its owner releases once the bytes
    are copied out or sent (Fetcher.release).
    """

    off: int
    stop: int
    pieces: list[tuple[int, int, memoryview]]
    patches: list[Patch] = field(default_factory=list)
    where: list[int | None] | None = None
    arena: memoryview | None = None
    held: list[Slot] = field(default_factory=list)

    @classmethod
    def of(cls, off: int, stop: int, fetched: list[tuple[int, int, Fetched]], patches: list[Patch] | None = None,
           arena: Arena | None = None) -> Gather:
        return cls(off, stop, [(s, e, f.data) for s, e, f in fetched], patches or [],
                   [f.where for _, _, f in fetched], arena.view if arena is not None else None,
                   [f.slot for _, _, f in fetched if f.slot is not None])

    def single(self) -> memoryview | bytes | None:
        """The reply without copying, if its bytes lie side by side (or it is empty); else None."""
        if self.stop <= self.off:
            return b""
        if self.patches or not self.pieces:
            return None
        start, end, data = self.pieces[0]
        if start <= self.off and end >= self.stop:
            return data[self.off - start:self.stop - start]
        return self._side_by_side()

    def _side_by_side(self) -> memoryview | None:
        """One arena slice across several pieces, if they are contiguous in the file and in
        the arena and cover the whole range."""
        where, pieces = self.where, self.pieces
        if self.arena is None or where is None or where[0] is None:
            return None
        if pieces[0][0] > self.off or pieces[-1][1] < self.stop:
            return None
        for i in range(1, len(pieces)):
            prev_start, prev_end, _ = pieces[i - 1]
            if where[i] is None or pieces[i][0] != prev_end or where[i] != where[i - 1] + (prev_end - prev_start):
                return None
        lo = where[0] + self.off - pieces[0][0]
        return self.arena[lo:lo + self.stop - self.off]

    def into(self, buffer: bytearray) -> memoryview:
        """Write the reply into `buffer` (at least stop - off bytes); return that part of it."""
        off, stop = self.off, self.stop
        out = memoryview(buffer)[:max(stop - off, 0)]
        pos = off
        for start, end, data in self.pieces:
            lo, hi = max(start, off), min(end, stop)
            if hi <= lo:
                continue
            self._zero(out, pos - off, lo - off)
            out[lo - off:hi - off] = data[lo - start:hi - start]
            pos = hi
        self._zero(out, pos - off, stop - off)
        for at, data in self.patches:
            lo, hi = max(at, off), min(at + len(data), stop)
            if hi > lo:
                out[lo - off:hi - off] = data[lo - at:hi - at]
        return out

    @staticmethod
    def _zero(out: memoryview, lo: int, hi: int) -> None:
        while lo < hi:
            n = min(hi - lo, len(_ZEROS))
            out[lo:lo + n] = _ZEROS[:n]
            lo += n

    def to_bytes(self) -> bytes:
        """The reply as bytes of its own (arena memory is reused: never hand out a view of it)."""
        single = self.single()
        return bytes(single) if single is not None else bytes(self.into(bytearray(self.stop - self.off)))
