"""DirtyFile and Buffers: bytes written to files and not yet applied to the transaction.

Writes arrive as FUSE requests of 4 KiB to 1 MiB; applying each one to the tree would rechunk
the extents around it every time. Instead a file's writes are kept as *pieces*: the immutable
bytes objects the requests arrived in (no copy), filed by offset, disjoint (a newer write
trims or drops what it overlaps; the newest bytes win). Tiny appends are merged so that a
program writing a byte at a time does not make a piece per byte. `groups()` then hands the
spill a few large regions, each rewritten with one rechunk; `whole()` spots a buffer that
is the file's entire new contents (a new file, a rewrite), which is written as one stream.

`Buffers` holds the DirtyFiles of all files, in two generations: `open` receives writes,
`spilling` is being turned into blobs by a flush (see spill.py) outside the lock. Reads lay
both over the tree, the newer on top. Pieces never change, so reads and the spill may use
them without copying and without the lock.

Not thread-safe: the writeback layer holds its lock around every call. Costs: a write is
O(log pieces + pieces it overlaps), copying nothing (but tiny appends); `overlay` copies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sortedcontainers import SortedDict

from gotfs.mount.readahead import Patch

GROUP_GAP = 4 << 20  # runs closer than one maximal chunk are applied together (one rechunk)
TINY = 4096  # appends smaller than this are merged into the piece before them ...
MERGED = 64 << 10  # ... while that piece is smaller than this


class DirtyFile:
    """Buffered writes of one file. `end` is the highest byte written + 1 (0 when empty)."""

    __slots__ = ("runs", "nbytes", "mtime_ns")

    def __init__(self) -> None:
        self.runs: SortedDict = SortedDict()  # start -> bytes or memoryview (never mutated)
        self.nbytes = 0
        self.mtime_ns: int | None = None

    def __bool__(self) -> bool:
        return bool(self.runs)

    @property
    def end(self) -> int:
        if not self.runs:
            return 0
        start, piece = self.runs.peekitem(-1)
        return start + len(piece)

    def write(self, off: int, data: bytes) -> int:
        """Buffer `data` at `off` (kept, not copied: it must not change); return the growth."""
        if not data:
            return 0
        end = off + len(data)
        runs = self.runs
        keys = runs.keys()
        before = self.nbytes
        i = max(runs.bisect_right(off) - 1, 0)
        while i < len(keys) and keys[i] < end:
            start = keys[i]
            piece = runs[start]
            stop = start + len(piece)
            if stop <= off:
                i += 1
                continue
            del runs[start]  # overlapped: keep only what sticks out on either side
            self.nbytes -= len(piece)
            if start < off:
                runs[start] = memoryview(piece)[:off - start]
                self.nbytes += off - start
                i += 1
            if stop > end:
                runs[end] = memoryview(piece)[end - start:]
                self.nbytes += stop - end
                break
        i = runs.bisect_left(off) - 1
        if len(data) < TINY and i >= 0:
            start = keys[i]
            prev = runs[start]
            if start + len(prev) == off and len(prev) < MERGED:
                runs[start] = bytes(prev) + bytes(data)
                self.nbytes += len(data)
                return self.nbytes - before
        runs[off] = data
        self.nbytes += len(data)
        return self.nbytes - before

    def overlay(self, off: int, stop: int) -> list[Patch]:
        """The buffered bytes inside [off, stop), as (offset, bytes) views (nothing copied)."""
        out = []
        runs = self.runs
        keys = runs.keys()
        i = max(runs.bisect_right(off) - 1, 0)
        while i < len(keys) and keys[i] < stop:
            start = keys[i]
            piece = runs[start]
            lo, hi = max(start, off), min(start + len(piece), stop)
            if hi > lo:
                out.append((lo, memoryview(piece)[lo - start:hi - start]))
            i += 1
        return out

    def drop_from(self, size: int) -> int:
        """Forget buffered bytes at or past `size` (truncate); return how many were dropped."""
        dropped = 0
        for start in list(self.runs):
            piece = self.runs[start]
            if start >= size:
                dropped += len(piece)
                del self.runs[start]
            elif start + len(piece) > size:
                dropped += start + len(piece) - size
                self.runs[start] = memoryview(piece)[:size - start]
        self.nbytes -= dropped
        return dropped

    def whole(self, size: int) -> list | None:
        """The pieces, if they cover [0, max(end, size)) without a gap: the file's whole contents."""
        pos = 0
        for start, piece in self.runs.items():
            if start != pos:
                return None
            pos += len(piece)
        return list(self.runs.values()) if pos >= size and pos else None

    def groups(self, gap: int = GROUP_GAP) -> list[tuple[int, int, list[Patch]]]:
        """Every piece, as (lo, hi, pieces) groups whose pieces are less than `gap` apart.

        Each group is meant to become one rewrite of [lo, hi): the gaps between its pieces are
        filled from the file's current contents, so the extents under the group are rechunked
        once rather than once per write. The buffer is left as it is (reads still use it).
        """
        out: list[tuple[int, int, list[Patch]]] = []
        for start, piece in self.runs.items():
            if out and start - out[-1][1] < gap:
                lo, _, members = out[-1]
                members.append((start, piece))
                out[-1] = (lo, start + len(piece), members)
            else:
                out.append((start, start + len(piece), [(start, piece)]))
        return out


@dataclass(slots=True)
class Cut:
    """Truncates that happened while a file's bytes were being spilled: re-applied after them.

    Bytes spilled survive only below the shortest size; the file ends at the last one.
    """

    shortest: int
    last: int

    def add(self, size: int) -> None:
        self.shortest = min(self.shortest, size)
        self.last = size


class Buffers:
    """Every file's buffered writes, keyed by inode. See the module docstring."""

    def __init__(self) -> None:
        self.open: dict[int, DirtyFile] = {}
        self.spilling: dict[int, DirtyFile] = {}
        self.cuts: dict[int, Cut] = {}
        self.nbytes = 0  # in `open`: what the memory limit watches

    def __bool__(self) -> bool:
        return bool(self.open) or bool(self.spilling)

    def _both(self, ino: int) -> tuple[DirtyFile | None, DirtyFile | None]:
        return self.spilling.get(ino), self.open.get(ino)

    def write(self, ino: int, off: int, data: bytes, mtime_ns: int) -> None:
        df = self.open.get(ino)
        if df is None:
            df = self.open[ino] = DirtyFile()
        self.nbytes += df.write(off, data)
        df.mtime_ns = mtime_ns

    def end(self, ino: int) -> int:
        """One past the last buffered byte (0 if none)."""
        return max((df.end for df in self._both(ino) if df is not None), default=0)

    def mtime(self, ino: int) -> int | None:
        """The time of the last buffered write still to be applied, if any."""
        for df in reversed(self._both(ino)):
            if df is not None and df.mtime_ns is not None:
                return df.mtime_ns
        return None

    def clear_mtime(self, ino: int) -> None:
        """An explicit time was set: the buffered writes' times must not override it."""
        for df in self._both(ino):
            if df is not None:
                df.mtime_ns = None

    def overlay(self, ino: int, off: int, stop: int) -> list[Patch]:
        """Buffered bytes in [off, stop), older generation first."""
        return [patch for df in self._both(ino) if df is not None for patch in df.overlay(off, stop)]

    def truncate(self, ino: int, size: int) -> None:
        spilling, df = self._both(ino)
        if df is not None:
            self.nbytes -= df.drop_from(size)
        if spilling is not None:
            spilling.drop_from(size)  # for reads; the spill itself is corrected by the Cut
            cut = self.cuts.get(ino)
            if cut is None:
                self.cuts[ino] = Cut(size, size)
            else:
                cut.add(size)

    def drop(self, ino: int) -> None:
        """Forget a removed file's open buffer (a spilling one is discarded when it lands)."""
        df = self.open.pop(ino, None)
        if df is not None:
            self.nbytes -= df.nbytes

    def take(self, keep=()) -> dict[int, DirtyFile]:
        """Move every open buffer (but those of the inodes in `keep`) to the spilling generation."""
        taken = {ino: df for ino, df in self.open.items() if ino not in keep}
        for ino, df in taken.items():
            del self.open[ino]
            self.nbytes -= df.nbytes
        self.spilling.update(taken)
        return taken

    def landed(self, ino: int) -> Cut | None:
        """The spilled bytes of `ino` are in the tree (or discarded); returns its Cut, if any."""
        self.spilling.pop(ino, None)
        return self.cuts.pop(ino, None)

    def restore(self, ino: int) -> None:
        """Put spilled bytes back as an open buffer, under any newer writes (for orphans)."""
        old = self.spilling.pop(ino, None)
        self.cuts.pop(ino, None)
        if old is None:
            return
        newer = self.open.pop(ino, None)
        if newer is not None:
            self.nbytes -= newer.nbytes
            for start, buf in newer.runs.items():
                old.write(start, buf)
            old.mtime_ns = newer.mtime_ns or old.mtime_ns
        self.open[ino] = old
        self.nbytes += old.nbytes
