"""Filling: the contents of an export's regular files, written by worker threads.

The main thread (exporting.py) creates each file empty and hands it here with its extents;
`threads` workers stream the contents extent by extent with pwrite (no file is held whole in
memory), leaving holes unwritten so sparse files stay sparse. Small files go to workers in
batches (BATCH_BYTES, BATCH_FILES), a large file in pieces of about PIECE_BYTES written in
parallel; at most 2 x threads batches are in flight, which bounds memory and open files.
The worker that writes a file's last piece sets its size, xattrs, owner, mode and times and
closes it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from gotfs import keys
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.porting.hostattrs import HostAttrs
from gotkv.errors import CorruptNode
from gotkv.osio import pwrite_all

if TYPE_CHECKING:
    from gotfs.fs import FS

PIECE_BYTES = 8 << 20    # a large file is written as pieces of about this size, in parallel
BATCH_BYTES = 4 << 20    # small files are handed to a worker in batches of about this size
BATCH_FILES = 64


class OpenFile:
    """A file being written: created (fd open) by the main thread, filled and closed by workers."""

    __slots__ = ("fd", "path", "info", "extents", "pending", "lock")

    def __init__(self, fd: int, path: Path, info: Info):
        self.fd: int | None = fd
        self.path = path
        self.info = info
        self.extents: list[tuple[int, int, Extent]] = []  # (start, end clamped to size, extent)
        self.pending = 0
        self.lock = threading.Lock()

    def add(self, end: int, extent: Extent) -> None:
        """One stored extent of the file (in key order); CorruptNode if it starts before 0."""
        start = end - extent.length
        if start < 0:
            raise CorruptNode(f"file {keys.show(self.path)}", f"extent ends at {end} but is {extent.length} long")
        if start < self.info.size:
            self.extents.append((start, min(end, self.info.size), extent))

    def close(self) -> None:
        with self.lock:
            fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


class Filler:
    """The workers and their queue. `add` a file as soon as it is created, `queue` it once
    all its extents are known, `drain` at the end; `close` always (it also closes the fds
    of files a failure left open). Used from one thread; the workers are its own."""

    def __init__(self, fs: FS, attrs: HostAttrs, threads: int):
        self.fs = fs
        self.attrs = attrs
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="got-export")
        self.max_inflight = 2 * self.threads
        try:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            budget = 1024 if soft == resource.RLIM_INFINITY else soft // 4
        except (ImportError, OSError, ValueError):
            budget = 256
        self.batch_files = max(1, min(BATCH_FILES, budget // (self.max_inflight + 1)))
        self.inflight: set[Future] = set()
        self.batch: list[tuple[OpenFile, list]] = []
        self.batch_bytes = 0
        self.open_files: set[OpenFile] = set()
        self.files_lock = threading.Lock()
        self.chunk_locks: dict[bytes, threading.Lock] = {}

    # -- the main thread -------------------------------------------------------------------

    def add(self, f: OpenFile) -> None:
        """Track a newly created file, so that close() closes it whatever happens."""
        with self.files_lock:
            self.open_files.add(f)

    def queue(self, f: OpenFile) -> None:
        """Hand a file's extents to the workers, in pieces of about PIECE_BYTES."""
        pieces: list[list] = []
        piece: list = []
        size = 0
        for ext in f.extents:
            piece.append(ext)
            size += ext[1] - ext[0]
            if size >= PIECE_BYTES:
                pieces.append(piece)
                piece, size = [], 0
        if piece or not pieces:
            pieces.append(piece)
        f.pending = len(pieces)
        for piece in pieces:
            self.batch.append((f, piece))
            self.batch_bytes += sum(e - s for s, e, _ in piece)
            if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= self.batch_files:
                self._submit()

    def drain(self) -> None:
        """Submit what is batched and wait for every worker; the first worker error is raised."""
        self._submit()
        while self.inflight:
            done, self.inflight = wait(self.inflight, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()

    def _submit(self) -> None:
        if not self.batch:
            return
        while len(self.inflight) >= self.max_inflight:
            done, self.inflight = wait(self.inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                fut.result()
        self.inflight.add(self.pool.submit(self._write, self.batch))
        self.batch = []
        self.batch_bytes = 0

    def close(self) -> None:
        """Stop the workers and close every file still open (after success or failure)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self.files_lock:
            left = list(self.open_files)
            self.open_files.clear()
        for f in left:
            f.close()

    # -- workers ----------------------------------------------------------------------------

    def _read(self, extent: Extent) -> memoryview:
        """read_extent, but only one thread decodes a given chunk (the rest then hit the cache):
        small files packed into one chunk are often written by several workers at once."""
        cid = extent.ref.cid
        lock = self.chunk_locks.get(cid)
        if lock is None:
            lock = self.chunk_locks.setdefault(cid, threading.Lock())
        with lock:
            return self.fs.data.read_extent(extent)

    def _write(self, batch: list[tuple[OpenFile, list]]) -> None:
        for f, piece in batch:
            try:
                for start, end, extent in piece:
                    data = self._read(extent)
                    if len(data) < end - start:
                        raise CorruptNode(f"file {keys.show(f.path)}", f"extent at {start} is past its blob's end")
                    pwrite_all(f.fd, memoryview(data)[:end - start], start)
                with f.lock:
                    f.pending -= 1
                    last = f.pending == 0
                if last:
                    self._finish(f)
            except BaseException:
                self._forget(f)
                raise

    def _finish(self, f: OpenFile) -> None:
        info = f.info
        try:
            tail = f.extents[-1][1] if f.extents else 0
            if tail < info.size:
                os.ftruncate(f.fd, info.size)  # a trailing hole
            self.attrs.set_xattrs(f.fd, f.path, info)
            self.attrs.chown(f.fd, info)
            os.fchmod(f.fd, self.attrs.mode(info))
            self.attrs.restore_times(f.fd, info)
        finally:
            self._forget(f)

    def _forget(self, f: OpenFile) -> None:
        f.close()
        with self.files_lock:
            self.open_files.discard(f)
