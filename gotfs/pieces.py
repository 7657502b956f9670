"""DirtyFile: bytes written to a file and not yet in the tree, and PiecesReader to chunk them.

Writes arrive in pieces of 4 KiB to 1 MiB (a FUSE request, an FS write_at); applying each
one to the tree would rechunk the extents around it every time. Instead a file's writes are
kept as *pieces*: the immutable bytes objects the writes arrived in (no copy), filed by
offset, disjoint (a newer write trims or drops what it overlaps; the newest bytes win). Tiny
appends are merged so that a program writing a byte at a time does not make a piece per
byte. `groups()` hands the staging (regions.py) the runs to rewrite together; `whole()` spots
a buffer that is the file's entire new contents (a new file, a rewrite), which can be
written as one stream.

Not thread-safe: the owner (Staging, or the mount's writeback under its lock) serialises
calls. Pieces never change, so readers may use them without copying. Costs: a write is
O(log pieces + pieces it overlaps), copying nothing (but tiny appends); `overlay` copies nothing.
"""

from __future__ import annotations

import os


Patch = tuple[int, bytes]  # (offset, bytes) written but not yet in the tree
TINY = 4096  # appends smaller than this are merged into the piece before them ...
MERGED = 64 << 10  # ... while that piece is smaller than this
_IOV_MAX = 1024  # buffers per pwritev (Linux's limit)


class DirtyFile:
    """Buffered writes of one file. `end` is the highest byte written + 1 (0 when empty)."""

    __slots__ = ("runs", "nbytes", "mtime_ns")

    def __init__(self) -> None:
        from sortedcontainers import SortedDict  # here: reading a tree (fs imports this module) never needs it

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

    def groups(self, gap: int = 0) -> list[tuple[int, int, list[Patch]]]:
        """Every piece, as (lo, hi, pieces) groups of pieces that touch or are less than
        `gap` apart (gap 0: only pieces that touch are grouped).

        Each group is meant to become one rewrite of [lo, hi): the gaps between its pieces are
        filled from the file's current contents, so the extents under the group are rechunked
        once rather than once per write. The buffer is left as it is (reads still use it).
        """
        out: list[tuple[int, int, list[Patch]]] = []
        for start, piece in self.runs.items():
            if out and start - out[-1][1] < max(gap, 1):
                lo, _, members = out[-1]
                members.append((start, piece))
                out[-1] = (lo, start + len(piece), members)
            else:
                out.append((start, start + len(piece), [(start, piece)]))
        return out


class PiecesReader:
    """A readinto() stream over a list of byte pieces (the chunker's input), copying once.

    `copy_into` copies into a memory file with pwritev instead: in the kernel, without the
    GIL, which a read-write mount's FUSE loop needs for every request while a flush chunks
    its buffers (a memoryview copy holds the GIL for the whole copy).
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
