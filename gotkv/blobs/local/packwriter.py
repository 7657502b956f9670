"""Pack files being appended to, and made durable: this process's side of a LocalStore's disk.

A pack is a file of records, each `cid (32) | length (u32 LE) | stored bytes`, only ever
appended to: a pack is never truncated nor rewritten, only deleted whole (by compaction), so a
(pack, offset, length) place stays valid for as long as its pack exists. Each writing process
appends to a pack of its own, on which it holds an exclusive flock, so writers never
interleave and compaction keeps away from a pack in use.

Appending does not sync. Durability comes from `sync`, which LocalStore.flush runs on every
pack appended to since the last one *before* it indexes what was posted. Two things keep that
flush short when a large copy is being posted:

- Every _WRITEOUT_EVERY bytes, `append` asks the kernel to start writing the new stretch to
  disk (sync_file_range, not waiting): the disk then works while the writer goes on, and the
  flush has only the last stretch left to wait for (left alone, the kernel holds a gigabyte
  copy dirty in memory until that flush, which then waits seconds for all of it).
- Every _PRESYNC_EVERY writeouts a background thread also fdatasyncs the pack (`_presync`),
  for the same reason one level down: the disk's own cache.

When a pack reaches its limit, the next one is opened on a thread of its own (`_roll`), so
that no post waits for the disk meanwhile.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading

from gotkv.blobs.local.index import PackIndex, Place

HEADER = struct.Struct("<32sI")  # before each record: its cid and the length of its bytes
PACK_LIMIT = 1 << 30  # bytes after which a pack is full (a post in flight may overshoot it)
_WRITEOUT_EVERY = 16 << 20  # appended bytes between requests to start writing them out
_PRESYNC_EVERY = 4  # writeouts between background syncs (see _presync)


def pack_file(directory: str | os.PathLike, pack_id: int) -> str:
    """The file of pack `pack_id` in a store's packs/ directory."""
    return os.path.join(directory, f"{pack_id}.pack")


class PackWriter:
    """This process's pack being appended to, and the packs that await a sync. Thread-safe.

    One lock guards the pack tail and the bookkeeping of file descriptors; a caller may hold
    a lock of its own while calling in (LocalStore does), never the reverse. Descriptors of
    retired packs (full, or left after a failed write) stay open until a sync has covered
    them, so that `sync` never meets a closed or reused descriptor.
    """

    def __init__(self, directory: str | os.PathLike, index: PackIndex, *, limit: int = PACK_LIMIT):
        self.directory = directory
        self.index = index
        self.limit = limit
        self._lock = threading.Lock()
        self._pack: tuple[int, int] | None = None  # (pack id, fd)
        self._end = 0  # where the current pack ends
        self._written_out = 0  # where the current pack's last writeout request ended
        self._unsynced: list[int] = []  # fds of packs appended to since the last sync
        self._syncing: set[int] = set()  # fds a sync is working on (not to be closed meanwhile)
        self._roller: threading.Thread | None = None  # opening the next pack (see _roll)
        self._presyncer: threading.Thread | None = None  # syncing a pack early (see _presync)
        self._unpresynced = 0  # writeouts since the last presync
        self._closed = False
        self.opened: list[int] = []  # ids of the packs this writer opened

    def current(self) -> int | None:
        """The id of the pack being appended to, if there is one."""
        pack = self._pack
        return pack[0] if pack is not None else None

    def _open_pack(self) -> tuple[int, int]:
        """Start a new pack owned by this process (exclusive flock), durably named. Needs no
        lock: it touches no shared state but the index (see _roll for why that matters)."""
        pack_id = self.index.add_pack()
        fd = os.open(pack_file(self.directory, pack_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.opened.append(pack_id)
        dirfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        return pack_id, fd

    def append(self, cid: bytes, data: bytes, *, may_roll: bool = False) -> Place:
        """Append one record; return the place of its bytes. Readable at once (through the
        pack file), durable only after a `sync` of the fds `take_unsynced` then returns.

        With may_roll=True a full pack starts the opening of the next one (in the
        background; this record still goes into the full pack). If the write fails, part of
        the record may be on disk: the pack is retired (its tail left as unindexed garbage)
        and the error raised, so later records never land at a wrong offset.
        """
        with self._lock:
            if may_roll and self._pack is not None and self._end >= self.limit and self._roller is None:
                self._roller = threading.Thread(target=self._roll, name="got-pack-roll", daemon=True)
                self._roller.start()
            if self._pack is None:
                self._pack = self._open_pack()
                self._end = self._written_out = 0
            pack_id, fd = self._pack
            header = HEADER.pack(cid, len(data))
            try:
                _write_all(fd, header, data)
            except BaseException:
                self._retire()
                raise
            offset = self._end + len(header)
            self._end = offset + len(data)
            if fd not in self._unsynced:
                self._unsynced.append(fd)
            if self._end - self._written_out >= _WRITEOUT_EVERY:
                self._write_out(fd)
            return pack_id, offset, len(data)

    def _write_out(self, fd: int) -> None:
        """Start writing out the current pack's new stretch; every few times, presync it."""
        _start_writeout(fd, self._written_out, self._end - self._written_out)
        self._written_out = self._end
        self._unpresynced += 1
        if self._unpresynced >= _PRESYNC_EVERY and self._presyncer is None:
            self._unpresynced = 0
            self._presyncer = threading.Thread(target=self._presync, args=(os.dup(fd),),
                                               name="got-pack-presync", daemon=True)
            self._presyncer.start()

    def _roll(self) -> None:
        """The current pack is full: open the next one, then send appends there. Runs on a
        thread of its own, started by the append that finds the pack full.

        Opening a pack commits a row to the index and fsyncs the directory, and on ext4 either
        waits for the pack bytes already on their way to disk (0.3-1.5 s here after a
        gigabyte). A post waiting for that stalled a whole copy (the chunks behind it are
        settled in order), so appends go on into the old pack meanwhile, which overshoots its
        limit by what they add. If the open fails, the next append that may roll tries again.
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
            self._retire()
            self._pack, self._end, self._written_out = opened, 0, 0

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

    def _retire(self) -> None:
        """Stop appending to the current pack (caller holds the lock). Its fd, and with it the
        flock that keeps compaction away, is closed now, or once a sync has covered it."""
        if self._pack is not None:
            fd = self._pack[1]
            self._pack = None
            if fd not in self._unsynced and fd not in self._syncing:
                os.close(fd)

    # -- durability ------------------------------------------------------------------------

    def take_unsynced(self) -> list[int]:
        """The fds of packs appended to since the last sync, handed to the caller to `sync`.
        Every record appended before this call is in one of them."""
        with self._lock:
            fds, self._unsynced = self._unsynced, []
            self._syncing.update(fds)
            return fds

    def sync(self, fds: list[int]) -> None:
        """fdatasync each of `fds` (from take_unsynced). On success the retired ones are
        closed; on failure (EIO, ENOSPC) they are all queued again, so that the next sync
        retries them, and the error is raised."""
        ok = False
        try:
            for fd in fds:
                os.fdatasync(fd)
            ok = True
        finally:
            with self._lock:
                self._synced(fds, ok)

    def _synced(self, fds: list[int], ok: bool) -> None:
        self._syncing.difference_update(fds)
        current = self._pack[1] if self._pack else None
        for fd in fds:
            if not ok:
                if fd not in self._unsynced:
                    self._unsynced.append(fd)
            elif fd != current and fd not in self._unsynced:
                os.close(fd)

    def close(self) -> None:
        """Wait for a roll or presync under way, then close the current pack (after the
        caller's last sync: records appended since are left unsynced)."""
        for thread in (self._roller, self._presyncer):
            if thread is not None:
                thread.join()
        with self._lock:
            self._closed = True
            if self._pack is not None:
                os.close(self._pack[1])
                self._pack = None


def _libc_sync_file_range():
    """sync_file_range(2) from the C library, or None where there is none (not Linux).
    Looked up at the first write-out, not at import: ctypes costs ~2 ms of every start, and
    commands that only read never write a pack."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range  # the C library, already loaded
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE: list = []  # [sync_file_range or None], once looked up
_SYNC_FILE_RANGE_WRITE = 2  # start writeback of dirty pages in the range; do not wait


def _start_writeout(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing [offset, offset+length) of `fd` to disk, now, without
    waiting for it. Purely a hint for speed: durability still comes from `sync`'s fdatasync,
    so a failure here (or no sync_file_range at all) changes nothing but the timing."""
    if not _SYNC_FILE_RANGE:
        _SYNC_FILE_RANGE.append(_libc_sync_file_range())
    if _SYNC_FILE_RANGE[0] is not None:
        _SYNC_FILE_RANGE[0](fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _write_all(fd: int, header: bytes, data: bytes) -> None:
    """Append header and data with one writev, finishing any short write."""
    total = len(header) + len(data)
    done = os.writev(fd, [header, data])
    if done < total:
        rest = (header + bytes(data))[done:]
        while rest:
            rest = rest[os.write(fd, rest):]
