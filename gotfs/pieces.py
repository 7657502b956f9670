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
calls. Pieces never change, so readers may use them without copying. Costs: an append is
O(1), another write O(log pieces + pieces after it) (a slice of a list), copying nothing (but
tiny appends merged into the piece before them); `overlay` copies nothing.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right


Patch = tuple[int, bytes]  # (offset, bytes) written but not yet in the tree
TINY = 4096  # appends smaller than this are merged into the piece before them ...
MERGED = 64 << 10  # ... while that piece is smaller than this
_IOV_MAX = 1024  # buffers per pwritev (Linux's limit)


class DirtyFile:
    """Buffered writes of one file. `end` is the highest byte written + 1 (0 when empty).

    The pieces are two parallel lists sorted by offset (starts, and the pieces themselves),
    searched with bisect. A program appends (a log, a WAL, a file written front to back) or
    rewrites a few places, so a write is almost always an append at the end (O(1)) or a
    replacement of a slice of a few entries; a list's insert in the middle moves pointers
    in C, which for the pieces a buffer can hold (<= max_dirty / TINY merged) costs less
    than a sorted container's bookkeeping on every write, and a new file costs two lists.
    """

    __slots__ = ("_starts", "_pieces", "nbytes", "mtime_ns")

    def __init__(self) -> None:
        self._starts: list[int] = []  # offset of each piece, ascending
        self._pieces: list = []  # bytes or memoryview (never mutated), disjoint, none empty
        self.nbytes = 0
        self.mtime_ns: int | None = None

    def __bool__(self) -> bool:
        return bool(self._starts)

    @property
    def end(self) -> int:
        if not self._starts:
            return 0
        return self._starts[-1] + len(self._pieces[-1])

    def items(self) -> list[Patch]:
        """Every piece, as (offset, bytes), in order."""
        return list(zip(self._starts, self._pieces))

    def write(self, off: int, data: bytes) -> int:
        """Buffer `data` at `off` (kept, not copied: it must not change); return the growth."""
        n = len(data)
        if not n:
            return 0
        starts, pieces = self._starts, self._pieces
        if starts:
            last = pieces[-1]
            last_end = starts[-1] + len(last)
            if off >= last_end:  # an append (or past a hole): nothing overlapped
                if off == last_end and n < TINY and len(last) < MERGED:
                    pieces[-1] = bytes(last) + bytes(data)
                else:
                    starts.append(off)
                    pieces.append(data)
                self.nbytes += n
                return n
        else:
            starts.append(off)
            pieces.append(data)
            self.nbytes += n
            return n
        return self._overwrite(off, data)

    def _overwrite(self, off: int, data: bytes) -> int:
        """write() where the new bytes may overlap pieces: keep only what sticks out of those
        on either side, then file the new piece (merged into the one before it if tiny)."""
        starts, pieces = self._starts, self._pieces
        end = off + len(data)
        before = self.nbytes
        lo = max(bisect_right(starts, off) - 1, 0)
        if starts[lo] + len(pieces[lo]) <= off:
            lo += 1  # the piece before `off` ends before it
        hi = bisect_left(starts, end, lo)  # pieces [lo, hi) start before `end`: overlapped
        new_starts: list[int] = []
        new_pieces: list = []
        if lo < hi:
            first, first_start = pieces[lo], starts[lo]
            last, last_start = pieces[hi - 1], starts[hi - 1]
            self.nbytes -= sum(len(p) for p in pieces[lo:hi])
            if first_start < off:
                new_starts.append(first_start)
                new_pieces.append(memoryview(first)[:off - first_start])
                self.nbytes += off - first_start
            tail_stop = last_start + len(last)
        else:
            tail_stop = end
        at = lo + len(new_starts)  # where the new piece goes
        prev = at - 1
        merged = False
        if len(data) < TINY:
            if new_starts:
                prev_start, prev_piece = new_starts[-1], new_pieces[-1]
            elif lo > 0:
                prev_start, prev_piece = starts[lo - 1], pieces[lo - 1]
            else:
                prev_piece = None
            if prev_piece is not None and prev_start + len(prev_piece) == off and len(prev_piece) < MERGED:
                merged = True
                joined = bytes(prev_piece) + bytes(data)
                if new_starts:
                    new_pieces[-1] = joined
                else:
                    pieces[prev] = joined
        if not merged:
            new_starts.append(off)
            new_pieces.append(data)
        self.nbytes += len(data)
        if tail_stop > end:
            new_starts.append(end)
            new_pieces.append(memoryview(last)[end - last_start:])
            self.nbytes += tail_stop - end
        starts[lo:hi] = new_starts
        pieces[lo:hi] = new_pieces
        return self.nbytes - before

    def overlay(self, off: int, stop: int) -> list[Patch]:
        """The buffered bytes inside [off, stop), as (offset, bytes) views (nothing copied)."""
        out = []
        starts, pieces = self._starts, self._pieces
        i = max(bisect_right(starts, off) - 1, 0)
        n = len(starts)
        while i < n and starts[i] < stop:
            start = starts[i]
            piece = pieces[i]
            lo, hi = max(start, off), min(start + len(piece), stop)
            if hi > lo:
                out.append((lo, memoryview(piece)[lo - start:hi - start]))
            i += 1
        return out

    def reach(self, off: int, stop: int) -> int:
        """How far the run of buffered bytes from `off` goes (pieces that touch count as one
        run), followed no further than `stop`: a result >= stop means all of [off, stop) is
        buffered; `off` itself if the byte at `off` is not. O(log n + pieces in [off, stop))."""
        starts, pieces = self._starts, self._pieces
        i = bisect_right(starts, off) - 1
        if i < 0:
            return off
        pos, n = off, len(starts)
        while i < n and starts[i] <= pos < stop:
            pos = max(pos, starts[i] + len(pieces[i]))
            i += 1
        return pos

    def drop_from(self, size: int) -> int:
        """Forget buffered bytes at or past `size` (truncate); return how many were dropped."""
        starts, pieces = self._starts, self._pieces
        i = bisect_left(starts, size)
        dropped = sum(len(p) for p in pieces[i:])
        del starts[i:], pieces[i:]
        if i and starts[i - 1] + len(pieces[i - 1]) > size:
            dropped += starts[i - 1] + len(pieces[i - 1]) - size
            pieces[i - 1] = memoryview(pieces[i - 1])[:size - starts[i - 1]]
        self.nbytes -= dropped
        return dropped

    def whole(self, size: int) -> list | None:
        """The pieces, if they cover [0, max(end, size)) without a gap: the file's whole contents."""
        pos = 0
        for start, piece in zip(self._starts, self._pieces):
            if start != pos:
                return None
            pos += len(piece)
        return list(self._pieces) if pos >= size and pos else None

    def groups(self, gap: int = 0) -> list[tuple[int, int, list[Patch]]]:
        """Every piece, as (lo, hi, pieces) groups of pieces that touch or are less than
        `gap` apart (gap 0: only pieces that touch are grouped).

        Each group is meant to become one rewrite of [lo, hi): the gaps between its pieces are
        filled from the file's current contents, so the extents under the group are rechunked
        once rather than once per write. The buffer is left as it is (reads still use it).
        """
        out: list[tuple[int, int, list[Patch]]] = []
        for start, piece in zip(self._starts, self._pieces):
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
