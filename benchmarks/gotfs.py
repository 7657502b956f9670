"""gotfs benchmark: file ingest, edits, export and diff, next to the machine's own limits.

Measured in one run, on the same disk:

  disk_write        dd of a new file with conv=fsync: the durable write ceiling (MB/s)
  chunk_hash        FastCDC + BLAKE3 per chunk over in-memory random data (MB/s, one thread)
  ingest_1g         a 1 GiB random file into a LocalStore-backed FS, flushed (MB/s); run in a
                    child process so that its peak RSS is its own
  ingest_vs_disk    ingest_1g / disk_write; target >= 0.80
  ingest_rss        the child's peak RSS (MiB); target <= 200
  restic_backup     `restic backup` of the same file, if restic is installed (MB/s)
  ingest_vs_restic  ingest_1g / restic_backup; target >= 2
  edit_new_bytes    bytes newly stored after a one-byte edit of the big file and a re-ingest
  tree_files/tree_mb  import of a real many-file tree (this Python's stdlib): files/s, MB/s
  export            export of the big file to the host (MB/s)
  diff_100k         diff of two 100k-file roots that differ in 10 files (ms); target <= 50

--quick uses a 64 MiB file, a 10k-file diff and a smaller tree. MB is 10**6 bytes.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from benchmarks.harness import Figure, timed

MiB = 1 << 20
MB = 1e6


def _disk_write(path: Path, mib: int) -> float:
    """MB/s of dd writing a new file durably."""
    os.sync()
    t, _ = timed(lambda: subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fsync"],
        check=True, capture_output=True))
    path.unlink()
    return mib * MiB / t / MB


def _chunk_hash(data: bytes) -> float:
    import blake3
    from pyfastcdc import FastCDC
    from gotfs.chunking import ChunkParams
    p = ChunkParams()
    cdc = FastCDC(p.avg_size, min_size=p.min_size, max_size=p.max_size)
    t, _ = timed(lambda: [blake3.blake3(c.data).digest() for c in cdc.cut_buf(data)])
    return len(data) / t / MB


def _random_bytes(rnd: random.Random, n: int) -> bytes:
    """randbytes in 64 MiB pieces (one call asks for n * 8 bits as a C int: 256 MiB overflows)."""
    return b"".join(rnd.randbytes(min(64 * MiB, n - o)) for o in range(0, n, 64 * MiB))


def _make_file(path: Path, mib: int, seed: int) -> None:
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        for _ in range(mib // 64 or 1):
            f.write(rnd.randbytes(min(mib, 64) * MiB))


_CHILD = r"""
import json, sys, time
from gotfs import FS
from gotkv import LocalStore
store = LocalStore(sys.argv[1])
fs = FS(store, secret=b"k" * 32)
# The write path imports its chunker, cipher, compressor and thread pool on first use: a
# small write into a throwaway store first, so the timer sees ingest, not process start-up.
import io, os
from gotkv import MemoryStore
warm = FS(MemoryStore(), secret=b"k" * 32)
warm.write_file(warm.new(), "warm", io.BytesIO(os.urandom(4 << 20)))
t = time.perf_counter()
with open(sys.argv[2], "rb", buffering=0) as f:
    root = fs.write_file(fs.new(), "big", f)
store.flush()
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child would report the
# high-water mark of the parent it was forked from.
hwm_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": dt, "rss_mib": hwm_kib / 1024,
                  "root": str(root), "live": store.stats()["live_bytes"]}))
store.close()
"""


def _ingest(store_dir: Path, file: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(store_dir), str(file)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _restic(file: Path, work: Path) -> float | None:
    if shutil.which("restic") is None:
        return None
    repo = work / "restic"
    env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_REPOSITORY=str(repo), RESTIC_CACHE_DIR=str(work / "rcache"))
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    os.sync()
    t, _ = timed(lambda: subprocess.run(["restic", "backup", "-q", str(file)], env=env, check=True,
                                        capture_output=True))
    return file.stat().st_size / t / MB


def _tree(quick: bool) -> Path:
    return Path(sysconfig.get_paths()["stdlib"]) / ("email" if quick else "")


def _diff_roots(n_files: int) -> tuple[float, int]:
    """Build two n-file roots differing in 10 files; time a cold gotfs diff (ms)."""
    from gotfs import FS
    from gotfs.diff import diff
    from gotfs.dirs import mkdir
    from gotfs.files import write_file, write_files
    from gotfs.tx import Tx
    from gotkv import MemoryStore
    fs = FS(MemoryStore(), secret=b"k" * 32)
    tx = Tx(fs, fs.new())
    for d in range(n_files // 1000):
        mkdir(tx, (b"d%03d" % d,))
    files = ((((b"d%03d" % (i // 1000)), b"f%05d.txt" % i), (lambda i=i: io.BytesIO(b"file %d\n" % i)), 0o644, None)
             for i in range(n_files))
    for _ in write_files(tx, files):
        pass
    a = tx.commit()
    tx = Tx(fs, a)
    rnd = random.Random(3)
    for i in rnd.sample(range(n_files), 10):
        write_file(tx, (b"d%03d" % (i // 1000), b"f%05d.txt" % i), b"changed %d\n" % i)
    b = tx.commit()
    fs.kv.nodes.cache.clear()
    t, changes = timed(lambda: list(diff(fs, a, b)))
    assert len(changes) == 10, len(changes)
    return t * 1000, len(changes)


def run(quick: bool) -> list[Figure]:
    from gotfs import FS
    from gotkv import LocalStore
    mib = 64 if quick else 1024
    figures: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="got-bench-fs-"))
    try:
        disk = _disk_write(work / "dd.bin", mib)
        figures.append(Figure("disk_write", disk, "MB/s", note=f"dd conv=fsync, {mib} MiB new file"))
        figures.append(Figure("chunk_hash", _chunk_hash(_random_bytes(random.Random(1), min(mib, 256) * MiB)), "MB/s",
                              note="FastCDC + BLAKE3, one thread, in memory"))
        big = work / "big.bin"
        _make_file(big, mib, 7)
        r = _ingest(work / "store", big)
        ingest = mib * MiB / r["seconds"] / MB
        figures.append(Figure("ingest_1g", ingest, "MB/s", note=f"{mib} MiB random file, LocalStore, encrypted, flushed"))
        figures.append(Figure("ingest_vs_disk", ingest / disk, "ratio", 0.80, note="same run"))
        figures.append(Figure("ingest_rss", r["rss_mib"], "MiB", 200, "lower", note="peak RSS of the ingesting process"))
        restic = _restic(big, work)
        if restic is not None:
            figures.append(Figure("restic_backup", restic, "MB/s", note="restic backup of the same file"))
            figures.append(Figure("ingest_vs_restic", ingest / restic, "ratio", 2.0, note="same run"))

        with open(big, "r+b") as f:
            f.seek(mib * MiB // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        before = r["live"]
        r2 = _ingest(work / "store", big)
        figures.append(Figure("edit_new_bytes", r2["live"] - before, "B",
                              note="stored after a one-byte edit and a full re-ingest (dedup)"))

        from gotfs.porting import export_dir, import_dir
        store = LocalStore(work / "store")
        fs = FS(store, secret=b"k" * 32)
        tree = _tree(quick)
        t, root = timed(lambda: import_dir(fs, fs.new(), tree, ignore=lambda p: "__pycache__" in p or "site-packages" in p))
        store.flush()
        files = sum(1 for _, i in fs.walk(root) if i.is_file)
        size = sum(i.size for _, i in fs.walk(root) if i.is_file)
        figures.append(Figure("tree_files", files / t, "files/s", note=f"{files} files from {tree}"))
        figures.append(Figure("tree_mb", size / t / MB, "MB/s", note=f"{size / MB:.0f} MB"))
        big_root = fs.write_file(fs.new(), "big", open(big, "rb"))
        fs.data.cache.clear()
        t, _ = timed(lambda: export_dir(fs, big_root, work / "export"))
        figures.append(Figure("export", mib * MiB / t / MB, "MB/s", note="one big file, cold chunk cache"))
        store.close()

        n = 10_000 if quick else 100_000
        ms, _ = _diff_roots(n)
        figures.append(Figure("diff_100k", ms, "ms", 50, "lower", note=f"{n} files, 10 changed, cold node cache"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures
