"""HashingReader: a host file read for a snapshot, hashed as it passes, a large one read in
parallel parts with its hash off the caller's thread.

A snapshot reads each changed file once: the chunker (gotfs.cutter) cuts what the reader
fills, and the reader hashes it for the file's stat-cache row (statrows). Done plainly, both
run on the chunker's thread, one after the other: one read() at a time (queue depth one, with
only the kernel's readahead keeping the disk busy), then BLAKE3 over the bytes, then the cut.

For a file of PARALLEL_FROM bytes or more, each fill is split into up to PARTS preads issued
at once on the reader's threads (pread releases the GIL), and the hash of what a fill read
runs on one of those threads while the caller cuts it. Parallel preads defeat the kernel's
readahead (it sees no single sequential stream), so each fill also asks for the next one
(POSIX_FADV_WILLNEED), and the disk keeps reading while the caller cuts. What this gains on
a cold 1 GiB file is in docs/benchmarks.md (Peers, the 1-byte overwrite row).

The contract that makes the hash safe off-thread: a caller must not change the bytes a
readinto() filled until its next readinto() or close(), each of which first waits for that
hash. The Cutter keeps it: it rewrites a segment only after filling the other one.
"""

from __future__ import annotations

import os

import blake3

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:  # imported where used: a snapshot that reads no large file pays for none
    from concurrent.futures import Future, ThreadPoolExecutor

PARALLEL_FROM = 4 << 20  # files at least this large are read in parallel parts
PARTS = 4  # preads in flight per fill
MIN_PART = 1 << 20  # a fill is cut into parts no smaller than this
_ALIGN = 64 << 10


class HashingReader:
    """A file reader that hashes what passes through, so content is read only once.

    `hash` is the BLAKE3 of everything read so far (complete once readinto has returned 0).
    Cost: a small file, one read() per call and the hash inline; a large one, two thread
    starts per PARTS and one thread hop per call (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.f = open(path, "rb", buffering=0)
        self._hash = blake3.blake3()
        self._pool: ThreadPoolExecutor | None = None
        self._hashing: Future | None = None
        self._offset = 0
        try:
            if os.fstat(self.f.fileno()).st_size >= PARALLEL_FROM:
                import concurrent.futures

                self._pool = concurrent.futures.ThreadPoolExecutor(PARTS, thread_name_prefix="got-read")
        except BaseException:
            self.f.close()
            raise

    @property
    def hash(self):
        """The blake3 hasher over what was read (waits for a hash in flight)."""
        self._settle()
        return self._hash

    def readinto(self, buf) -> int:
        if self._pool is None:
            n = self.f.readinto(buf)
            if n:
                self._hash.update(memoryview(buf)[:n])
            return n
        self._settle()
        view = memoryview(buf).cast("B")
        n = self._read_parts(view)
        if n:
            self._hashing = self._pool.submit(self._hash.update, view[:n])
            self._pool.submit(_read_ahead, self.f.fileno(), self._offset, len(view))
        return n

    def _read_parts(self, view: memoryview) -> int:
        """Fill `view` from the file offset with parallel preads: the bytes read up to the
        first short part (the end of the file)."""
        size = len(view)
        parts = max(1, min(PARTS, size // MIN_PART))
        step = -(-size // parts // _ALIGN) * _ALIGN or size
        from concurrent.futures import wait

        fd = self.f.fileno()
        spans = [(lo, min(lo + step, size)) for lo in range(0, size, step)]
        futures = [self._pool.submit(os.preadv, fd, [view[lo:hi]], self._offset + lo) for lo, hi in spans[1:]]
        try:
            first = os.preadv(fd, [view[spans[0][0]:spans[0][1]]], self._offset)
        finally:
            wait(futures)  # on an error too: no part may still be writing into the caller's buffer
        got = [first] + [f.result() for f in futures]
        n = 0
        for (lo, hi), count in zip(spans, got):
            n += count
            if count < hi - lo:
                break
        self._offset += n
        return n

    def _settle(self) -> None:
        if self._hashing is not None:
            hashing, self._hashing = self._hashing, None
            hashing.result()

    def close(self) -> None:
        try:
            self._settle()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self.f.close()


def _read_ahead(fd: int, offset: int, size: int) -> None:
    """Start reading [offset, offset + size) into the page cache while the caller cuts: the
    parallel preads defeat the kernel's own readahead, which sees no single sequential stream."""
    try:
        os.posix_fadvise(fd, offset, size, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass  # (a hint only)
