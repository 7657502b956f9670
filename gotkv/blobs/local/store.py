"""LocalStore: the Store of got's embedded default, in a directory (see the package docstring).

This module ties the parts together and holds what is shared between them: the map of posts
not yet indexed (`_pending`, so a process reads its own writes at once), the renewals waiting
for the next flush (`_rehits`), and the places remembered by `hint`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import functools
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.local import compaction
from gotkv.blobs.local.index import PackIndex, Place
from gotkv.blobs.local.packreader import PackGone, PackReader, Truncated
from gotkv.blobs.local.packwriter import PACK_LIMIT, PackWriter, pack_file
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge, DiskFull, GotError, IntegrityError

if TYPE_CHECKING:
    from pathlib import Path

T = TypeVar("T")

_HINTS = 1 << 18  # places remembered by hint() (~60 MiB at most)


class LocalStore:
    """A crash-safe, multi-process Store in a directory: append-only packs indexed by SQLite.

    Costs below count disk operations: an index lookup is one SQLite query (usually served
    from the page cache), a bulk call costs one query per 500 ids. After close(), every call
    that needs the index raises StoreClosed. Invariants: a blob posted by this process is
    readable by it at once; every blob posted before a flush() survives any crash after it;
    an index row never names bytes that are not on disk; stored bytes are never changed in
    place. Thread-safe, and safe to share a directory between processes.
    """

    def __init__(self, path: str | os.PathLike, *, max_size: int = MAX_BLOB_SIZE, pack_limit: int = PACK_LIMIT):
        """Open (creating if need be) the store in directory `path`. Cost: the index's schema
        statement. A pack is opened only at the first post."""
        self._dir = os.fspath(path)
        self.max_size = max_size
        self.pack_limit = pack_limit
        packs = os.path.join(self._dir, "packs")
        os.makedirs(packs, exist_ok=True)
        self._lock = threading.Lock()  # guards the maps below; taken before PackWriter's, never after
        self._flush_lock = threading.Lock()  # one flush (or delete, or compaction move) at a time
        self._index = PackIndex(os.path.join(self._dir, "index.sqlite"))
        self._packs = PackWriter(packs, self._index, limit=pack_limit)
        self._reader = PackReader(packs)
        self._pending: dict[bytes, Place] = {}  # posted, not yet indexed (see flush)
        self._rehits: set[bytes] = set()  # posts found already stored, renewed at flush
        self._lost: set[bytes] = set()  # re-posted blobs deleted before their flush (see flush)
        self._hinted: dict[bytes, Place] = {}  # see hint()
        self._deletes = 0  # bumped by delete(), so a hint() racing one discards what it found
        self._pack_paths: dict[int, str] = {}
        self._closed = False

    # The directory is kept as given; `path`, a pathlib.Path, is made on first use, so that
    # reading blobs (`got cat`, `got show`) imports no pathlib.
    @functools.cached_property
    def path(self) -> Path:
        """The store's directory."""
        from pathlib import Path

        return Path(self._dir)

    # -- writing ---------------------------------------------------------------------------

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        """Append `data` to this process's pack and return its cid; durable at the next flush.

        A vouched `cid` is trusted: the bytes come from this process's own codec (see
        store.py). Cost: one index lookup, then, unless the blob is already stored (a dedup
        hit, renewed at the next flush), one write; no sync. Raises BlobTooLarge past
        max_size, and OSError if the write fails (nothing is recorded; later posts are
        unaffected).
        """
        if len(data) > self.max_size:
            raise BlobTooLarge(len(data), self.max_size)
        if cid is None:
            cid = content_id(data)
        if cid in self._pending:
            return cid
        if self._index.contains(cid):
            with self._lock:
                self._rehits.add(cid)  # renewed (and checked) at flush
            return cid
        with self._lock:
            if cid in self._pending:
                return cid
            self._pending[cid] = self._packs.append(cid, data, may_roll=True)
            self._lost.discard(cid)
        return cid

    def flush(self) -> None:
        """Make every earlier post durable: fdatasync every pack written since the last flush,
        *then* index the posts in one transaction, so no row ever names bytes not on disk.

        Cost: one fdatasync per pack appended to (usually one) and one transaction, whatever
        the number of posts; nothing if there were none. Raises OSError if a sync fails
        (nothing is indexed, and the next flush syncs again), and BlobNotFound while a
        re-posted blob (a dedup hit) was deleted before its flush and has not been posted
        again: a caller about to publish a root must not record one that names it. The rest
        is durable regardless.

        Posts go on while a flush waits for the disk: it works on a snapshot of what was
        posted before it, and holds the lock only to take and to retire that snapshot (a
        mount spilling a large copy must not stall for the second an fdatasync can take).
        """
        with self._flush_lock:
            with self._lock:
                pending = dict(self._pending)
                rehits = self._rehits - pending.keys()
                fds = self._packs.take_unsynced() if pending or rehits else []
            if pending or rehits:
                self._packs.sync(fds)
                self._record(pending, rehits)
            with self._lock:
                lost = sorted(self._lost)
        if lost:
            raise BlobNotFound(lost[0], f"local store {self.path} (deleted after it was re-posted; post it again)")

    def _record(self, pending: dict[bytes, Place], rehits: set[bytes]) -> None:
        """Index synced posts and renew re-posted ones, in one transaction; then drop them
        from the in-memory maps (kept until now, so reads find them meanwhile). A renewal
        that found no row is remembered in _lost, for flush to report."""
        renew = list(rehits)
        renewed = self._index.record(pending, renew, time.time())
        lost = set(renew) - self._index.present(renew) if renewed < len(renew) else set()
        with self._lock:
            for cid in pending:
                self._pending.pop(cid, None)
            self._rehits.difference_update(renew)
            self._rehits.difference_update(pending)
            self._lost |= lost

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        """Remove blobs (absent ids are ignored); return how many went. With `older_than`,
        spare those posted or re-posted at or after it (see Store.delete).

        Cost: one transaction; the space is given back only by compact(). Waits for a flush
        under way, and no flush starts meanwhile.
        """
        cids = list(cids)
        with self._flush_lock, self._lock:  # not between a flush's snapshot and its rows
            self._deletes += 1
            for cid in cids:
                self._hinted.pop(cid, None)
            n = self._index.delete(cids, older_than)
            if older_than is None:
                for cid in cids:
                    n += self._pending.pop(cid, None) is not None
        return n

    # -- locating --------------------------------------------------------------------------

    def _locate(self, cid: bytes) -> Place | None:
        loc = self._pending.get(cid) or self._hinted.pop(cid, None)
        if loc is not None:
            return loc
        return self._index.place(cid)

    def hint(self, cids: Iterable[bytes]) -> None:
        """Look up where these blobs are, in a few queries, ahead of reading them.

        Cost: one query per 500 ids not already known. Each hint serves one read (then it is
        dropped, so it cannot go stale for long; a blob that compaction moved meanwhile is
        found again by _read's retry). The mount hints each readahead window: a query per
        chunk on the read path costs little CPU but several GIL hand-offs, which the FUSE
        loop makes expensive. A hint found while this process deletes blobs is discarded (it
        could name a deleted one); a delete by another process leaves a hinted blob readable
        until its pack is compacted away.
        """
        cids = [cid for cid in cids if cid not in self._pending and cid not in self._hinted]
        if not cids:
            return
        deletes = self._deletes
        found = self._index.places(cids)
        with self._lock:
            if self._deletes != deletes:
                return
            if len(self._hinted) + len(found) > _HINTS:
                self._hinted.clear()
            self._hinted.update(found)

    def stored_size(self, cid: bytes) -> int | None:
        """The stored length of `cid` if known without I/O (posted here or hinted), else None."""
        loc = self._pending.get(cid) or self._hinted.get(cid)
        return loc[2] if loc is not None else None

    def where(self, cid: bytes) -> tuple[str, int, int] | None:
        """(file, offset, length) of the stored bytes of `cid` if known without I/O (posted
        here or hinted; the hint is used up), else None: for a reader in another process.
        The place stays valid until a compaction moves the blob (then the file is gone)."""
        loc = self._pending.get(cid) or self._hinted.pop(cid, None)
        if loc is None:
            return None
        pack_id, offset, length = loc
        path = self._pack_paths.get(pack_id)
        if path is None:
            path = self._pack_paths[pack_id] = pack_file(os.path.join(self._dir, "packs"), pack_id)
        return path, offset, length

    # -- reading ---------------------------------------------------------------------------

    def get(self, cid: bytes) -> bytes:
        """The stored bytes of `cid`, unverified (the codec verifies what it decodes).

        Cost: one index lookup (none if posted here and not yet flushed, or hinted) and one
        pread. Raises BlobNotFound if the store has no such blob, IntegrityError if its pack
        is cut short.
        """
        return self._read(cid, self._reader.read)

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        """use(the bytes get() would return), given as a view of the mapped pack: no copy,
        which matters for megabyte chunks read through a mount. The view is valid only
        until `use` returns. Cost and raises as get()."""
        return self._read(cid, lambda pack_id, offset, length: self._reader.use(pack_id, offset, length, use))

    def _read(self, cid: bytes, read: Callable[[int, int, int], T]) -> T:
        """Locate `cid` and read it with read(pack, offset, length); one retry if
        compaction moved it (the pack file is gone when we come to open it)."""
        for attempt in (0, 1):
            loc = self._locate(cid)
            if loc is None:
                raise BlobNotFound(cid, f"local store {self.path}")
            pack_id, offset, length = loc
            try:
                return read(pack_id, offset, length)
            except PackGone:
                if attempt:
                    raise BlobNotFound(cid, f"local store {self.path}") from None
            except Truncated:
                raise IntegrityError(f"blob {cid.hex()[:12]}", f"pack {pack_id} is truncated") from None
        raise AssertionError("unreachable")

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        """get() of each id: n lookups and n preads. Raises BlobNotFound for the first missing."""
        return {cid: self.get(cid) for cid in cids}

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        """The subset of `cids` the store holds (posted here, or indexed). Cost: one query per
        500 ids not posted here since the last flush."""
        cids = list(cids)
        found = {cid for cid in cids if cid in self._pending}
        return found | self._index.present([cid for cid in cids if cid not in found])

    def list(self) -> Iterator[bytes]:
        """Every cid held, in no order. Cost: one scan of the index, O(blobs) in memory."""
        return iter(set(self._index.cids()).union(self._pending))

    # -- space -----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Blob count, live bytes, and bytes the pack files take on disk. Cost: one aggregate
        query over the index and a stat per pack file."""
        count, live = self._index.totals()
        return {"blobs": count + len(self._pending), "live_bytes": live, "pack_bytes": self.pack_bytes()}

    def pack_bytes(self) -> int:
        """Bytes the pack files take on disk (what `gc --auto` watches). Cost: a listing of
        the packs directory and a stat per pack; no query."""
        with os.scandir(os.path.join(self._dir, "packs")) as packs:
            return sum(p.stat().st_size for p in packs if p.name.endswith(".pack"))

    def compact(self, *, min_dead_ratio: float = 0.5) -> int:
        """Rewrite packs that are mostly dead (deleted blobs, crash leftovers); return bytes
        freed. See gotkv.blobs.local.compaction for the order of steps that keeps readers,
        writers and a crash safe.

        Cost: a stat and two queries per pack; for each pack rewritten, a read and a hash of
        its live bytes, one fdatasync and one transaction. Posts wait while a pack's records
        are copied. Raises IntegrityError if a live record does not match its id.
        """
        self._index.db()  # StoreClosed after close(), even with no pack to look at
        return compaction.compact(self.path / "packs", self._index, min_dead_ratio=min_dead_ratio,
                                  move=self._move_live, forget=self._reader.forget, own=self._packs.current())

    def _move_live(self, fd: int, records: list[compaction.Record]) -> None:
        """Copy live records out of a pack into ours, sync, then repoint their rows at once."""
        with self._flush_lock:
            with self._lock:
                moves = compaction.copy_records(fd, records, self._packs)
                fds = self._packs.take_unsynced()
            self._packs.sync(fds)
        self._index.repoint(moves)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Flush, then release every file, map and connection; a second close does nothing.
        Raises what flush raises (the store is released all the same)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._packs.close()
            with self._lock:
                self._closed = True
            self._reader.close()
            self._index.close()

    @contextlib.contextmanager
    def discarding_on_full_disk(self) -> Iterator[None]:
        """Around work that posts and flushes: a full disk inside the block (ENOSPC, or
        SQLite's DiskFull) raises DiskFull after discard() has given back at once the pack
        space the failed work took; the store is closed then."""
        try:
            yield
        except (DiskFull, OSError) as e:
            if not isinstance(e, DiskFull) and e.errno != errno.ENOSPC:
                raise
            self.discard()
            raise (e if isinstance(e, DiskFull) else DiskFull(self.path, e.strerror)) from e

    def discard(self) -> int:
        """Close without flushing, after a failure such as a full disk: what was posted since
        the last flush is dropped, and each pack this process opened that holds no indexed
        blob is deleted at once (not left for compaction). Returns the bytes given back.
        The store is closed afterwards. Cost: a query and an unlink per such pack."""
        if self._closed:
            return 0
        self._packs.close()
        freed = 0
        try:
            for pack_id in self._packs.opened:
                if self._index.records(pack_id):
                    continue  # it holds flushed blobs: its unflushed tail waits for compaction
                path = pack_file(os.path.join(self._dir, "packs"), pack_id)
                try:
                    freed += os.stat(path).st_size
                    os.unlink(path)
                except FileNotFoundError:
                    pass  # compaction took it first
                try:
                    self._index.drop_pack(pack_id)
                except GotError:
                    pass  # a row without a file is harmless (compaction lists the files)
        finally:
            with self._lock:
                self._pending.clear()
                self._closed = True
            self._reader.close()
            self._index.close()
        return freed

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
