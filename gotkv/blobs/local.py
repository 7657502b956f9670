"""LocalStore: append-only pack files indexed by SQLite — the embedded default store.

Why this shape: one file per small blob costs an fsync per blob (~1 ms here) and millions of
inodes; appending to a pack file and indexing it in SQLite costs one fdatasync and one
transaction per flush, whatever the number of blobs.

Layout under the store directory:

    index.sqlite          blobs(cid -> pack, offset, length, touched), WAL mode
    packs/<id>.pack       records: cid (32) | length (u32 LE) | stored bytes

Durability protocol (what makes `kill -9` at any instant safe):

1. `post` appends a record to this process's own pack (no fsync) and remembers its location
   in memory, so the process reads its own writes at once. Every _WRITEOUT_EVERY bytes it
   asks the kernel to start writing the new stretch to disk (sync_file_range, not waiting):
   the disk then works while the writer goes on, and the flush that makes it all durable
   has only the last stretch left to wait for (left alone, the kernel holds a gigabyte copy
   dirty in memory until that flush, which then waits seconds for all of it). Every few
   writeouts a background thread also syncs the pack (`_presync`), for the same reason one
   level down: the disk's own cache.
2. `flush` fdatasyncs every pack written since the last flush, *then* inserts the index rows
   in one SQLite transaction (synchronous=FULL). An index row therefore never points at bytes
   that are not on disk; a crash before the commit leaves only unindexed garbage at a pack's
   tail, which nothing reads and `compact` reclaims.

Concurrency: each writing process appends to a pack it holds an exclusive flock on, so writers
never interleave; SQLite serialises index updates across processes. Within a process one lock
guards the pack tail and the pending map; reads use pread (or, for `get_with`, a view of the
mapped pack: no copy, which matters for megabyte chunks read through a mount) and need no lock. Each thread gets
its own SQLite connection.

Garbage collection support: every row has a `touched` time, renewed at flush for blobs a post
found already stored (dedup hits), so `delete(..., older_than=T)` spares blobs a writer has
just (re)used. The renewals are batched into flush's one transaction — a no-change commit of
100k files must not cost 100k synced transactions — and flush checks that every one of them
still had its row: a blob deleted between the post and the flush is reported (BlobNotFound),
never silently lost. (got's gc also excludes writers with a lock, so this is a second line.)
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import sqlite3
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from gotkv.blobs.codec import content_id
from gotkv.blobs.store import MAX_BLOB_SIZE
from gotkv.errors import BlobNotFound, BlobTooLarge, IntegrityError, StoreClosed

T = TypeVar("T")


class _Truncated(Exception):
    """A record runs past the end of its pack file (reported as IntegrityError by _read)."""

_HEADER = struct.Struct("<32sI")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs(id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs(
    cid BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, touched REAL NOT NULL) WITHOUT ROWID;
"""
_BATCH = 500  # ids per SQL statement (SQLite's default variable limit is far higher)
_HINTS = 1 << 18  # places remembered by hint() (~60 MiB at most)
_DROP_EVERY = 32 << 20  # bytes read through a pack's map between drops of its pages
PACK_LIMIT = 1 << 30
_WRITEOUT_EVERY = 16 << 20  # appended bytes between requests to start writing them out
_PRESYNC_EVERY = 4  # writeouts between background syncs (see _presync)


class LocalStore:
    """A crash-safe, multi-process Store in a directory. See the module docstring."""

    def __init__(self, path: str | os.PathLike, *, max_size: int = MAX_BLOB_SIZE, pack_limit: int = PACK_LIMIT):
        self.path = Path(path)
        self.max_size = max_size
        self.pack_limit = pack_limit
        (self.path / "packs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []  # each thread's, see _db
        self._readers: dict[int, int] = {}  # pack id -> read-only fd
        self._maps: dict[int, mmap.mmap] = {}  # pack id -> the pack, mapped (see _use_mapped)
        self._mapped_use: dict[int, int] = {}  # pack id -> bytes used through its map since its pages were dropped
        self._hinted: dict[bytes, tuple[int, int, int]] = {}  # see hint()
        self._deletes = 0  # bumped by delete(), so a hint() racing one discards what it found
        self._pack_paths: dict[int, str] = {}
        self._pending: dict[bytes, tuple[int, int, int]] = {}
        self._rehits: set[bytes] = set()
        self._lost: set[bytes] = set()  # re-posted blobs deleted before their flush (see flush)
        self._unsynced: list[int] = []  # fds of packs appended to since the last sync
        self._syncing: set[int] = set()  # fds a flush is syncing now (not to be closed meanwhile)
        self._flush_lock = threading.Lock()  # one flush (or delete, or compaction move) at a time
        self._pack: tuple[int, int] | None = None  # (pack id, fd)
        self._pack_end = 0
        self._written_out = 0  # where the current pack's last writeout request ended
        self._roller: threading.Thread | None = None  # opening the next pack (see _roll)
        self._presyncer: threading.Thread | None = None  # syncing a pack early (see _presync)
        self._unpresynced = 0  # writeouts since the last presync
        self._closed = False
        with self._db() as db:
            db.executescript(_SCHEMA)

    # -- SQLite -------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not for sharing across threads).
        Those of threads that have ended are closed as new ones open: threads come and go
        (thread pools, trio's worker threads), and each connection left open keeps two files
        open, until EMFILE."""
        if self._closed:
            raise StoreClosed(f"store {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path / "index.sqlite", timeout=60, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                ended = [c for t, c in self._conns if not t.is_alive()]
                self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
                self._conns.append((threading.current_thread(), conn))
            for c in ended:
                c.close()
        return conn

    def _locate(self, cid: bytes) -> tuple[int, int, int] | None:
        loc = self._pending.get(cid) or self._hinted.pop(cid, None)
        if loc is not None:
            return loc
        row = self._db().execute("SELECT pack, offset, length FROM blobs WHERE cid=?", (cid,)).fetchone()
        return tuple(row) if row else None

    def hint(self, cids: Iterable[bytes]) -> None:
        """Look up where these blobs are, in a few queries, ahead of reading them.

        Each hint serves one read (then it is dropped, so it cannot go stale for long; a
        blob that compaction moved meanwhile is found again by _read's retry). The mount hints
        each readahead window: a query per chunk on the read path costs little CPU but several
        GIL hand-offs, which the FUSE loop makes expensive. A hint found while this process
        deletes blobs is discarded (it could name a deleted one); a delete by another process
        leaves a hinted blob readable until its pack is compacted away.
        """
        cids = [cid for cid in cids if cid not in self._pending and cid not in self._hinted]
        if not cids:
            return
        deletes = self._deletes
        db = self._db()
        found = {}
        for i in range(0, len(cids), _BATCH):
            part = cids[i:i + _BATCH]
            rows = db.execute(f"SELECT cid, pack, offset, length FROM blobs WHERE cid IN ({','.join('?' * len(part))})", part)
            found.update((cid, (pack, offset, length)) for cid, pack, offset, length in rows)
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
        return self._pack_path(pack_id), offset, length

    def _pack_path(self, pack_id: int) -> str:
        path = self._pack_paths.get(pack_id)
        if path is None:
            path = self._pack_paths[pack_id] = os.path.join(self.path, "packs", f"{pack_id}.pack")
        return path

    # -- writing ------------------------------------------------------------------------

    def _open_pack(self) -> tuple[int, int]:
        """Start a new pack owned by this process (exclusive flock), durably named. Needs no
        lock: it touches no shared state but the index (see _roll for why that matters)."""
        db = self._db()
        pack_id = db.execute("INSERT INTO packs(created) VALUES (?)", (time.time(),)).lastrowid
        fd = os.open(self.path / "packs" / f"{pack_id}.pack", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        dirfd = os.open(self.path / "packs", os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        return pack_id, fd

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        """Append `data` to this process's pack (durable at flush). A vouched `cid` is trusted:
        the bytes come from this process's own codec (see store.py)."""
        if len(data) > self.max_size:
            raise BlobTooLarge(len(data), self.max_size)
        if cid is None:
            cid = content_id(data)
        if cid in self._pending:
            return cid
        if self._db().execute("SELECT 1 FROM blobs WHERE cid=?", (cid,)).fetchone():
            with self._lock:
                self._rehits.add(cid)  # renewed (and checked) at flush
            return cid
        with self._lock:
            if cid in self._pending:
                return cid
            if self._pack is not None and self._pack_end >= self.pack_limit and self._roller is None:
                self._roller = threading.Thread(target=self._roll, name="got-pack-roll", daemon=True)
                self._roller.start()
            self._pending[cid] = self._append(cid, data)
            self._lost.discard(cid)
        return cid

    def _roll(self) -> None:
        """The current pack is full: open the next one, then send appends there. Runs on a
        thread of its own, started by the post that finds the pack full.

        Opening a pack commits a row to the index and fsyncs the directory, and on ext4 either
        waits for the pack bytes already on their way to disk (0.3-1.5 s here after a
        gigabyte). A post waiting for that stalled a whole copy (the chunks behind it are
        settled in order), so posts go on into the old pack meanwhile, which overshoots its
        limit by what they add. If the open fails, the next post tries again.
        """
        try:
            opened = self._open_pack()
        except Exception:
            opened = None
        with self._lock:
            self._roller = None
            if opened is None:
                return
            if self._closed:
                os.close(opened[1])
                return
            self._retire_pack()
            self._pack, self._pack_end, self._written_out = opened, 0, 0

    def _presync(self, fd: int) -> None:
        """fdatasync a pack ahead of the flush that needs it, on a thread of its own.

        Writeout alone moves the bytes to the disk's cache; only a sync makes the disk (here
        a virtual one, whose host then writes its own cache back) put them down for good, and
        that takes seconds for a gigabyte, all of it at the flush. Synced along the way, the
        flush finds little left. `fd` is a duplicate, so the pack may be retired meanwhile;
        the flush syncs the pack again (cheaply), so nothing here is needed for durability.
        """
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # the flush's own sync reports it
        finally:
            os.close(fd)
            with self._lock:
                self._presyncer = None

    def _append(self, cid: bytes, data: bytes) -> tuple[int, int, int]:
        """Append one record to this process's pack (caller holds the lock); return its place."""
        if self._pack is None:
            self._pack = self._open_pack()
            self._pack_end = self._written_out = 0
        pack_id, fd = self._pack
        header = _HEADER.pack(cid, len(data))
        try:
            _write_all(fd, header, data)
        except BaseException:
            # Part of the record may be on disk, so _pack_end no longer tracks the file's end
            # and later offsets would be wrong: leave the tail as garbage, start a new pack.
            self._retire_pack()
            raise
        offset = self._pack_end + len(header)
        self._pack_end = offset + len(data)
        if fd not in self._unsynced:
            self._unsynced.append(fd)
        if self._pack_end - self._written_out >= _WRITEOUT_EVERY:
            _start_writeout(fd, self._written_out, self._pack_end - self._written_out)
            self._written_out = self._pack_end
            self._unpresynced += 1
            if self._unpresynced >= _PRESYNC_EVERY and self._presyncer is None:
                self._unpresynced = 0
                self._presyncer = threading.Thread(target=self._presync, args=(os.dup(fd),),
                                                   name="got-pack-presync", daemon=True)
                self._presyncer.start()
        return pack_id, offset, len(data)

    def _retire_pack(self) -> None:
        """Stop appending to the current pack (caller holds the lock). Its fd, and with it the
        flock that keeps `compact` away, is closed now, or once a flush has synced it."""
        if self._pack is not None:
            fd = self._pack[1]
            self._pack = None
            if fd not in self._unsynced and fd not in self._syncing:
                os.close(fd)

    def _take_unsynced(self) -> list[int]:
        """The packs appended to since the last sync, now being synced (caller holds the lock)."""
        fds, self._unsynced = self._unsynced, []
        self._syncing.update(fds)
        return fds

    def _synced(self, fds: list[int], ok: bool) -> None:
        """After syncing `fds` (caller holds the lock): close the retired ones, or, if the sync
        failed, queue them all again so that the next flush retries."""
        self._syncing.difference_update(fds)
        current = self._pack[1] if self._pack else None
        for fd in fds:
            if not ok:
                if fd not in self._unsynced:
                    self._unsynced.append(fd)
            elif fd != current and fd not in self._unsynced:
                os.close(fd)

    def _sync(self, fds: list[int]) -> None:
        ok = False
        try:
            for fd in fds:
                os.fdatasync(fd)
            ok = True
        finally:
            with self._lock:
                self._synced(fds, ok)

    def flush(self) -> None:
        """Make every earlier post durable. Raises BlobNotFound while a re-posted blob (a
        dedup hit) was deleted before its flush and has not been posted again: a caller about
        to publish a root must not record one that names it. The rest is durable regardless.

        Posts go on while a flush waits for the disk: it works on a snapshot of what was
        posted before it, and holds the pack lock only to take and to retire that snapshot
        (a mount spilling a large copy must not stall for the second an fdatasync can take).
        """
        with self._flush_lock:
            with self._lock:
                pending = dict(self._pending)
                rehits = self._rehits - pending.keys()
                fds = self._take_unsynced() if pending or rehits else []
            if pending or rehits:
                self._sync(fds)
                self._index(pending, rehits)
            with self._lock:
                lost = sorted(self._lost)
        if lost:
            raise BlobNotFound(lost[0], f"local store {self.path} (deleted after it was re-posted; post it again)")

    def _index(self, pending: dict[bytes, tuple[int, int, int]], rehits: set[bytes]) -> None:
        """Insert the rows of synced posts and renew re-posted ones, in one transaction; then
        drop them from the in-memory maps (kept until now, so reads find them meanwhile)."""
        now = time.time()
        rows = [(cid, p, o, n, now) for cid, (p, o, n) in pending.items()]
        rehits = list(rehits)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?,?,?,?)", rows)
            renewed = 0
            for i in range(0, len(rehits), _BATCH):
                part = rehits[i:i + _BATCH]
                q = f"UPDATE blobs SET touched=? WHERE cid IN ({','.join('?' * len(part))})"
                renewed += db.execute(q, [now, *part]).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        lost = set(rehits) - self._exists_in_index(rehits) if renewed < len(rehits) else set()
        with self._lock:
            for cid in pending:
                self._pending.pop(cid, None)
            self._rehits.difference_update(rehits)
            self._rehits.difference_update(pending)
            self._lost |= lost

    # -- reading ------------------------------------------------------------------------

    def _reader(self, pack_id: int) -> int:
        """A read-only fd on the pack (FileNotFoundError once compaction removed it)."""
        fd = self._readers.get(pack_id)
        if fd is None:
            fd = os.open(self.path / "packs" / f"{pack_id}.pack", os.O_RDONLY)
            with self._lock:
                kept = self._readers.setdefault(pack_id, fd)
            if kept != fd:  # another thread opened it first
                os.close(fd)
            fd = kept
        return fd

    def get(self, cid: bytes) -> bytes:
        def read(pack_id: int, fd: int, length: int, offset: int) -> bytes:
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise _Truncated
            return data

        return self._read(cid, read)

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        return self._read(cid, lambda pack_id, fd, length, offset: self._use_mapped(pack_id, fd, length, offset, use))

    def _use_mapped(self, pack_id: int, fd: int, length: int, offset: int,
                    use: Callable[[memoryview | bytes], T]) -> T:
        """use([offset, offset+length) of a pack), as a view of the mapped pack (no copy).

        A pack is mapped whole, once; a blob past the end of the mapping (the pack grew since)
        maps it again, and replaced maps are unmapped when their last view goes. Records never
        change and packs are never truncated (only deleted whole, which leaves a mapping
        valid), so the view cannot change while `use` runs. Every _DROP_EVERY bytes used
        through a map, its pages are dropped from this process's page tables (they stay in
        the page cache): otherwise every byte ever read would count in the mount's resident
        memory. Dropping in batches rather than per blob saves a TLB shootdown (an interrupt
        of every other CPU running this process) per chunk.
        """
        mapped = self._maps.get(pack_id)
        if mapped is None or offset + length > len(mapped):
            size = os.fstat(fd).st_size
            if offset + length > size:
                raise _Truncated
            mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            with self._lock:
                self._maps[pack_id] = mapped
                self._mapped_use[pack_id] = 0
        view = memoryview(mapped)[offset:offset + length]
        try:
            return use(view)
        finally:
            view.release()
            with self._lock:
                used = self._mapped_use.get(pack_id, 0) + length
                self._mapped_use[pack_id] = 0 if used >= _DROP_EVERY else used
            if used >= _DROP_EVERY:
                mapped.madvise(mmap.MADV_DONTNEED)

    def _read(self, cid: bytes, read: Callable[[int, int, int, int], T]) -> T:
        """Locate `cid` and read it with read(pack, fd, length, offset); one retry if
        compaction moved it (the pack file is gone when we come to open it)."""
        for attempt in (0, 1):
            loc = self._locate(cid)
            if loc is None:
                raise BlobNotFound(cid, f"local store {self.path}")
            pack_id, offset, length = loc
            try:
                fd = self._reader(pack_id)
            except FileNotFoundError:
                if attempt:
                    raise BlobNotFound(cid, f"local store {self.path}") from None
                continue
            try:
                return read(pack_id, fd, length, offset)
            except _Truncated:
                raise IntegrityError(f"blob {cid.hex()[:12]}", f"pack {pack_id} is truncated") from None
        raise AssertionError("unreachable")

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        return {cid: self.get(cid) for cid in cids}

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        cids = list(cids)
        found = {cid for cid in cids if cid in self._pending}
        return found | self._exists_in_index([cid for cid in cids if cid not in found])

    def _exists_in_index(self, cids: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        db = self._db()
        for i in range(0, len(cids), _BATCH):
            part = cids[i:i + _BATCH]
            q = f"SELECT cid FROM blobs WHERE cid IN ({','.join('?' * len(part))})"
            found.update(row[0] for row in db.execute(q, part))
        return found

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        cids = list(cids)
        db = self._db()
        n = 0
        with self._flush_lock, self._lock:  # not between a flush's snapshot and its rows
            self._deletes += 1
            for cid in cids:
                self._hinted.pop(cid, None)
            db.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(cids), _BATCH):
                    part = cids[i:i + _BATCH]
                    q = f"DELETE FROM blobs WHERE cid IN ({','.join('?' * len(part))})"
                    if older_than is not None:
                        q += " AND touched < ?"
                        part = part + [older_than]
                    n += db.execute(q, part).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if older_than is None:
                for cid in cids:
                    n += self._pending.pop(cid, None) is not None
        return n

    def list(self) -> Iterator[bytes]:
        cids = [row[0] for row in self._db().execute("SELECT cid FROM blobs")]
        return iter(set(cids).union(self._pending))

    # -- space --------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Blob count, live bytes, and bytes the pack files take on disk."""
        count, live = self._db().execute("SELECT COUNT(*), COALESCE(SUM(length), 0) FROM blobs").fetchone()
        packed = sum(p.stat().st_size for p in (self.path / "packs").glob("*.pack"))
        return {"blobs": count + len(self._pending), "live_bytes": live, "pack_bytes": packed}

    def compact(self, *, min_dead_ratio: float = 0.5) -> int:
        """Rewrite packs that are mostly dead (deleted blobs, crash leftovers); return bytes freed.

        Packs held by a live writer (flock) are skipped. Live blobs are re-posted into this
        process's pack and flushed before the old pack's rows and file go, so a reader never
        meets a row without bytes; a reader that looked up the old place just before retries.
        """
        freed = 0
        db = self._db()
        current = self._pack[0] if self._pack else None
        for pack_path in sorted((self.path / "packs").glob("*.pack")):
            pack_id = int(pack_path.stem)
            if pack_id == current:
                continue
            fd = os.open(pack_path, os.O_RDONLY)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a writer owns it
                size = os.fstat(fd).st_size
                live = db.execute("SELECT COALESCE(SUM(length + 36), 0) FROM blobs WHERE pack=?", (pack_id,)).fetchone()[0]
                if size == 0 or (size - live) / size < min_dead_ratio:
                    continue
                moved = db.execute("SELECT cid, offset, length FROM blobs WHERE pack=?", (pack_id,)).fetchall()
                self._move_live(fd, moved)
                db.execute("DELETE FROM packs WHERE id=?", (pack_id,))
                with self._lock:
                    rfd = self._readers.pop(pack_id, None)
                    self._maps.pop(pack_id, None)
                    self._mapped_use.pop(pack_id, None)
                if rfd is not None:
                    os.close(rfd)
                pack_path.unlink()
                freed += size - live
            finally:
                os.close(fd)
        return freed

    def _move_live(self, fd: int, moved: list[tuple[bytes, int, int]]) -> None:
        """Copy live records out of a pack into ours, fsync, then repoint their rows at once."""
        updates = []
        with self._flush_lock:
            with self._lock:
                for cid, offset, length in moved:
                    data = os.pread(fd, length, offset)
                    if content_id(data) != cid:
                        raise IntegrityError(f"blob {cid.hex()[:12]}", "pack bytes do not match their id")
                    pack_id, new_offset, _ = self._append(cid, data)
                    updates.append((pack_id, new_offset, cid))
                fds = self._take_unsynced()
            self._sync(fds)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("UPDATE blobs SET pack=?, offset=? WHERE cid=?", updates)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            for thread in (self._roller, self._presyncer):
                if thread is not None:
                    thread.join()
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._closed = True
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
            self._maps.clear()  # unmapped as their last views go
            if self._pack is not None:
                os.close(self._pack[1])
                self._pack = None
            for _, conn in self._conns:
                conn.close()
            self._conns.clear()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _libc_sync_file_range():
    """sync_file_range(2) from the C library, or None where there is none (not Linux)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range  # the C library, already loaded
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _libc_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2  # start writeback of dirty pages in the range; do not wait


def _start_writeout(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing [offset, offset+length) of `fd` to disk, now, without
    waiting for it. Purely a hint for speed: durability still comes from flush's fdatasync,
    so a failure here (or no sync_file_range at all) changes nothing but the timing."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _write_all(fd: int, header: bytes, data: bytes) -> None:
    """Append header and data with one writev, finishing any short write."""
    total = len(header) + len(data)
    done = os.writev(fd, [header, data])
    if done < total:
        rest = (header + bytes(data))[done:]
        while rest:
            rest = rest[os.write(fd, rest):]
