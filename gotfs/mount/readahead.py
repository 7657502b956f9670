"""Reading file data for the mount: extent maps, chunk fetches shared between readers, readahead.

Why: a FUSE read is one request of at most 1 MiB (128 KiB unless the mount's read_ahead_kb
is raised), and data chunks are ~1 MiB blobs that must be fetched, verified and decompressed
before any byte of them can be returned. Reading strictly on demand would leave the disk and
the codec idle while the kernel copies each reply, and would fetch a chunk twice when two
requests land in it at once. So:

- `FileView` is a file's extents as sorted lists, for bisecting to the extents under a range
  (built once per open handle on an immutable root; per request in a writable mount).
- `Fetcher` decodes chunks into the mount's `Arena` (arena.py), in the order they are asked
  for, so that consecutive chunks of a file lie side by side. Prefetches go to a decoding
  child process (gotfs.mount.decoder) that writes into the arena, which both processes map:
  decoding then never waits for this process's GIL, which the FUSE loop holds while the
  kernel copies each reply. Chunks the child cannot place (compressed, of unknown place, or
  when it is gone) are decoded on a small thread pool instead, through `DataStore` (raw into
  the arena, compressed into its LRU). It never fetches one cid twice concurrently.
  Readers take in the child's answers every few jobs and when a chunk they need is not
  ready yet (`poll_due`), not on every request: a poll is a pipe read.
- `Sequential` spots a reader moving forward and tells which extents to prefetch next:
  the `window` bytes after the request, a quarter window at a time (one write to the
  child for several chunks), each extent prefetched once.

Replies are assembled from what the Fetcher returns by `Gather` (gather.py).
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from gotfs.chunking import DataStore
from gotfs.extent import Extent
from gotfs.mount.arena import Arena, Slot
from gotfs.mount import decoder
from gotfs.mount.decoder import Decoder, FileBacked
from gotfs.regions import Piece

log = logging.getLogger(__name__)

ARENA_BYTES = 64 << 20  # the mount's decoded-chunk arena (~58 chunks, preallocated)
POLL_EVERY = 4  # decoder jobs submitted between polls a reader makes on its own (Fetcher.poll_due)


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


@dataclass(slots=True)
class Fetched:
    """An extent's bytes; `where` is their place in the arena, and `slot` the arena chunk
    pinned for the caller (None when the bytes have memory of their own)."""

    data: memoryview
    where: int | None = None
    slot: Slot | None = None


class Pending:
    """A chunk fetch under way: `done` once it has ended (well or not; a reader that then
    finds the chunk missing fetches it itself, and so meets the error with its errno).

    Why not a concurrent.futures.Future: one is made and settled per chunk on the FUSE
    loop's thread, and nobody reads a result. A Future costs a Condition and an RLock to
    make and a notify to settle; readers wait on a fetch rarely (~1.5% of requests), so the
    Event they wait on is only made when one does. `done` and `event` change under the
    Fetcher's lock.
    """

    __slots__ = ("done", "event")

    def __init__(self):
        self.done = False
        self.event: threading.Event | None = None


def _nowhere(cid: bytes) -> None:
    return None


class Fetcher:
    """Chunk fetches into the arena (or the DataStore's cache), shared between readers, plus prefetch."""

    def __init__(self, data: DataStore, *, threads: int = 2, arena_bytes: int = ARENA_BYTES, offload: bool = True):
        self.data = data
        self.decoder: Decoder | None = None
        # The child reads stored bytes where they lie: only a store with files can offload
        # (any other, a remote one, decodes on threads, through Store.get).
        self._where = data.store.where if isinstance(data.store, FileBacked) else _nowhere
        if data.decodes_into and offload and self._where is not _nowhere:
            try:
                self.decoder = Decoder(data.codec, arena_bytes)
            except OSError as e:  # no memfd, no child: decode on threads
                log.warning("decoding on threads: could not start a decoder process (%s)", e)
        self.arena = None
        if data.decodes_into:
            self.arena = Arena(arena_bytes, self.decoder.buffer if self.decoder is not None else None)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="got-readahead")
        self._inflight: dict[bytes, Pending] = {}
        self._jobs: dict[int, tuple[Extent, Slot, Pending]] = {}  # decoder job -> what it is for
        self._lock = threading.Lock()
        self._closed = False
        self._unpolled = 0  # jobs submitted since the last poll (a hint: a race only moves a poll)

    def cached(self, extent: Extent) -> Fetched | None:
        """The extent's bytes if its chunk is decoded (pinned if in the arena), else None.
        Never blocks. (Call poll() first to take in what the decoder has finished.)"""
        cid = extent.ref.cid
        if self.arena is not None:
            slot = self.arena.acquire(cid)
            if slot is not None:
                where = slot.start + extent.offset
                return Fetched(self.arena.view[where:where + extent.length], where, slot)
        plain = self.data.cache.get(cid)
        if plain is None:
            return None
        return Fetched(memoryview(plain)[extent.offset:extent.offset + extent.length])

    def get(self, extent: Extent) -> Fetched:
        """The extent's bytes; waits for a prefetch of its chunk if one is under way. Blocks."""
        self.poll()
        got = self.cached(extent)
        if got is not None:
            return got
        with self._lock:
            pending = self._inflight.get(extent.ref.cid)
        if pending is not None:
            self._wait(pending)
            got = self.cached(extent)
            if got is not None:
                return got
        self._fetch(extent, self._reserve(extent))  # a failed prefetch's error surfaces here
        got = self.cached(extent)
        if got is not None:
            return got
        return Fetched(self.data.read_extent(extent))  # evicted at once by other readers: rare

    def _wait(self, pending: Pending) -> None:
        """Wait for a prefetch, collecting the decoder's answers meanwhile (there may be no
        event loop doing it: a worker thread, a test)."""
        while not pending.done:
            if self._jobs:
                self.poll(timeout=0.02)
                self._wait_settled(pending, 0.002)
            else:
                self._wait_settled(pending, 0.05)

    def _wait_settled(self, pending: Pending, timeout: float) -> None:
        with self._lock:
            if pending.done:
                return
            if pending.event is None:
                pending.event = threading.Event()
            event = pending.event
        event.wait(timeout)

    def poll_due(self) -> None:
        """poll() if POLL_EVERY jobs went to the decoder since the last poll.

        Why not poll on every read: a poll costs a pipe read (slow with the caches a 1 MiB
        reply leaves cold), and the decoder works a window ahead, so one poll takes in the
        answers for several reads. Readers poll() themselves when a chunk they need is not
        ready yet; this keeps the fallbacks for chunks the decoder cannot place (compressed
        ones) starting well ahead of the reader.
        """
        if self._unpolled >= POLL_EVERY:
            self.poll()

    def poll(self, timeout: float = 0.0) -> None:
        """Take in what the decoder has finished: ready chunks, and fallbacks for the rest."""
        self._unpolled = 0
        if not self._jobs:
            return
        for job, status in self.decoder.collect(timeout):
            with self._lock:
                extent, slot, pending = self._jobs.pop(job)
            if status == decoder.OK:
                self.arena.ready(slot)
                self._settle(extent, pending)
                continue
            self.arena.abandon(slot)  # compressed, or not readable there: decode it here,
            try:  # where a failure raises with its message
                self._pool.submit(self._run, extent, None, pending)
            except RuntimeError:  # closed
                self._settle(extent, pending)

    def release(self, held: list[Slot]) -> None:
        """Unpin arena chunks that Fetched results (or a Gather) held."""
        if self.arena is not None:
            self.arena.release(held)

    def prefetch(self, extents: Iterable[Extent]) -> None:
        """Fetch these chunks in the background (each cid at most once), placing them in the
        arena in this order."""
        with self._lock:
            if self._closed:
                return
            todo = []
            for extent in extents:
                cid = extent.ref.cid
                if cid in self._inflight or self._decoded(cid):
                    continue
                todo.append(extent)
                self._inflight[cid] = Pending()  # claimed: nobody else starts it
        if not todo:
            return
        stored_size = self.data.store.stored_size
        unknown = [x for x in todo if stored_size(x.ref.cid) is None]
        if unknown:  # (the mount hints whole spans ahead: most windows have none)
            self.data.hint(unknown)
        for extent in self._offload(todo):
            pending = self._inflight[extent.ref.cid]
            try:
                self._pool.submit(self._run, extent, self._reserve(extent), pending)
            except RuntimeError:  # closed meanwhile
                self._settle(extent, pending)

    def _offload(self, extents: list[Extent]) -> list[Extent]:
        """Hand the chunks to the decoder process, each into a place in the arena, in one
        write; returns those it cannot take (no decoder, place unknown, no room)."""
        if self.decoder is None or not self.decoder.alive:
            return extents
        rest, placed = [], []
        for extent in extents:
            place = self._where(extent.ref.cid)
            slot = None if place is None else self.arena.reserve(extent.ref.cid, self.data.codec.raw_size(place[2]))
            if slot is None:
                rest.append(extent)
            else:
                placed.append((extent, slot, place))
        if not placed:
            return rest
        with self._lock:  # registered before the child can answer (poll takes this lock)
            jobs = self.decoder.submit_many([(*place, extent.ref, slot.start, slot.size)
                                             for extent, slot, place in placed])
            for (extent, slot, _), job in zip(placed, jobs):
                if job is not None:
                    self._jobs[job] = (extent, slot, self._inflight[extent.ref.cid])
                    self._unpolled += 1
        for (extent, slot, _), job in zip(placed, jobs):
            if job is None:
                self.arena.abandon(slot)
                rest.append(extent)
        return rest

    def _decoded(self, cid: bytes) -> bool:
        return (self.arena is not None and self.arena.resident(cid)) or self.data.cache.get(cid) is not None

    def _reserve(self, extent: Extent) -> Slot | None:
        """A place in the arena for the extent's chunk, if its size is known without I/O."""
        if self.arena is None:
            return None
        stored = self.data.store.stored_size(extent.ref.cid)
        if stored is None:
            return None
        return self.arena.reserve(extent.ref.cid, self.data.codec.raw_size(stored))

    def _run(self, extent: Extent, slot: Slot | None, pending: Pending) -> None:
        try:
            self._fetch(extent, slot)
        except BaseException as e:  # surfaces again, with its errno, when a reader needs the chunk
            log.debug("prefetch of %s failed: %s", extent.ref.cid.hex()[:12], e)
        self._settle(extent, pending)

    def _settle(self, extent: Extent, pending: Pending) -> None:
        """The fetch has ended: forget it, and wake whoever waits for it."""
        with self._lock:
            self._inflight.pop(extent.ref.cid, None)
            pending.done = True
            event = pending.event
        if event is not None:
            event.set()

    def _fetch(self, extent: Extent, slot: Slot | None) -> None:
        """Decode the extent's chunk into `slot` if it is raw, else into the DataStore's cache."""
        if slot is not None:
            try:
                placed = self.data.decode_into(extent.ref, self.arena.view_of(slot))
            except BaseException:
                self.arena.abandon(slot)
                raise
            if placed:
                self.arena.ready(slot)
                return
            self.arena.abandon(slot)
        self.data.read_extent(extent)

    def wait_ready(self, timeout: float) -> bool:
        """Wait (up to `timeout` s) for the decoding child to finish starting, so that its
        start-up does not compete with the first reads; True if it has (or there is none)."""
        return self.decoder is None or self.decoder.wait_ready(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.decoder is not None:
            self.decoder.close()


@dataclass(slots=True)
class Sequential:
    """Per open handle: where the next sequential read would start, and how far we prefetched."""

    next_off: int = 0
    ahead: int = 0  # every extent starting before this offset has been prefetched
    streak: int = 0  # consecutive sequential reads

    def continues(self, off: int, slack: int) -> bool:
        """Whether a read at `off` would continue a forward run (advance's answer, nothing recorded)."""
        return self.next_off - slack <= off <= self.next_off + slack

    def advance(self, off: int, stop: int, slack: int) -> bool:
        """Record a read of [off, stop); True if it continues a forward run.

        The kernel keeps several readahead requests in flight and they may be served out of
        order, so a read within `slack` bytes of the expected offset still counts.
        """
        sequential = self.continues(off, slack)
        self.streak = self.streak + 1 if sequential else 0
        self.next_off = max(self.next_off, stop) if sequential else stop
        if not sequential:
            self.ahead = stop
        return sequential

    def plan(self, view: FileView, stop: int, window: int) -> list[Extent]:
        """Extents in [stop, stop + window) not yet prefetched; marks them prefetched.

        Nothing until a quarter of the window (or the rest of the file) is unplanned: the
        chunks then go to the decoder a few at a time, one write and one wake-up for them
        all, instead of one of each per read. The reader keeps 3/4 to all of the window
        ahead of it.
        """
        lo = max(stop, self.ahead)
        hi = min(stop + window, view.size)
        if lo >= hi or (hi - lo < window // 4 and hi < view.size):
            return []
        out = [extent for _, _, extent in view.under(lo, hi)]
        self.ahead = hi
        return out
