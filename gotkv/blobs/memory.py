"""MemoryStore: a dict behind a lock. For tests and for scratch trees.

It keeps the Store contract (store.py) to the letter, and more strictly where that catches
bugs: a vouched cid is checked. Nothing is durable; every call is O(1) per id in memory and no
I/O. Invariant: the bytes filed under a cid are the bytes that hash to it, and never change.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge

T = TypeVar("T")


class MemoryStore:
    """A Store kept in RAM. `posts` counts real (non-duplicate) posts and `gets` every get,
    for tests that count I/O. Thread-safe; it never raises StoreClosed (close does nothing)."""

    def __init__(self, max_size: int = MAX_BLOB_SIZE):
        self.max_size = max_size
        self._blobs: dict[bytes, bytes] = {}
        self._touched: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self.posts = 0
        self.gets = 0

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        """Keep a copy of `data` under its BLAKE3 cid (once; a repeat renews its touched time).
        Cost: one hash of `data`. Raises BlobTooLarge past max_size, and ValueError if a
        vouched `cid` is not the hash of `data` (a bug in the caller)."""
        if len(data) > self.max_size:
            raise BlobTooLarge(len(data), self.max_size)
        actual = content_id(data)
        if cid is not None and cid != actual:
            raise ValueError(f"post was vouched cid {cid.hex()[:16]}, but the bytes hash to {actual.hex()[:16]}")
        cid = actual
        with self._lock:
            if cid not in self._blobs:
                self._blobs[cid] = bytes(data)
                self.posts += 1
            self._touched[cid] = time.time()
        return cid

    def get(self, cid: bytes) -> bytes:
        """The bytes filed under `cid`. Raises BlobNotFound."""
        with self._lock:
            self.gets += 1
            try:
                return self._blobs[cid]
            except KeyError:
                raise BlobNotFound(cid, "memory store") from None

    def get_with(self, cid: bytes, use: Callable[[bytes], T]) -> T:
        """use(get(cid)). Raises BlobNotFound."""
        return use(self.get(cid))  # bytes never change: no copy needed

    def hint(self, cids: Iterable[bytes]) -> None:
        """Nothing to prepare."""
        pass  # everything is at hand

    def stored_size(self, cid: bytes) -> int | None:
        """The length of the bytes under `cid`, or None if absent."""
        blob = self._blobs.get(cid)
        return None if blob is None else len(blob)

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        """get() of each id. Raises BlobNotFound for the first missing one."""
        return {cid: self.get(cid) for cid in cids}

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        """The subset of `cids` held."""
        with self._lock:
            return {cid for cid in cids if cid in self._blobs}

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        """Remove blobs (absent ids are ignored; with `older_than`, spare those posted at or
        after it); return how many went."""
        n = 0
        with self._lock:
            for cid in cids:
                if older_than is not None and self._touched.get(cid, 0.0) >= older_than:
                    continue
                self._touched.pop(cid, None)
                n += self._blobs.pop(cid, None) is not None
        return n

    def list(self) -> Iterator[bytes]:
        """Every cid held, as of the call (a snapshot: later posts do not disturb it)."""
        with self._lock:
            return iter(list(self._blobs))

    def flush(self) -> None:
        """Nothing to make durable."""
        pass

    def close(self) -> None:
        """Nothing to release; the store stays usable."""
        pass

    def __len__(self) -> int:
        """How many blobs are held."""
        return len(self._blobs)
