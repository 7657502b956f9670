"""Data: file contents in and out of content-addressed blobs.

In: the contents of one or many files are read as ONE stream and cut with FastCDC (mean about
1 MiB, min 256 KiB, max 4 MiB). Each chunk becomes one blob; each file gets the extents —
(blob, offset, length) slices — covering its part of the stream. So a thousand 1 KiB files
share one blob instead of making a thousand (packing), and a one-byte edit in a large file
changes one or two chunks, because content-defined cuts fall back into step right after it.

Chunks are cut in place in two reused segments (cutter.py) and sealed (zstd, encryption,
hash) and posted on a bounded thread pool, each straight from its segment into an output
buffer the sealing thread reuses: the libraries release the GIL, so hashing and compression of
one chunk overlap with reading and cutting the next, and no chunk is copied in Python. At most
`max_inflight` chunks are in flight, and memory stays bounded whatever the input size: two
segments (SEGMENT_BYTES each, touched as they fill) and one output buffer per sealing thread,
kept by the DataStore for its next write.

Out: `read_extent` fetches and verifies a blob through an LRU of decoded chunks.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import TYPE_CHECKING, BinaryIO, Callable, Generic, Iterable, Iterator, TypeVar

import blake3

from gotfs.cutter import Cutter, Segment
from gotfs.extent import Extent
from gotkv.blobs.codec import Codec
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.cache import LRU
from gotkv.value import Value

if TYPE_CHECKING:  # imported where used: commands that only read pay for neither
    from concurrent.futures import Future, ThreadPoolExecutor

    from pyfastcdc import FastCDC

T = TypeVar("T")
SEGMENT_BYTES = 16 << 20  # each of a write's two cutting segments (at least 2 x max_size)
Source = Callable[[], BinaryIO]  # opens a file for reading when its turn comes


class ChunkParams(Value):
    """FastCDC settings. pyfastcdc's real mean is avg + min, so 768 + 256 KiB gives ~1 MiB."""

    __slots__ = ("avg_size", "min_size", "max_size", "seed")
    avg_size: int
    min_size: int
    max_size: int
    seed: int

    def __init__(self, avg_size: int = 768 << 10, min_size: int = 256 << 10, max_size: int = 4 << 20,
                 seed: int = 0) -> None:
        for name, value in (("avg_size", avg_size), ("min_size", min_size), ("max_size", max_size), ("seed", seed)):
            object.__setattr__(self, name, value)

    @classmethod
    def keyed(cls, salt: bytes, **kw) -> ChunkParams:
        """Params whose gear table is keyed by the repo salt, so cut points reveal nothing."""
        seed = int.from_bytes(blake3.blake3(b"gotfs chunk seed", key=salt).digest(4), "little")
        return cls(seed=seed, **kw)


class Written(Generic[T]):
    """One file's result: its tag, size, and extents as (end offset in file, Extent)."""

    __slots__ = ("tag", "size", "extents")

    def __init__(self, tag: T, size: int, extents: list[tuple[int, Extent]]) -> None:
        self.tag = tag
        self.size = size
        self.extents = extents

    def __eq__(self, other) -> bool:
        if other.__class__ is Written:
            return (self.tag, self.size, self.extents) == (other.tag, other.size, other.extents)
        return NotImplemented

    __hash__ = None  # mutable


class _Prefixed:
    """A _Concat stream with its first bytes already read into `head` (by write_many, to see
    whether the stream is short): they are handed out again first."""

    def __init__(self, head: bytearray, stream: _Concat):
        self._head = memoryview(head)
        self._stream = stream

    def readinto(self, buf) -> int:
        return self.copy_into(buf, None, 0)

    def copy_into(self, buf, fd: int | None, offset: int) -> int:
        view = memoryview(buf).cast("B")
        n = min(len(self._head), len(view))
        if n:
            view[:n] = self._head[:n]
            self._head = self._head[n:]
        return n + (self._stream.copy_into(view[n:], fd, offset + n) if n < len(view) else 0)


class _Concat:
    """A readinto() stream over many files, recording where each starts and ends.

    FastCDC needs every read filled (a short read shifts its cuts), so readinto moves on to
    the next file until the buffer is full or every file is read.
    """

    def __init__(self, sources: Iterator[tuple[object, Source]]):
        self._sources = sources
        self._file: BinaryIO | None = None
        self._current: list | None = None
        self.offset = 0
        self.spans: deque[list] = deque()  # [tag, start, end or None], in stream order

    def _next_file(self) -> bool:
        try:
            tag, opener = next(self._sources)
        except StopIteration:
            return False
        self._file = opener()
        self._current = [tag, self.offset, None]
        self.spans.append(self._current)
        return True

    def readinto(self, buf) -> int:
        return self.copy_into(buf, None, 0)

    def copy_into(self, buf, fd: int | None, offset: int) -> int:
        """readinto(buf), where `buf` maps file `fd` at `offset` (None: it maps nothing):
        files that can copy themselves into `fd` do (see cutter.py)."""
        view = memoryview(buf).cast("B")
        filled = 0
        while filled < len(view):
            if self._file is None and not self._next_file():
                break
            copy = getattr(self._file, "copy_into", None) if fd is not None else None
            n = copy(view[filled:], fd, offset + filled) if copy else self._file.readinto(view[filled:])
            if n:
                filled += n
                self.offset += n
                continue
            self._file.close()
            self._file = None
            self._current[2] = self.offset
        return filled


class DataStore:
    """Writes file contents as chunked, packed, sealed blobs and reads them back."""

    def __init__(self, store: Store, codec: Codec, params: ChunkParams = ChunkParams(), *,
                 cache_bytes: int = 64 << 20, threads: int = 2, max_inflight: int = 6):
        self.store = store
        self.codec = codec
        self.params = params
        self.cache: LRU[bytes | memoryview] = LRU(cache_bytes)
        self.threads = threads
        self.max_inflight = max_inflight
        self.chunks_written = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._segments: list[tuple[Segment, Segment]] = []  # idle, for the next write_many
        self._outputs: list[bytearray] = []  # idle sealing outputs

    def _sealers(self) -> ThreadPoolExecutor:
        """The sealing threads, started once and kept: shared by concurrent write_many calls
        (each bounds its own chunks in flight). A pool per call cost two thread starts and, in
        the store, two fresh SQLite connections per flush of a mount."""
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="got-seal")
            return self._pool

    def _chunker(self) -> FastCDC:
        from pyfastcdc import FastCDC

        p = self.params
        return FastCDC(p.avg_size, min_size=p.min_size, max_size=p.max_size, seed=p.seed)

    def _take_segments(self) -> tuple[Segment, Segment]:
        """Two cutting segments: idle ones, else new memory files (no page is touched, nor
        zeroed with the GIL held, until the stream fills it)."""
        with self._pool_lock:
            if self._segments:
                return self._segments.pop()
        size = max(SEGMENT_BYTES, 4 * self.params.max_size)
        return Segment.in_memfd(size), Segment.in_memfd(size)

    def _give_segments(self, segments: tuple[Segment, Segment]) -> None:
        for s in segments:
            s.settle()
        with self._pool_lock:
            self._segments.append(segments)

    def _seal(self, chunk: memoryview, known: dict[bytes, Ref] | None = None) -> Ref:
        """Seal one chunk (a view of a segment) into a reused output buffer and post it,
        unless it seals to a ref of `known` (see write_many). Stores copy what they keep
        (store.py), so the buffer is free again once post returns."""
        with self._pool_lock:
            out = self._outputs.pop() if self._outputs else None
        if out is None:
            out = bytearray(self.params.max_size + self.codec.overhead)
        try:
            ref, stored = self.codec.seal_into(chunk, out, known)
            if stored is not None:
                self.store.post(stored, ref.cid)
            del stored
        finally:
            with self._pool_lock:
                self._outputs.append(out)
        return ref

    def known(self, refs: Iterable[Ref]) -> dict[bytes, Ref]:
        """Of `refs`, those the store holds, keyed for write_many's `known`. Cost: one bulk
        exists() call."""
        by_cid = {ref.cid: ref for ref in refs}
        if not by_cid:
            return {}
        return {self.codec.known_id(by_cid[cid]): by_cid[cid] for cid in self.store.exists(by_cid)}

    def write_many(self, sources: Iterable[tuple[T, Source]], *,
                   known: dict[bytes, Ref] | None = None) -> Iterator[Written[T]]:
        """Chunk the files of `sources` as one stream; yield each file's extents in order.

        A file is yielded as soon as every chunk holding it is posted. Nothing is durable
        until the store is flushed; callers flush before publishing a root.

        `known` (from known(): refs the caller vouches stay stored, such as the previous
        version's chunks of a file being rewritten, which its base tree still names): a chunk
        that seals to one of them is neither encrypted, hashed for its id, nor posted. The
        refs are those sealing would make, so the extents, and the root, are the same.
        """
        stream = _Concat(iter(sources))
        head = bytearray(self.params.min_size)
        filled = stream.readinto(head)
        if filled < len(head):  # the whole stream: shorter than any cut, so one chunk
            yield from self._write_short(stream, memoryview(head)[:filled], known)
            return
        inflight: deque[tuple[int, int, Future]] = deque()
        done: list[Written[T]] = []
        pending: deque[Written[T]] = deque()
        pool = self._sealers()
        segments = self._take_segments()
        try:
            for cut in Cutter(self._chunker(), _Prefixed(head, stream), segments):
                sealing = pool.submit(self._seal, cut.data, known)
                Cutter.hold(cut, sealing)
                inflight.append((cut.offset, len(cut.data), sealing))
                del cut
                while len(inflight) > self.max_inflight or (inflight and inflight[0][2].done()):
                    self._settle(stream, inflight.popleft(), pending, done)
                    yield from done
                    done.clear()
            while inflight:
                self._settle(stream, inflight.popleft(), pending, done)
                yield from done
                done.clear()
        finally:
            for _, _, future in inflight:  # on an error (or an abandoned generator): nothing left running
                future.cancel()
            for _, _, future in inflight:
                if not future.cancelled():
                    future.exception()  # waits; its error, if any, is the first one's echo
            self._give_segments(segments)
        self._settle_rest(stream, pending, done)
        yield from done

    def _write_short(self, stream: _Concat, data: memoryview, known: dict[bytes, Ref] | None) -> list[Written]:
        """The files of a stream that ended before min_size bytes: FastCDC cuts nowhere
        before min_size, so the stream is one chunk, and this seals it here, as the general
        path would (the same ref and extents), without the chunker (pyfastcdc), the sealing
        threads or the cutting segments: what a commit of a few small files, or a flush of a
        few small writes, would otherwise start up for one chunk. Cost: one seal and post."""
        ref = None
        if data:
            ref = self._seal(data, known)
            self.chunks_written += 1
        out = []
        for tag, start, end in stream.spans:
            out.append(Written(tag, end - start, [(end - start, Extent(ref, start, end - start))] if end > start else []))
        stream.spans.clear()
        return out

    def _settle(self, stream: _Concat, item, pending: deque, done: list) -> None:
        """Give the files overlapping one posted chunk their extents; retire finished files.

        `pending` holds (Written, span) for files the stream has reached, in order; a span's
        end is filled in by the reader when it hits that file's end.
        """
        cstart, clen, future = item
        ref = future.result()
        self.chunks_written += 1
        cend = cstart + clen
        spans = stream.spans
        while spans and (spans[0][1] < cend or spans[0][2] == cend):
            span = spans.popleft()
            pending.append((Written(span[0], 0, []), span))
        for w, (_, start, end) in pending:
            lo = max(start, cstart)
            hi = cend if end is None else min(end, cend)
            if hi > lo:
                w.extents.append((hi - start, Extent(ref, lo - cstart, hi - lo)))
        while pending and pending[0][1][2] is not None and pending[0][1][2] <= cend:
            w, (_, start, end) = pending.popleft()
            w.size = end - start
            done.append(w)

    def _settle_rest(self, stream: _Concat, pending: deque, done: list) -> None:
        """After the last chunk only files with no bytes left can remain."""
        for w, (_, start, end) in pending:
            w.size = end - start
            done.append(w)
        pending.clear()
        for tag, start, end in stream.spans:
            done.append(Written(tag, end - start, []))
        stream.spans.clear()

    def write_one(self, reader: BinaryIO) -> Written[None]:
        """Chunk one stream alone (no packing with other files)."""
        return next(iter(self.write_many([(None, lambda: reader)])))

    def write_bytes(self, data: bytes) -> list[tuple[int, Extent]]:
        return self.write_one(io.BytesIO(data)).extents

    def hint(self, extents: Iterable[Extent]) -> None:
        """These extents will be read soon (see Store.hint)."""
        self.store.hint(extent.ref.cid for extent in extents)

    @property
    def decodes_into(self) -> bool:
        """Whether raw chunks can be decoded straight into a caller's buffer (decode_into)."""
        return not self.codec.encrypted or self.codec.layout >= 2

    def decode_into(self, ref: Ref, out: memoryview) -> bool:
        """Verify chunk `ref` and, if its payload is raw, decrypt it into `out` (exactly its
        size: codec.raw_size of its stored size); False if it is compressed (use read_extent).
        Bypasses the cache: the caller's buffer is the cache."""
        return self.store.get_with(ref.cid, lambda stored: self.codec.decode_into(ref, stored, out))

    def read_extent(self, extent: Extent) -> memoryview:
        """The bytes of one extent, verified, via the chunk cache.

        The stored bytes are decrypted straight out of the store's view of them (a mapped
        pack), so a chunk costs one fresh buffer (its plaintext, which the cache keeps).
        decode_view never returns memory shared with its input, as get_with requires.
        """
        plain = self.cache.get(extent.ref.cid)
        if plain is None:
            ref = extent.ref
            plain = self.store.get_with(ref.cid, lambda stored: self.codec.decode_view(ref, stored))
            self.cache.put(extent.ref.cid, plain)
        return memoryview(plain)[extent.offset:extent.offset + extent.length]
