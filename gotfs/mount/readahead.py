"""Reading file data for the mount: extent maps, chunk fetches shared between readers, readahead.

Why: a FUSE read is one request of at most 1 MiB (128 KiB unless the mount's read_ahead_kb
is raised), and data chunks are ~1 MiB blobs that must be fetched, verified and decompressed
before any byte of them can be returned. Reading strictly on demand would leave the disk and
the codec idle while the kernel copies each reply, and would fetch a chunk twice when two
requests land in it at once. So:

- `FileView` is a file's extents as sorted lists, for bisecting to the extents under a range
  (built once per open handle on an immutable root; per request in a writable mount).
- `Fetcher` gets chunks through `DataStore.read_extent` (its LRU is the chunk cache), never
  fetching one cid twice concurrently, and prefetches on a small thread pool of its own.
- `Sequential` spots a reader moving forward and tells which extents to prefetch next:
  the `window` bytes after the request, each extent prefetched once.
- `Gather` is a reply in parts: a memoryview of the cached chunk when one extent covers the
  whole request (no copy), else written into a reply buffer, with holes as zeros and buffered
  writes laid on top.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from gotfs.chunking import DataStore
from gotfs.extent import Extent

log = logging.getLogger(__name__)

Piece = tuple[int, int, Extent]  # (start, end) of the extent in the file, and the extent
Patch = tuple[int, bytes]  # (offset, bytes) written but not yet in the tree


@dataclass(slots=True)
class FileView:
    """A file's size and its extents (sorted, disjoint) — all, or those under some range."""

    size: int
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    extents: list[Extent] = field(default_factory=list)

    @classmethod
    def of(cls, size: int, pieces: Iterable[Piece]) -> FileView:
        view = cls(size)
        for start, end, extent in pieces:
            view.starts.append(start)
            view.ends.append(end)
            view.extents.append(extent)
        return view

    def under(self, off: int, stop: int) -> Iterator[Piece]:
        """Extents overlapping [off, stop), in order. O(log n + k)."""
        i = bisect_right(self.ends, off)
        ends, starts, extents = self.ends, self.starts, self.extents
        while i < len(ends) and starts[i] < stop:
            yield starts[i], ends[i], extents[i]
            i += 1


class Fetcher:
    """Chunk fetches through the DataStore cache, shared between readers, plus prefetch."""

    def __init__(self, data: DataStore, *, threads: int = 2):
        self.data = data
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="got-readahead")
        self._inflight: dict[bytes, Future] = {}
        self._lock = threading.Lock()
        self._closed = False

    def cached(self, extent: Extent) -> memoryview | None:
        plain = self.data.cache.get(extent.ref.cid)
        if plain is None:
            return None
        return memoryview(plain)[extent.offset:extent.offset + extent.length]

    def get(self, extent: Extent) -> memoryview:
        """The extent's bytes; waits for a prefetch of its chunk if one is under way. Blocks."""
        view = self.cached(extent)
        if view is not None:
            return view
        with self._lock:
            future = self._inflight.get(extent.ref.cid)
        if future is not None:
            try:
                future.result()
            except Exception:  # the prefetch failed: fetch again and let the error surface here
                pass
        return self.data.read_extent(extent)

    def prefetch(self, extents: Iterable[Extent]) -> None:
        """Fetch these chunks into the cache in the background (each cid at most once)."""
        with self._lock:
            if self._closed:
                return
            for extent in extents:
                cid = extent.ref.cid
                if cid in self._inflight or self.data.cache.get(cid) is not None:
                    continue
                self._inflight[cid] = self._pool.submit(self._fetch, extent)

    def _fetch(self, extent: Extent) -> None:
        try:
            self.data.read_extent(extent)
        except Exception as e:  # surfaces again, with its errno, when a reader needs the chunk
            log.debug("prefetch of %s failed: %s", extent.ref.cid.hex()[:12], e)
            raise
        finally:
            with self._lock:
                self._inflight.pop(extent.ref.cid, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class Sequential:
    """Per open handle: where the next sequential read would start, and how far we prefetched."""

    next_off: int = 0
    ahead: int = 0  # every extent starting before this offset has been prefetched
    streak: int = 0  # consecutive sequential reads

    def advance(self, off: int, stop: int, slack: int) -> bool:
        """Record a read of [off, stop); True if it continues a forward run.

        The kernel keeps several readahead requests in flight and they may be served out of
        order, so a read within `slack` bytes of the expected offset still counts.
        """
        sequential = self.next_off - slack <= off <= self.next_off + slack
        self.streak = self.streak + 1 if sequential else 0
        self.next_off = max(self.next_off, stop) if sequential else stop
        if not sequential:
            self.ahead = stop
        return sequential

    def plan(self, view: FileView, stop: int, window: int) -> list[Extent]:
        """Extents in [stop, stop + window) not yet prefetched; marks them prefetched."""
        lo = max(stop, self.ahead)
        hi = min(stop + window, view.size)
        if lo >= hi:
            return []
        out = [extent for _, _, extent in view.under(lo, hi)]
        self.ahead = hi
        return out


_ZEROS = memoryview(bytes(1 << 20))  # holes are filled from here, a slice at a time


@dataclass(slots=True)
class Gather:
    """What one read replies with: extent bytes (start, end, data) over [off, stop), patches on top.

    Holes read as zeros. Built on a worker thread (fetching may block), turned into bytes on
    the event loop: `single()` when one extent covers the whole range without patches (a
    memoryview of the cached chunk, nothing copied), else `into(buffer)`, which lets the FUSE
    adapter reuse one reply buffer instead of allocating (and page-faulting) a megabyte for
    most requests, since chunk boundaries rarely fall on the kernel's 1 MiB request offsets.
    """

    off: int
    stop: int
    pieces: list[tuple[int, int, memoryview]]
    patches: list[Patch] = field(default_factory=list)

    def single(self) -> memoryview | bytes | None:
        """The reply without copying, if it is one slice of one chunk (or empty); else None."""
        if self.stop <= self.off:
            return b""
        if not self.patches and len(self.pieces) == 1:
            start, end, data = self.pieces[0]
            if start <= self.off and end >= self.stop:
                return data[self.off - start:self.stop - start]
        return None

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

    def to_bytes(self) -> memoryview | bytes:
        """The reply in memory of its own (or a slice of a cached chunk)."""
        single = self.single()
        return single if single is not None else self.into(bytearray(self.stop - self.off))
