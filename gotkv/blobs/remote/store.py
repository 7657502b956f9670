"""RemoteStore: the Store interface (gotkv/blobs/store.py) over a Remote.

Posts go into packs (packs.py); `flush` uploads what is left and records every new blob's
place in one journal entry, after which the blobs are durable and visible to other
machines. Reads find a blob's place in the local mirror (no request), then fetch it with a
ranged GET, verify it against its id, and keep it in the BlobCache if there is one.

Costs: `exists`, `stored_size` and posting a blob the remote already holds ask nothing of
the remote. `get_many` makes one coalesced request per pack touched. `hint` fetches in the
background into the cache, so a mount's readahead turns into a few large GETs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.remote.cache import BlobCache
from gotkv.blobs.remote.packs import READS_IN_FLIGHT, Place, fetch_blobs, pack_key
from gotkv.blobs.remote.remote import Remote
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge, InvalidInput, StoreClosed

T = TypeVar("T")
_PREFETCH_BATCH = 8 << 20  # bytes per prefetch request batch
_PREFETCHERS = 6  # prefetch batches in flight
_PREFETCH_WAIT = 60.0  # seconds a reader waits for a prefetch already fetching its blob
_RECENT_BYTES = 96 << 20


class RemoteStore:
    """A content-addressed Store whose blobs live on a remote."""

    def __init__(self, remote: Remote, *, cache: BlobCache | None = None, max_size: int = MAX_BLOB_SIZE,
                 owns_remote: bool = False):
        self.remote = remote
        self._owns_remote = owns_remote
        self.max_size = max_size
        self.cache = cache
        self._packs = remote.packs
        self._state = remote.state
        self._touched: set[bytes] = set()
        self._lock = threading.Lock()
        self._reads = ThreadPoolExecutor(READS_IN_FLIGHT, thread_name_prefix="got-remote-get")
        self._prefetch = ThreadPoolExecutor(_PREFETCHERS, thread_name_prefix="got-remote-prefetch")
        self._prefetching: dict[bytes, threading.Event] = {}  # set once that blob's prefetch ends
        self._recent = _Recent(_RECENT_BYTES)  # prefetched blobs, for the reader about to ask
        self._thread = threading.local()
        self._closed = False

    # -- writing ----------------------------------------------------------------------------

    def post(self, data: bytes | memoryview, cid: bytes | None = None) -> bytes:
        """Add `data` to the open pack (copied) unless the remote or a pending pack holds it
        already (then it is only marked touched, so gc spares it). Cost: one hash without a
        vouched `cid`; no request, but a full pack is uploaded (one PUT) as the next one
        fills. Raises BlobTooLarge past max_size, InvalidInput for a non-bytes value,
        StoreClosed after close."""
        self._check_open()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"a blob must be bytes, not {type(data).__name__}")
        if len(data) > self.max_size:
            raise BlobTooLarge(len(data), self.max_size)
        cid = cid or content_id(data)
        if cid in self._packs.pending():
            return cid
        if self._state.has([cid]):
            with self._lock:
                self._touched.add(cid)
            return cid
        self._packs.add(cid, data)  # (copied into the open pack)
        return cid

    def flush(self) -> None:
        """Make every earlier post durable and visible to other machines: upload the open
        pack (one PUT) and record every new blob's place, and the touched ones, in one
        journal entry (one create-only PUT); no request when nothing was posted. Raises
        RemoteError when the remote fails past the retry budget, StoreClosed after close."""
        self._check_open()
        with self._lock:
            touched, self._touched = self._touched, set()
        self.remote.publish(touched=touched)

    # -- reading ----------------------------------------------------------------------------

    def _place(self, cid: bytes) -> Place | None:
        return self._packs.place_of(cid) or self._state.locate(cid)

    def get(self, cid: bytes) -> bytes:
        """get_many of one blob, copied to bytes: at most one ranged GET (none from a pending
        pack, a recent prefetch or the cache; a journal refresh first if the place is not
        known). Verified against `cid`. Raises BlobNotFound, RemoteError, IntegrityError."""
        return bytes(self.get_many([cid])[cid])

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        """use(get(cid)): the bytes come over the network, so there is nothing to lend
        without a copy. Cost and errors: get's."""
        return use(self.get(cid))

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        """The blobs (bytes-like: views of the engine's response, uncopied), from pending
        packs, recent prefetches, the cache, or one coalesced request per pack. A blob a prefetch is already fetching is waited for, not fetched
        twice (a mount's reader usually asks for what its readahead hinted a moment ago)."""
        self._check_open()
        out: dict[bytes, bytes] = {}
        places: dict[bytes, Place] = {}
        waits: list[tuple[bytes, threading.Event]] = []
        prefetching = getattr(self._thread, "prefetching", False)
        for cid in dict.fromkeys(cids):
            data = self._packs.read_pending(cid)
            if data is None:
                data = self._recent.get(cid)
            if data is None and self.cache is not None:
                event = None if prefetching else self._prefetching.get(cid)
                if event is not None:
                    waits.append((cid, event))
                    continue
                data = self.cache.get(cid)
            if data is not None:
                out[cid] = data
                continue
            places[cid] = self._locate(cid)
        for cid, event in waits:
            event.wait(_PREFETCH_WAIT)
            data = self._recent.get(cid)
            if data is None:
                data = self.cache.get(cid)
            if data is not None:
                out[cid] = data
            else:  # the prefetch failed or is slow: fetch it here (and meet its error, if any)
                places[cid] = self._locate(cid)
        if places:
            fetched = fetch_blobs(self.remote.objects, places, self._reads)
            if self.cache is not None:
                for cid, data in fetched.items():
                    self.cache.put(cid, data)
            out.update(fetched)
        return out

    def _locate(self, cid: bytes) -> Place:
        place = self._place(cid)
        if place is None:
            self.remote.refresh()  # another machine may have pushed it since
            place = self._place(cid)
        if place is None:
            raise BlobNotFound(cid, self.remote.url)
        return place

    def hint(self, cids: Iterable[bytes]) -> None:
        """Fetch these into the cache in the background (nothing without a cache), in
        batches of about _PREFETCH_BATCH bytes: one coalesced request per pack each."""
        if self.cache is None or self._closed:
            return
        todo = []
        with self._lock:
            for cid in cids:
                if cid not in self._prefetching and cid not in self._recent and not self.cache.has(cid):
                    place = self._place(cid)
                    if place is not None:
                        self._prefetching[cid] = threading.Event()
                        todo.append((cid, place[2]))
        batch, size = [], 0
        for cid, length in todo:
            batch.append(cid)
            size += length
            if size >= _PREFETCH_BATCH:
                self._prefetch.submit(self._prefetch_batch, batch)
                batch, size = [], 0
        if batch:
            self._prefetch.submit(self._prefetch_batch, batch)

    def _prefetch_batch(self, cids: list[bytes]) -> None:
        self._thread.prefetching = True
        try:
            for cid, data in self.get_many(cids).items():
                self._recent.put(cid, bytes(data))  # (a view would keep its whole response alive)
        except Exception:  # noqa: BLE001 - a prefetch is advice; the read that needs it reports
            pass
        finally:
            with self._lock:
                events = [self._prefetching.pop(c) for c in cids if c in self._prefetching]
            for event in events:
                event.set()

    def stored_size(self, cid: bytes) -> int | None:
        """The stored length from a pending pack or the local mirror of the journal; no
        request (None if neither knows it)."""
        place = self._place(cid)
        return place[2] if place else None

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        """Those of `cids` in pending packs or in the journal as this machine last read it:
        no request (a blob another machine pushed since is not seen until a refresh)."""
        cids = set(cids)
        return (cids & self._packs.pending()) | self._state.has(cids)

    def list(self) -> Iterator[bytes]:
        """Every blob the journal records, after reading its new entries (one GET each), and
        the pending ones; never a listing of the bucket."""
        self.remote.refresh()
        return iter({c for c, _ in self._state.blobs()} | self._packs.pending())

    def stats(self) -> dict[str, int]:
        """What the remote holds, as far as this machine has read its journal."""
        return self._state.stats()

    # -- deleting ---------------------------------------------------------------------------

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        """Forget blobs: unflushed ones at once, recorded ones by a journal entry; a pack
        none of whose blobs is still recorded is deleted. Blobs posted at or after
        `older_than` are spared (so are all unflushed ones when it is given)."""
        self._check_open()
        cids = set(cids)
        removed = sum(1 for c in cids if older_than is None and self._packs.forget(c))
        self.remote.refresh()
        dropped = self._state.posted_before(cids, older_than)
        if dropped:
            packs = {p for p, _, _ in self._state.locate_many(dropped).values()}
            with self._lock:
                self._touched -= dropped
            self.remote.publish(dropped=dropped)
            self.remote.objects.delete(pack_key(p) for p in packs if self._state.live_in(p) == 0)
        return removed + len(dropped)

    # -- lifetime ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the remote store is closed")

    def close(self) -> None:
        """flush(), then stop the prefetch and read threads (and close the remote if this
        store owns it). A second close does nothing."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._prefetch.shutdown(wait=True, cancel_futures=True)
            self._reads.shutdown(wait=True)
            if self._owns_remote:
                self.remote.close()

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Recent:
    """The last prefetched blobs, up to `limit` bytes, oldest evicted first: a reader takes
    them from memory instead of reading back (and re-verifying) the cache's copy."""

    def __init__(self, limit: int):
        self.limit = limit
        self._blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def put(self, cid: bytes, data: bytes) -> None:
        with self._lock:
            if cid in self._blobs:
                return
            self._blobs[cid] = data
            self._size += len(data)
            while self._size > self.limit:
                _, old = self._blobs.popitem(last=False)
                self._size -= len(old)

    def get(self, cid: bytes) -> bytes | None:
        with self._lock:
            return self._blobs.get(cid)

    def __contains__(self, cid: bytes) -> bool:
        with self._lock:
            return cid in self._blobs
