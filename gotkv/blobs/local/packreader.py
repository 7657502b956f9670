"""Reading records out of packs: by pread (a copy), or as a view of the mapped pack (none).

Records never change and packs are never truncated, only deleted whole, so a place read from
the index (or remembered since) either still holds the bytes posted there or names a pack file
that is gone, which a read reports as PackGone so that the store can look the blob up again.
"""

from __future__ import annotations

import mmap
import os
import threading
from typing import Callable, TypeVar

from gotkv.blobs.local.packwriter import pack_file

T = TypeVar("T")

_DROP_EVERY = 32 << 20  # bytes read through a pack's map between drops of its pages


class PackGone(Exception):
    """The pack file is gone: compaction moved its live records elsewhere and deleted it."""


class Truncated(Exception):
    """A record runs past the end of its pack file (the store reports an IntegrityError)."""


class PackReader:
    """Read-only descriptors and maps of the packs of one store directory. Thread-safe: reads
    take no lock; one guards the tables of descriptors and maps."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = directory
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}  # pack id -> read-only fd
        self._maps: dict[int, mmap.mmap] = {}  # pack id -> the pack, mapped (see use)
        self._mapped_use: dict[int, int] = {}  # pack id -> bytes used through its map since its pages were dropped

    def _fd(self, pack_id: int) -> int:
        """A read-only fd on the pack, opened once and kept; PackGone once compaction removed it."""
        fd = self._fds.get(pack_id)
        if fd is None:
            try:
                fd = os.open(pack_file(self.directory, pack_id), os.O_RDONLY)
            except FileNotFoundError:
                raise PackGone(pack_id) from None
            with self._lock:
                kept = self._fds.setdefault(pack_id, fd)
            if kept != fd:  # another thread opened it first
                os.close(fd)
            fd = kept
        return fd

    def read(self, pack_id: int, offset: int, length: int) -> bytes:
        """[offset, offset+length) of the pack, by one pread. PackGone, Truncated."""
        data = os.pread(self._fd(pack_id), length, offset)
        if len(data) != length:
            raise Truncated
        return data

    def use(self, pack_id: int, offset: int, length: int, use: Callable[[memoryview | bytes], T]) -> T:
        """use([offset, offset+length) of the pack), as a view of the mapped pack (no copy).
        PackGone, Truncated.

        A pack is mapped whole, once; a record past the end of the mapping (the pack grew
        since) maps it again, and replaced maps are unmapped when their last view goes. The
        view cannot change while `use` runs (records never change, and deleting a pack leaves
        a mapping valid). Every _DROP_EVERY bytes used through a map, its pages are dropped
        from this process's page tables (they stay in the page cache): otherwise every byte
        ever read would count in the mount's resident memory. Dropping in batches rather than
        per record saves a TLB shootdown (an interrupt of every other CPU running this
        process) per chunk.
        """
        fd = self._fd(pack_id)
        mapped = self._maps.get(pack_id)
        if mapped is None or offset + length > len(mapped):
            size = os.fstat(fd).st_size
            if offset + length > size:
                raise Truncated
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

    def forget(self, pack_id: int) -> None:
        """Close the pack's fd and drop its map (it is being deleted); views in use stay valid."""
        with self._lock:
            fd = self._fds.pop(pack_id, None)
            self._maps.pop(pack_id, None)
            self._mapped_use.pop(pack_id, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            self._maps.clear()  # unmapped as their last views go
