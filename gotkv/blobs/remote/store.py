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
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.remote.cache import BlobCache
from gotkv.blobs.remote.packs import READS_IN_FLIGHT, Place, fetch_blobs, pack_key
from gotkv.blobs.remote.remote import Remote
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge, InvalidInput, StoreClosed

T = TypeVar("T")
_PREFETCH_BATCH = 32 << 20


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
        self._prefetch = ThreadPoolExecutor(2, thread_name_prefix="got-remote-prefetch")
        self._prefetching: set[bytes] = set()
        self._closed = False

    # -- writing ----------------------------------------------------------------------------

    def post(self, data: bytes | memoryview, cid: bytes | None = None) -> bytes:
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
        self._packs.add(cid, bytes(data))
        return cid

    def flush(self) -> None:
        self._check_open()
        with self._lock:
            touched, self._touched = self._touched, set()
        self.remote.publish(touched=touched)

    # -- reading ----------------------------------------------------------------------------

    def _place(self, cid: bytes) -> Place | None:
        return self._packs.place_of(cid) or self._state.locate(cid)

    def get(self, cid: bytes) -> bytes:
        return self.get_many([cid])[cid]

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        return use(self.get(cid))

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        """The blobs, from pending packs, the cache, or one coalesced request per pack."""
        self._check_open()
        out: dict[bytes, bytes] = {}
        places: dict[bytes, Place] = {}
        for cid in dict.fromkeys(cids):
            data = self._packs.read_pending(cid)
            if data is None and self.cache is not None:
                data = self.cache.get(cid)
            if data is not None:
                out[cid] = data
                continue
            place = self._place(cid)
            if place is None:
                self.remote.refresh()  # another machine may have pushed it since
                place = self._place(cid)
            if place is None:
                raise BlobNotFound(cid, self.remote.url)
            places[cid] = place
        if places:
            fetched = fetch_blobs(self.remote.objects, places, self._reads)
            if self.cache is not None:
                for cid, data in fetched.items():
                    self.cache.put(cid, data)
            out.update(fetched)
        return out

    def hint(self, cids: Iterable[bytes]) -> None:
        """Fetch these into the cache in the background (nothing without a cache)."""
        if self.cache is None or self._closed:
            return
        todo = []
        with self._lock:
            for cid in cids:
                if cid not in self._prefetching and not self.cache.has(cid) and self._place(cid):
                    self._prefetching.add(cid)
                    todo.append(cid)
        batch, size = [], 0
        for cid in todo:
            batch.append(cid)
            size += self._place(cid)[2]
            if size >= _PREFETCH_BATCH:
                self._prefetch.submit(self._prefetch_batch, batch)
                batch, size = [], 0
        if batch:
            self._prefetch.submit(self._prefetch_batch, batch)

    def _prefetch_batch(self, cids: list[bytes]) -> None:
        try:
            self.get_many(cids)
        except Exception:  # noqa: BLE001 - a prefetch is advice; the read that needs it reports
            pass
        finally:
            with self._lock:
                self._prefetching.difference_update(cids)

    def stored_size(self, cid: bytes) -> int | None:
        place = self._place(cid)
        return place[2] if place else None

    def where(self, cid: bytes) -> None:
        return None

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        cids = set(cids)
        return (cids & self._packs.pending()) | self._state.has(cids)

    def list(self) -> Iterator[bytes]:
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
