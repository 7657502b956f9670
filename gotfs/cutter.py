"""Cutter: FastCDC cuts of a stream, handed out as views of buffers that outlive the cut.

pyfastcdc's `cut_stream` reads into one 8 MiB buffer and, after every chunk that leaves less
than the largest chunk size in it, moves the rest (3-4 MiB) to the front, with the GIL held;
its chunks are views of that buffer, valid only until the next cut, so each had to be copied
(again with the GIL) before it could be sealed on another thread. On the mount's write path
those copies held the GIL for every byte written, while the FUSE loop was waiting for it.

A Cutter fills large segments instead and cuts them in place with `cut_buf`. A chunk stays a
view of its segment until the segment is refilled, and the Cutter refills a segment only
once every chunk cut from it is sealed (the caller registers each chunk's sealing with
`hold`). When what is left of a segment is shorter than the largest chunk, that tail moves
to the other segment's front (one copy per ~12 MiB, not per chunk) and the cutting goes on.

A segment may be a shared memory file (`Segment.in_memfd`), so that a stream which holds its
bytes in memory already (the mount's buffered writes) can copy them in with one pwritev, in
the kernel and without the GIL, instead of a memoryview copy that holds it (`copy_into`).

The cuts are exactly cut_stream's: FastCDC looks at most max_size bytes ahead, and both cut
only where at least that much is buffered or the stream has ended. Same input, same chunks,
so existing repositories still dedup against new writes.
"""

from __future__ import annotations

import mmap
import os
import weakref
from typing import TYPE_CHECKING, BinaryIO, Iterator

from gotkv.value import Value

if TYPE_CHECKING:  # imported where used: commands that only read pay for neither
    from concurrent.futures import Future

    from pyfastcdc import FastCDC


class Segment:
    """A reusable buffer and the sealing of the chunks cut from it since it was filled."""

    __slots__ = ("buffer", "holds", "fd", "__weakref__")

    def __init__(self, buffer: bytearray | mmap.mmap) -> None:
        self.buffer = buffer
        self.holds: list[Future] = []
        self.fd: int | None = None  # the memory file `buffer` maps, if it is one

    @classmethod
    def in_memfd(cls, size: int) -> Segment:
        """A segment in a memory file of its own (closed with the segment). No page is
        touched until written. Without memfd_create, an anonymous map (filled by readinto)."""
        try:
            fd = os.memfd_create("got-segment", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            return cls(mmap.mmap(-1, size))
        try:
            os.ftruncate(fd, size)
            segment = cls(mmap.mmap(fd, size, flags=mmap.MAP_SHARED))
        except BaseException:
            os.close(fd)
            raise
        segment.fd = fd
        weakref.finalize(segment, os.close, fd)
        return segment

    def settle(self) -> None:
        """Wait until nothing reads the chunks cut from it (errors surface to their owner)."""
        if self.holds:
            from concurrent.futures import wait as futures_wait

            futures_wait(self.holds)
            self.holds.clear()


class Cut(Value):
    """One chunk: where it starts in the stream, and its bytes (a view of `segment`)."""

    __slots__ = ("offset", "data", "segment")
    offset: int
    data: memoryview
    segment: Segment

    def __init__(self, offset: int, data: memoryview, segment: Segment) -> None:
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "segment", segment)


class Cutter:
    """Cuts a readinto() stream with `cdc` over two segments (each at least 2 x max_size)."""

    def __init__(self, cdc: FastCDC, stream: BinaryIO, segments: tuple[Segment, Segment]):
        for s in segments:
            if len(s.buffer) < 2 * cdc.max_size:
                raise ValueError(f"a segment must hold two largest chunks ({2 * cdc.max_size} bytes), "
                                 f"got {len(s.buffer)}")
        self._cdc = cdc
        self._stream = stream
        self._segments = segments

    def __iter__(self) -> Iterator[Cut]:
        max_size = self._cdc.max_size
        which, carried, base = 0, 0, 0  # segment in use, bytes carried into it, stream offset of its start
        while True:
            segment = self._segments[which]
            segment.settle()
            filled, eof = self._fill(segment, carried)
            view = memoryview(segment.buffer)[:filled]
            chunks = self._cdc.cut_buf(view)
            pos = 0
            while pos < filled and (eof or filled - pos >= max_size):
                chunk = next(chunks)
                yield Cut(base + pos, chunk.data, segment)
                pos += chunk.length
            if eof:
                return
            carried = filled - pos
            other = self._segments[1 - which]
            other.settle()
            other.buffer[:carried] = view[pos:filled]
            base += pos
            which = 1 - which

    def _fill(self, segment: Segment, start: int) -> tuple[int, bool]:
        """Read into the segment from `start` until it is full or the stream ends: (filled, ended)."""
        view = memoryview(segment.buffer)
        filled = start
        fd = segment.fd
        copy_into = getattr(self._stream, "copy_into", None) if fd is not None else None
        while filled < len(view):
            n = copy_into(view[filled:], fd, filled) if copy_into else self._stream.readinto(view[filled:])
            if not n:
                return filled, True
            filled += n
        return filled, False

    @staticmethod
    def hold(cut: Cut, sealing: Future) -> None:
        """`sealing` reads cut.data: its segment is not refilled before it is done."""
        cut.segment.holds.append(sealing)
