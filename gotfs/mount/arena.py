"""Arena: the mount's decoded data chunks, side by side in one preallocated buffer.

Why: the kernel asks for 1 MiB at offsets that rarely fall on chunk boundaries (chunks are
content-defined, ~1.1 MiB), so most reads straddle two chunks. If every chunk had memory of
its own, each such reply would first be copied into one buffer on the FUSE loop's thread,
a megabyte per request with the GIL held. Chunks of a file are fetched in file order, so the
arena places them in that order, one after another: a read across two consecutive chunks is
one slice of the arena, handed to the kernel with no copy. And the buffer is allocated and
faulted in once, so decoding a chunk costs no allocation, no zeroing and no page faults.

The arena is a ring: space is reserved at `head`, which moves forward and wraps to the start;
reserving evicts the oldest chunks in the way. A chunk in use is *pinned*: while it is being
decoded into its place (by the fetching thread) and while a reply made of it is on its way to
the kernel (by the reader; see Ops.read for when that ends). Pinned chunks are never evicted:
a reservation that would need one fails, and the caller decodes into memory of its own.

All methods take the arena's lock; they are called from the FUSE loop, worker threads and the
readahead pool alike.
"""

from __future__ import annotations

import threading
from collections import deque


class Slot:
    """One chunk's place in the arena."""

    __slots__ = ("cid", "start", "size", "pins", "ready")

    def __init__(self, cid: bytes, start: int, size: int):
        self.cid = cid
        self.start = start
        self.size = size
        self.pins = 1  # the fetcher's, until the chunk is decoded (or abandoned)
        self.ready = False


class Arena:
    """A ring of decoded chunks in one buffer. See the module docstring."""

    def __init__(self, size: int, buffer=None):
        """`buffer`: memory of at least `size` bytes to use (a mapping shared with a decoding
        process); by default a bytearray, zero-filled, so every page is faulted in now."""
        self.size = size
        self.buffer = buffer if buffer is not None else bytearray(size)
        self.view = memoryview(self.buffer)[:size]
        self._ring: deque[Slot] = deque()  # resident slots, oldest (lowest after head) first
        self._by_cid: dict[bytes, Slot] = {}
        self._head = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ring)

    def reserve(self, cid: bytes, size: int) -> Slot | None:
        """A pinned place for `size` bytes of chunk `cid`, evicting the oldest chunks in the way;
        None if `cid` already has a place, if size is 0 or too big, or if a pinned chunk is in
        the way. The caller decodes into view_of(slot), then calls ready() or abandon()."""
        if not 0 < size <= self.size:
            return None
        with self._lock:
            if cid in self._by_cid:
                return None
            start = self._head
            if start + size > self.size:  # no room before the end: wrap around
                if not self._evict(start, self.size):
                    return None
                start = 0
            if not self._evict(start, start + size):
                return None  # (head stays: the next, smaller chunk may still fit after it)
            slot = Slot(cid, start, size)
            self._head = start + size
            self._ring.append(slot)
            self._by_cid[cid] = slot
            return slot

    def _evict(self, start: int, end: int) -> bool:
        """Evict the oldest slots that start in [start, end): the ring's free space always
        runs from head round to its oldest slot, so the slots in the way of a reservation at
        or after head are the oldest, in order. False if one is pinned; the caller gives up.
        Caller holds the lock."""
        ring = self._ring
        while ring and start <= ring[0].start < end:
            if ring[0].pins:
                return False
            old = ring.popleft()
            if self._by_cid.get(old.cid) is old:  # (an abandoned slot's cid may be placed anew)
                del self._by_cid[old.cid]
        return True

    def view_of(self, slot: Slot) -> memoryview:
        return self.view[slot.start:slot.start + slot.size]

    def ready(self, slot: Slot) -> None:
        """The chunk is decoded in its place: readers may use it. Drops the fetcher's pin."""
        with self._lock:
            slot.ready = True
            slot.pins -= 1

    def abandon(self, slot: Slot) -> None:
        """The chunk could not be decoded into its place (compressed, or an error): forget
        it. Its space is reused as the ring comes round again."""
        with self._lock:
            slot.pins -= 1
            if self._by_cid.get(slot.cid) is slot:
                del self._by_cid[slot.cid]  # stays in the ring, unpinned and unreachable

    def acquire(self, cid: bytes) -> Slot | None:
        """The decoded chunk `cid`, pinned for the caller (release it), or None."""
        with self._lock:
            slot = self._by_cid.get(cid)
            if slot is None or not slot.ready:
                return None
            slot.pins += 1
            return slot

    def release(self, slots: list[Slot]) -> None:
        """Unpin slots from acquire()."""
        if slots:
            with self._lock:
                for slot in slots:
                    slot.pins -= 1

    def resident(self, cid: bytes) -> bool:
        """True if `cid` has a place (decoded or being decoded)."""
        return cid in self._by_cid
