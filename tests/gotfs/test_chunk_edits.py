"""The data-path claims, with the DEFAULT ChunkParams (FastCDC, mean ~1 MiB, max 4 MiB):

- a one-byte overwrite (write_at) of a 64 MiB file stores only a few new chunks;
- a one-byte insert (the whole file rewritten with write_file) stores only a few new chunks,
  because content-defined cut points fall back into step and unchanged chunks dedup;
- appending in small pieces, or reading the source in short reads, gives the same chunks as
  one whole write; a copy shares every data blob;
- many small files written in one transaction are packed: far fewer blobs than files;
- a 512 MiB file streams in and out with bounded memory (measured in a fresh process).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from gotfs import FS, files, keys
from gotfs.chunking import ChunkParams
from gotkv import MemoryStore

from .conftest import data_cids, extents_of

MiB = 1 << 20
BIG = 64 * MiB


def default_fs(store=None) -> FS:
    return FS(store if store is not None else MemoryStore())  # default Params and ChunkParams


@pytest.fixture(scope="module")
def big():
    """A 64 MiB seeded random file in a fresh FS: (fs, store, root, data)."""
    store = MemoryStore()
    fs = default_fs(store)
    data = random.Random(64).randbytes(BIG)
    root = fs.write_file(fs.new(), "big.bin", data)
    return fs, store, root, data


def digest(b) -> bytes:
    return hashlib.blake2b(b, digest_size=16).digest()


class Delta:
    """New blobs posted, chunks written, and new data blobs referenced between two points."""

    def __init__(self, fs: FS, store: MemoryStore, root):
        self.fs, self.store, self.root = fs, store, root
        self.posts, self.chunks = store.posts, fs.data.chunks_written

    def after(self, new_root) -> tuple[int, int, int]:
        new_data = data_cids(self.fs, new_root) - data_cids(self.fs, self.root)
        assert new_data <= set(self.store.list()), "every referenced chunk is stored"
        return len(new_data), self.store.posts - self.posts, self.fs.data.chunks_written - self.chunks


def test_default_chunks_are_about_a_mebibyte(big):
    fs, _, root, data = big
    ext = extents_of(fs, root, "big.bin")
    sizes = [e - s for s, e, _ in ext]
    assert ext[0][0] == 0 and ext[-1][1] == BIG and all(a[1] == b[0] for a, b in zip(ext, ext[1:]))
    assert max(sizes) <= 4 * MiB and min(sizes[:-1]) >= 256 << 10
    assert 0.6 * MiB < sum(sizes) / len(sizes) < 1.6 * MiB, sum(sizes) / len(sizes)
    assert digest(fs.read(root, "big.bin")) == digest(data)


@pytest.mark.parametrize("where", ["middle", "start", "last-byte", "extent-start", "extent-last-byte"])
def test_one_byte_overwrite_stores_few_chunks(big, where):
    fs, store, root, data = big
    ext = extents_of(fs, root, "big.bin")
    off = {"middle": BIG // 2 + 12345, "start": 0, "last-byte": BIG - 1,
           "extent-start": ext[len(ext) // 3][0], "extent-last-byte": ext[len(ext) // 3][1] - 1}[where]
    d = Delta(fs, store, root)
    new = fs.write_at(root, "big.bin", off, bytes([data[off] ^ 0xFF]))
    new_data, posts, chunks = d.after(new)
    assert 1 <= new_data <= 3 and chunks <= 3, (new_data, chunks)
    assert posts <= new_data + 4, f"{posts} blobs posted for a one-byte edit"
    got = fs.read(new, "big.bin")
    assert len(got) == BIG and got[off] == data[off] ^ 0xFF
    assert digest(got[:off]) == digest(data[:off]) and digest(got[off + 1:]) == digest(data[off + 1:])
    assert fs.read(root, "big.bin", off, 1) == data[off:off + 1], "the old root is unchanged"


@pytest.mark.parametrize("edit", ["insert", "delete"])
def test_one_byte_insert_or_delete_stores_few_chunks(big, edit):
    fs, store, root, data = big
    mid = BIG // 2 + 777
    changed = data[:mid] + b"!" + data[mid:] if edit == "insert" else data[:mid] + data[mid + 1:]
    d = Delta(fs, store, root)
    new = fs.write_file(root, "big.bin", changed)
    new_data, posts, chunks = d.after(new)
    assert chunks >= 50, "the whole file was re-chunked"
    assert 1 <= new_data <= 4, f"{new_data} new chunks for a one-byte {edit}"
    assert posts <= new_data + 4
    assert digest(fs.read(new, "big.bin")) == digest(changed)


def test_small_append_rechunks_only_the_tail(big):
    fs, store, root, data = big
    d = Delta(fs, store, root)
    new = fs.write_at(root, "big.bin", BIG, b"appended" * 128)
    new_data, posts, chunks = d.after(new)
    assert new_data <= 3 and chunks <= 3
    assert fs.read(new, "big.bin", BIG - 4) == data[-4:] + b"appended" * 128


def test_appending_in_pieces_still_gives_content_defined_chunks():
    """write_at re-chunks the extent that ends where an append starts, so a file appended in
    64 KiB pieces ends up in ~1 MiB chunks, not in one small blob per piece."""
    fs = default_fs()
    data = random.Random(5).randbytes(6 * MiB)
    root = fs.create(fs.new(), "log")
    for off in range(0, len(data), 64 << 10):
        root = fs.write_at(root, "log", off, data[off:off + (64 << 10)])
    ext = extents_of(fs, root, "log")
    assert digest(fs.read(root, "log")) == digest(data)
    assert len(ext) <= 12, f"{len(ext)} extents for 6 MiB appended in 96 pieces"
    assert all(e - s >= 256 << 10 for s, e, _ in ext[:-1])
    # and the result is the very chunking a one-shot write gives
    one_shot = fs.write_file(fs.new(), "log", data)
    assert [(s, e) for s, e, _ in extents_of(fs, one_shot, "log")] == [(s, e) for s, e, _ in ext]


class Trickle(io.RawIOBase):
    """A stream that hands out at most `step` bytes per read, like a pipe or a socket."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.pos = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.step, len(self.data) - self.pos)
        memoryview(buf)[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_short_reads_do_not_move_cut_points():
    """Chunking depends on the bytes only, not on how the source hands them out."""
    fs = default_fs()
    data = random.Random(11).randbytes(6 * MiB + 123)
    a = fs.write_file(fs.new(), "f", data)
    b = fs.write_file(fs.new(), "f", Trickle(data, 4093))
    assert a == b
    assert fs.read(b, "f") == data


def test_copy_shares_data_blobs(big):
    fs, store, root, data = big
    d = Delta(fs, store, root)
    new = fs.copy(root, "big.bin", "copy.bin")
    new_data, posts, chunks = d.after(new)
    assert new_data == 0 and chunks == 0 and posts <= 4
    assert [e for _, _, e in extents_of(fs, new, "copy.bin")] == [e for _, _, e in extents_of(fs, new, "big.bin")]
    assert digest(fs.read(new, "copy.bin")) == digest(data)


def test_small_files_are_packed():
    store = MemoryStore()
    fs = default_fs(store)
    contents = {f"d/f{i:04d}": random.Random(i).randbytes(1024) for i in range(1000)}
    chunks_before = fs.data.chunks_written
    with fs.edit(fs.mkdir(fs.new(), "d")) as tx:
        infos = list(files.write_files(tx, ((keys.parse_path(p), (lambda b=b: io.BytesIO(b)), 0o644, None)
                                            for p, b in contents.items())))
    root = tx.root
    assert len(infos) == 1000 and all(i.size == 1024 for i in infos)
    cids = data_cids(fs, root)
    assert 1 <= len(cids) <= 5, f"{len(cids)} data blobs for 1000 small files"
    assert fs.data.chunks_written - chunks_before <= 5
    assert len(store) < 100, f"{len(store)} blobs in all (data and tree nodes)"
    for p, b in contents.items():
        assert fs.read(root, p) == b
        assert fs.read(root, p, 1000, 100) == b[1000:]
    # files that straddle a chunk boundary have two extents in different blobs
    multi = [p for p in contents if len(extents_of(fs, root, p)) > 1]
    assert all(len({e.ref.cid for _, _, e in extents_of(fs, root, p)}) == 2 for p in multi)


def test_packing_mixed_sizes_and_empty_files():
    """One stream of empty files, small ones and ones larger than a chunk: each file gets
    extents tiling exactly its own bytes."""
    fs = default_fs()
    rng = random.Random(9)
    sizes = [0, 0, 5, 0, 9 * MiB, 0, 1, 300_000, 0] + [rng.choice([0, 1, 100, 5000, 70_000]) for _ in range(200)] + \
            [5 * MiB, 0]
    contents = {f"f{i:03d}": rng.randbytes(n) for i, n in enumerate(sizes)}
    with fs.edit(fs.new()) as tx:
        out = list(files.write_files(tx, ((keys.parse_path(p), (lambda b=b: io.BytesIO(b)), 0o600, None)
                                          for p, b in contents.items())))
    assert [i.size for i in out] == sizes
    root = tx.root
    for p, b in contents.items():
        ext = extents_of(fs, root, p)
        assert fs.stat(root, p).size == len(b)
        if not b:
            assert ext == []
            continue
        assert ext[0][0] == 0 and ext[-1][1] == len(b) and all(x[1] == y[0] for x, y in zip(ext, ext[1:]))
        assert fs.read(root, p) == b


# -- streaming memory bound --------------------------------------------------------------------

STREAM_SIZE = 512 * MiB
PIECE = 8 * MiB


class Generated(io.RawIOBase):
    """`size` pseudo-random bytes produced on the fly (BLAKE3 XOF of a seed), never held whole."""

    def __init__(self, size: int, seed: bytes = b"gotfs stream"):
        self.size, self.pos = size, 0
        self.xof = blake3.blake3(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.size - self.pos)
        if n <= 0:
            return 0
        memoryview(buf)[:n] = self.xof.digest(n, seek=self.pos)
        self.pos += n
        return n

    def expected(self, offset: int, n: int) -> bytes:
        return self.xof.digest(n, seek=offset)


def _maxrss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def stream_probe(store_dir: str, size: int) -> dict:
    """Run in a fresh process: write `size` bytes from a generator, read them back in 8 MiB
    pieces, and report the peak RSS growth over the baseline after setup. Reading keeps up
    to 64 MiB of decoded chunks in the DataStore's LRU by design, so the bound is the same
    for both phases: well below the file size, whatever the file size."""
    from gotkv import LocalStore
    store = LocalStore(store_dir)
    fs = FS(store, chunk_params=ChunkParams())
    root = fs.new()
    gen = Generated(size)
    gen.expected(0, 1)
    base = _maxrss_mib()
    t0 = time.perf_counter()
    root = fs.write_file(root, "stream.bin", gen)
    store.flush()
    t1 = time.perf_counter()
    after_write = _maxrss_mib()
    running, expected = blake3.blake3(), blake3.blake3()
    ok = True
    for off in range(0, size, PIECE):
        piece = fs.read(root, "stream.bin", off, PIECE)
        want = gen.expected(off, min(PIECE, size - off))
        ok &= piece == want
        running.update(piece)
        expected.update(want)
        del piece, want  # hold one piece at a time
    t2 = time.perf_counter()
    result = {"size": fs.stat(root, "stream.bin").size, "ok": ok and running.digest() == expected.digest(),
              "extents": sum(1 for _ in fs.kv.iterate(root, keys.extents_span(("stream.bin".encode(),)))),
              "write_growth": after_write - base, "total_growth": _maxrss_mib() - base,
              "write_s": t1 - t0, "read_s": t2 - t1}
    store.close()
    return result


def test_streaming_write_and_read_use_bounded_memory(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    code = ("import json, sys; from tests.gotfs.test_chunk_edits import stream_probe; "
            "print(json.dumps(stream_probe(sys.argv[1], int(sys.argv[2]))))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store"), str(STREAM_SIZE)],
                          cwd=repo, capture_output=True, text=True, timeout=120,
                          # a fixed mmap threshold makes glibc return freed chunk buffers at once,
                          # so RSS measures what the library holds, not what the allocator keeps
                          env={**os.environ, "PYTHONPATH": str(repo), "MALLOC_MMAP_THRESHOLD_": "131072"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["size"] == STREAM_SIZE and res["ok"], res
    assert STREAM_SIZE / (4 * MiB) <= res["extents"] <= STREAM_SIZE / (256 << 10), res
    assert res["write_growth"] < 150, f"writing {STREAM_SIZE >> 20} MiB grew RSS by {res['write_growth']:.0f} MiB"
    assert res["total_growth"] < 150, f"write + read grew RSS by {res['total_growth']:.0f} MiB"
