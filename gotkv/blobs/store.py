"""The Store interface: where stored bytes live, filed under their content id.

A store knows nothing of codecs or trees: it maps a 32-byte cid to the exact bytes posted.
Contract (checked for every store by tests/gotkv/blobs/test_store_conformance.py):

- `post(data) -> cid` files `data` under BLAKE3(data); posting the same bytes twice is a no-op.
  `post(data, cid)` vouches for the cid: the caller has just computed BLAKE3 of these very
  bytes (the codec names every blob it seals), and a store in this process may trust it
  instead of hashing a megabyte again (a third BLAKE3 pass per chunk on the write path,
  after the key and the cid). MemoryStore checks it anyway, so tests catch a wrong one.
  `data` may be a view of the caller's buffer, which the caller reuses once post returns (the
  write path seals every chunk into one of a few such buffers): a store that keeps the bytes
  keeps a copy.
- `get(cid)` returns those bytes or raises BlobNotFound. A store on this machine need not
  verify on read: the codec verifies the tag (or, unencrypted, the hash) of everything it
  decodes, and `sync` verifies by re-hashing. A store whose bytes come from beyond this
  machine's trust (a remote store shared with others who hold the repo secret) must check
  the cid of what it returns, since the tag cannot tell one secret holder's bytes from
  another's (see codec.py). `get_with(cid, use)` hands them to `use` without copying where it
  can (a view of a mapped pack, valid during the call only), for hot paths that would
  otherwise copy a megabyte per chunk.
- Bulk calls (`get_many`, `exists`, `delete`) take many ids at once so that remote stores can
  pipeline them.
- `flush()` makes every earlier post durable: after it returns, a crash loses none of them.
  Callers flush before they publish a ref to posted blobs (a branch, a working root).
- Stores are safe to use from many threads at once.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

MAX_BLOB_SIZE = (4 << 20) + 4096  # a 4 MiB chunk plus codec overhead


@runtime_checkable
class Store(Protocol):
    """A content-addressed blob store."""

    max_size: int

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        """Store `data`; return its cid (`cid` if given: see the contract). Durable only after flush()."""
        ...

    def get(self, cid: bytes) -> bytes:
        """Return the bytes filed under `cid`; raise BlobNotFound if absent."""
        ...

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        """use(the same bytes as get()) -> its result. The bytes may be a read-only view of the
        store's own memory, valid only until `use` returns: `use` must not keep it, nor
        anything that shares its memory. BlobNotFound if absent."""
        ...

    def hint(self, cids: Iterable[bytes]) -> None:
        """These blobs will be read soon: a store may prepare (locate them, start fetching).
        Never needed for correctness; absent ids are ignored."""
        ...

    def stored_size(self, cid: bytes) -> int | None:
        """The length of the bytes filed under `cid` if the store knows it without I/O (it
        holds them in memory, or they were posted or hinted here), else None."""
        ...

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes | memoryview]:
        """Fetch many blobs, as bytes or read-only bytes-like views that the caller may keep
        (a remote store hands out views of its responses, uncopied); raise BlobNotFound for
        the first missing one."""
        ...

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        """Return the subset of `cids` that the store holds."""
        ...

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        """Remove blobs (absent ids are ignored); return how many were removed.

        With `older_than` (a time.time() value), spare blobs posted or re-posted at or after
        it: garbage collection passes its start time minus a grace period, so a blob that a
        concurrent writer has just posted (or deduplicated against) is never swept.
        """
        ...

    def list(self) -> Iterator[bytes]:
        """Every cid held, in no particular order."""
        ...

    def flush(self) -> None:
        """Make every earlier post durable."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...
