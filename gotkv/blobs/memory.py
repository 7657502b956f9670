"""MemoryStore: a dict behind a lock. For tests and for scratch trees."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge

T = TypeVar("T")


class MemoryStore:
    """A Store kept in RAM. `posts` counts real (non-duplicate) posts, for tests that count writes."""

    def __init__(self, max_size: int = MAX_BLOB_SIZE):
        self.max_size = max_size
        self._blobs: dict[bytes, bytes] = {}
        self._touched: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self.posts = 0
        self.gets = 0

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
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
        with self._lock:
            self.gets += 1
            try:
                return self._blobs[cid]
            except KeyError:
                raise BlobNotFound(cid, "memory store") from None

    def get_with(self, cid: bytes, use: Callable[[bytes], T]) -> T:
        return use(self.get(cid))  # bytes never change: no copy needed

    def hint(self, cids: Iterable[bytes]) -> None:
        pass  # everything is at hand

    def stored_size(self, cid: bytes) -> int | None:
        blob = self._blobs.get(cid)
        return None if blob is None else len(blob)

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        return {cid: self.get(cid) for cid in cids}

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        with self._lock:
            return {cid for cid in cids if cid in self._blobs}

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        n = 0
        with self._lock:
            for cid in cids:
                if older_than is not None and self._touched.get(cid, 0.0) >= older_than:
                    continue
                self._touched.pop(cid, None)
                n += self._blobs.pop(cid, None) is not None
        return n

    def list(self) -> Iterator[bytes]:
        with self._lock:
            return iter(list(self._blobs))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._blobs)
