"""DataStore.write_many: a stream shorter than min_size is one chunk, sealed without the
chunker; every stream, short or not, gets the chunks FastCDC cuts of the whole stream."""

from __future__ import annotations

import io
import random

import pytest
from pyfastcdc import FastCDC

from gotfs.chunking import ChunkParams, DataStore
from gotfs.extent import Extent
from gotkv.blobs.codec import Codec
from gotkv.blobs.memory import MemoryStore

PARAMS = ChunkParams(avg_size=4096, min_size=1024, max_size=16384, seed=7)


def store() -> DataStore:
    return DataStore(MemoryStore(), Codec(bytes(32)), PARAMS)


def expected(ds: DataStore, files: list[bytes]) -> list[tuple[int, list[tuple[int, Extent]]]]:
    """(size, extents) per file, from FastCDC's cuts of the concatenated stream."""
    data = b"".join(files)
    cdc = FastCDC(PARAMS.avg_size, min_size=PARAMS.min_size, max_size=PARAMS.max_size, seed=PARAMS.seed)
    chunks = [(c.offset, bytes(c.data)) for c in cdc.cut_stream(io.BytesIO(data))]
    refs = [(offset, len(chunk), ds.codec.encode(chunk)[0]) for offset, chunk in chunks]
    out, start = [], 0
    for f in files:
        end = start + len(f)
        extents = [(min(end, c + n) - start, Extent(ref, max(start, c) - c, min(end, c + n) - max(start, c)))
                   for c, n, ref in refs if min(end, c + n) > max(start, c)]
        out.append((len(f), extents))
        start = end
    return out


def written(ds: DataStore, files: list[bytes]) -> list[tuple[int, list[tuple[int, Extent]]]]:
    results = list(ds.write_many([(i, (lambda f=f: io.BytesIO(f))) for i, f in enumerate(files)]))
    assert [w.tag for w in results] == list(range(len(files)))
    return [(w.size, w.extents) for w in results]


@pytest.mark.parametrize("sizes", [[], [0], [0, 0], [1], [5, 0, 7], [1023], [1000, 23], [1024], [1000, 24],
                                   [1025], [0, 1024, 0, 1], [20_000, 3, 0, 50_000], [16384 * 3 + 5]])
def test_chunks_are_fastcdcs_of_the_whole_stream(sizes):
    rnd = random.Random(sum(sizes) + len(sizes))
    files = [rnd.randbytes(n) for n in sizes]
    ds = store()
    assert written(ds, files) == expected(ds, files)
    assert b"".join(ds.codec.decode(e.ref, ds.store.get(e.ref.cid))[e.offset:e.offset + e.length]
                    for size, extents in written(ds, files) for _, e in extents) == b"".join(files)


def test_a_stream_shorter_than_min_size_starts_no_chunker_and_no_threads(monkeypatch):
    def no_chunker(self):
        raise AssertionError("the chunker was started for a short stream")

    monkeypatch.setattr(DataStore, "_chunker", no_chunker)
    monkeypatch.setattr(DataStore, "_sealers", no_chunker)
    ds = store()
    files = [b"small", b"", b"files" * 100]
    assert written(ds, files) == expected(ds, files)
    assert ds.chunks_written == 1
