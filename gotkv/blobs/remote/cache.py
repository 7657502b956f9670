"""BlobCache: a size-bounded local cache of blobs read from a remote, kept between runs.

One file per blob (`<cid hex[:2]>/<cid hex>`) in a directory: a cache needs no durability,
so files are written without fsync (temp file, then rename, so a reader sees whole files
only), and a damaged one is simply refetched: every blob is verified against its id as it
is read back. Least recently used blobs are evicted when the total passes `max_bytes`;
recency is the file's mtime, touched on every hit, so it survives restarts.

Costs: a hit is one open and read; a miss is one stat; a put is one write and a rename,
plus, when over the bound, one scan of the directory that evicts down to 90% of it.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import blake3


class BlobCache:
    def __init__(self, path: str | os.PathLike, max_bytes: int):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._size = sum(f.stat().st_size for f in self.path.glob("*/*") if f.is_file() and not f.name.startswith("."))
        self.hits = self.misses = 0

    def _file(self, cid: bytes) -> Path:
        h = cid.hex()
        return self.path / h[:2] / h

    def get(self, cid: bytes) -> bytes | None:
        f = self._file(cid)
        try:
            data = f.read_bytes()
        except OSError:
            self.misses += 1
            return None
        if blake3.blake3(data).digest() != cid:
            self._drop(f)
            self.misses += 1
            return None
        try:
            os.utime(f)
        except OSError:
            pass
        self.hits += 1
        return data

    def has(self, cid: bytes) -> bool:
        return self._file(cid).exists()

    def put(self, cid: bytes, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        f = self._file(cid)
        if f.exists():
            return
        f.parent.mkdir(exist_ok=True)
        tmp = f.parent / f".{secrets.token_hex(6)}"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, f)
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        with self._lock:
            self._size += len(data)
            over = self._size > self.max_bytes
        if over:
            self._evict()

    def _drop(self, f: Path) -> None:
        try:
            size = f.stat().st_size
            f.unlink()
        except OSError:
            return
        with self._lock:
            self._size -= size

    def _evict(self) -> None:
        """Remove the least recently used files until the cache is at 90% of its bound. One
        eviction at a time; the size is kept by counting what is added and removed (a file
        written while a scan runs is counted by its put, not lost by the scan)."""
        with self._evicting:
            files = []
            for f in self.path.glob("*/*"):
                if f.name.startswith("."):
                    continue  # a put's temporary file
                try:
                    st = f.stat()
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, f))
            files.sort()
            total = sum(s for _, s, _ in files)
            goal = int(self.max_bytes * 0.9)
            removed = 0
            for _, size, f in files:
                if total - removed <= goal:
                    break
                try:
                    f.unlink()
                    removed += size
                except OSError:
                    pass
            with self._lock:
                self._size -= removed

    @property
    def size(self) -> int:
        return self._size
