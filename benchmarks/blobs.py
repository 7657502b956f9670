"""Blob-layer benchmark: LocalStore ingest against the disk's own durable write speed.

In one temporary directory (under the system temp dir, which is on the repo's filesystem here):

  post_1mib        post 1 MiB incompressible blobs (1 GiB; quick: 64 MiB), then flush: MB/s
  raw_write        the same bytes written with os.write to a new file, then fsync: MB/s
  post_vs_raw      post_1mib / raw_write; target >= 0.70 (the store ingests near disk speed)
  get_cached       get every blob back while its pages are still cached: MB/s
  get_cold         again after posix_fadvise(DONTNEED) on the packs: MB/s
  post_4kib        4 KiB blobs posted with one flush at the end: blobs/s
  codec_encode/_decode  Codec(secret) on 1 MiB incompressible blobs (CPU only): MB/s

Raw writes and store ingests alternate (raw, store, store, raw; twice with --quick) and each
figure is the median of its runs, so slow drift in the disk (writeback, the host) hits both alike; every timed
write starts after os.sync(). MB is 10**6 bytes. The directory is removed afterwards.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.harness import Figure, timed
from gotkv import Codec, LocalStore

SEED = 0x626C6F62
MiB = 1 << 20
MB = 1e6


def _blobs(rng: random.Random, count: int, size: int) -> list[bytes]:
    """`count` distinct incompressible blobs of `size` bytes, cut from one random pool."""
    pool_size = min(count * size, 64 * MiB) + size
    pool = rng.randbytes(pool_size)
    step = size + 4099  # odd stride: every blob starts at a different offset of the pool
    span = pool_size - size
    return [pool[o:o + size] for o in ((i * step) % span for i in range(count))]


def _raw_write(path: Path, blobs: list[bytes]) -> float:
    """Seconds to write `blobs` to a new file and fsync it."""
    def write() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for b in blobs:
                view = memoryview(b)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    os.sync()
    dt = timed(write)[0]
    path.unlink()
    return dt


def _store_ingest(path: Path, blobs: list[bytes]) -> tuple[float, LocalStore, list[bytes]]:
    """Seconds to post `blobs` to a new LocalStore and flush it; the store and the cids."""
    store = LocalStore(path)
    cids: list[bytes] = []

    def ingest() -> None:
        post = store.post
        cids.extend(post(b) for b in blobs)
        store.flush()
    os.sync()
    return timed(ingest)[0], store, cids


def _drop_cache(store_path: Path) -> None:
    for p in (store_path / "packs").glob("*.pack"):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run(quick: bool) -> list[Figure]:
    total = (64 if quick else 1024) * MiB
    count = total // MiB
    small_count = 5_000 if quick else 50_000
    codec_count = 16 if quick else 64
    rng = random.Random(SEED)
    blobs = _blobs(rng, count, MiB)
    figs: list[Figure] = []

    tmp = Path(tempfile.mkdtemp(prefix="got-bench-blobs-"))
    stores: list[LocalStore] = []
    try:
        raw_times, store_times = [], []
        kept = None
        # ABBA order; quick runs are short enough for fsync latency to dominate: do it twice
        order = ("raw", "store", "store", "raw") * (2 if quick else 1)
        for i, kind in enumerate(order):
            if kind == "raw":
                raw_times.append(_raw_write(tmp / f"raw{i}.bin", blobs))
                continue
            dt, store, cids = _store_ingest(tmp / f"store{i}", blobs)
            stores.append(store)
            store_times.append(dt)
            if kept is None:
                kept = (store, cids)
            else:  # free the disk space of the extra copy at once
                store.close()
                shutil.rmtree(store.path)
        raw = total / statistics.median(raw_times) / MB
        post = total / statistics.median(store_times) / MB
        figs.append(Figure("post_1mib", post, "MB/s", note=f"{total // MiB} x 1 MiB + flush, median of {len(store_times)}"))
        figs.append(Figure("raw_write", raw, "MB/s", note=f"os.write {total // MiB} MiB to a new file + fsync, median of {len(raw_times)}"))
        figs.append(Figure("post_vs_raw", post / raw, "ratio", 0.70, "higher",
                           "store ingest / raw durable write, same run"))

        store, cids = kept
        dt = statistics.median(timed(lambda: [store.get(c) for c in cids])[0] for _ in range(3))
        figs.append(Figure("get_cached", total / dt / MB, "MB/s", note="pages cached, median of 3"))
        _drop_cache(store.path)
        got: list[bytes] = []
        dt = timed(lambda: got.extend(store.get(c) for c in cids))[0]
        figs.append(Figure("get_cold", total / dt / MB, "MB/s", note="after fadvise DONTNEED on the packs"))
        for j in rng.sample(range(count), min(8, count)):
            if got[j] != blobs[j]:
                raise AssertionError(f"blob {j} read back differs from what was posted")
        del got
        store.close()
        shutil.rmtree(store.path)

        # -- small blobs: many posts, one flush ------------------------------------------
        small = _blobs(rng, small_count, 4096)
        dt, store, _ = _store_ingest(tmp / "small", small)
        stores.append(store)
        figs.append(Figure("post_4kib", small_count / dt, "blobs/s",
                           note=f"{small_count:,} x 4 KiB, one flush; {small_count * 4096 / dt / MB:.0f} MB/s"))
        store.close()

        # -- codec (CPU): what each 1 MiB chunk costs before it reaches the store ----------
        codec = Codec(secret=rng.randbytes(32))
        sample = blobs[:codec_count]
        dt, sealed = timed(lambda: [codec.encode(b) for b in sample])
        figs.append(Figure("codec_encode", codec_count * MiB / dt / MB, "MB/s",
                           note="zstd probe (incompressible: skipped) + AES-256-GCM + BLAKE3"))
        dt = timed(lambda: [codec.decode(r, s) for r, s in sealed])[0]
        figs.append(Figure("codec_decode", codec_count * MiB / dt / MB, "MB/s", note="decrypt + verify tag"))
    finally:
        for s in stores:
            try:
                s.close()
            except Exception:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return figs
