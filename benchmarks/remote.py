"""remote benchmark: got's push, clone and lazy mount against a real S3 engine, in one run
next to restic and next to the ceiling (a plain client on the same engine).

Everything runs against one Ceph RADOS Gateway that this benchmark starts and stops
(benchmarks/rgw.py; RAM-backed OSD on this machine, so "the network" is loopback and the
engine shares the CPUs with the client). Measured, on 1 GiB of random data and on a tree of
10k small files (100 B - 8 KiB each), and a 256 MiB file for the lazy mount:

  plain_put / plain_get   the ceiling: the same bytes PUT as objects of got's pack size and
                          read back with ranged GETs of 8 MiB, by the same client library got
                          uses (obstore), from this process, with 4, 8 and 16 requests in
                          flight, the best of the three. The bytes come from memory and go
                          nowhere: this is what the engine and the network allow, not a tool.
  push                    `got push` of a commit holding the data (MB/s); the commit is made
                          first and not timed (commit_push_vs_restic counts it)
  clone                   the whole `got clone` (fetch + checkout, MB/s); the note gives the
                          fetch part (the "seconds" of its --json)
  restic_backup / restic_restore   `restic backup` / `restic restore` of the same files to the
                          same engine, with restic's defaults (its pack size, 5 connections,
                          compression "auto"); `restic init` first, not timed; each command gets
                          its own empty cache dir, as a clone on a new machine has none
  push_vs_restic          restic backup time / push time            (target >= 2)
  push_vs_plain_put       push MB/s / plain_put MB/s                 (target >= 0.7)
  clone_vs_plain_get      clone MB/s / plain_get MB/s                (target >= 0.8)
  clone_vs_restic_restore restic restore time / clone time           (target >= 1: faster)
  *_requests              requests the gateway served during the operation, by its own
                          counters (perf dump): the same count for got, restic and the plain
                          client, whatever each one reports about itself
  small_push / small_clone   the same for the 10k-file tree (files/s); small_push_requests
                          (target <= 200), small_push_vs_restic (restic backup / push time,
                          target >= 1)
  incremental_push_s      `got push` after a one-byte edit of the 1 GiB file and a commit
                          (target <= 1 s); _objects and _bytes: PUTs and PUT bytes at the gateway
  lazy_first_byte_s       `got mount URL#main DIR` with an empty blob cache and no repository,
                          until the first byte of the 256 MiB file is read (target <= 0.5 s); the
                          note also gives it with page caches dropped (got's code then loads
                          from disk too)
  lazy_seq                a cold sequential read of that file (1 MiB reads) through a fresh
                          mount with an empty cache; lazy_seq_vs_plain_get = lazy_seq / plain GET
                          of the same file's bytes (target >= 0.8)

Fairness: got and restic run as real processes (wall time around subprocess.run), on the same
files, against the same engine, in the same run; push, clone, backup and restore alternate
for ROUNDS rounds (fresh buckets each) and the fastest of each counts, so a burst of load from
elsewhere hits neither tool alone. Page caches are dropped (`echo 3 > /proc/sys/vm/drop_caches`)
before every timed push, backup, clone, restore and mount, so each tool reads its input from
disk (the engine's memstore is process memory, which dropping caches does not cool). Where a
target is relative, it is a ratio of figures of this run. Each note gives the CPU seconds of
the client (the tool's processes, or this process for the plain client) and of the engine's
daemons, and how busy the whole machine was: on a small machine a transfer is often CPU-bound,
and load from elsewhere shows as "busy" beyond client + engine. Buckets are purged between
phases, so the RAM-backed OSD holds at most ~2 copies of the data.

--quick: 64 MiB, 1k files, a 32 MiB lazy file, one round (~30 s).
Needs Ceph (ceph-mon, ceph-osd, radosgw) and root; restic figures need restic, lazy figures
FUSE (/dev/fuse, fusermount3). Returns no figures without Ceph.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmarks import rgw as rgwmod
from benchmarks.harness import Figure
from benchmarks.repo import ENV, _got
from benchmarks.s3ceiling import PART, Sample, _ceiling, _drop_caches, _measure, _rates

MiB = 1 << 20
MB = 1e6
OSD_BYTES = 4 << 30  # RAM-backed OSD capacity (buckets are purged between phases)
TIMEOUT = 1800
LAZY_DEADLINE = 60.0  # a lazy read slower than this is cut short (its rate is still reported)


@dataclass(frozen=True)
class Sizes:
    big: int  # bytes of random data
    small_files: int
    lazy: int  # bytes of the lazily mounted file
    rounds: int  # push/clone/backup/restore rounds, alternated; the fastest of each counts


FULL = Sizes(1024 * MiB, 10_000, 256 * MiB, 2)
QUICK = Sizes(64 * MiB, 1_000, 32 * MiB, 1)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


# -- the data --------------------------------------------------------------------------------

def _write_random(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        for o in range(0, n, 64 * MiB):
            f.write(rnd.randbytes(min(64 * MiB, n - o)))


def _small_tree(root: Path, files: int, seed: int) -> int:
    """`files` files of 100 B - 8 KiB of random bytes, 100 to a directory; returns their bytes."""
    rnd = random.Random(seed)
    total = 0
    for i in range(files):
        d = root / f"d{i // 100:03d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(rnd.randint(100, 8192))
        (d / f"f{i:05d}.bin").write_bytes(data)
        total += len(data)
    return total


# -- the tools -------------------------------------------------------------------------------

class Tools:
    def __init__(self, engine: rgwmod.Rgw, work: Path):
        self.engine = engine
        self.work = work
        self.got_env = dict(ENV, **engine.env())
        self.restic_env = dict(os.environ, **engine.env(), RESTIC_PASSWORD="bench-password")

    def got(self, *args: str, cwd: Path) -> str:
        return _run(_got() + list(args), cwd, self.got_env)

    def got_json(self, *args: str, cwd: Path) -> dict:
        return json.loads(self.got(*args, "--json", cwd=cwd))

    def restic(self, bucket: str, *args: str, cwd: Path, cache: str) -> str:
        repo = f"s3:{self.engine.endpoint}/{bucket}"
        return _run(["restic", "-r", repo, "--cache-dir", str(self.work / "restic-cache" / cache), "-q", *args],
                    cwd, self.restic_env)

    def timed(self, fn: Callable[[], object], **kw) -> Sample:
        _drop_caches()
        return _measure(self.engine, fn, **kw)


def _key(t: Tools, tree: Path) -> Path:
    """The key file of the repository in `tree` (what `got key export` prints there)."""
    return t.work / f"{tree.name}.key"


def _got_repo(t: Tools, tree: Path) -> float:
    """`got init` + `got commit` in `tree` (the commit's seconds, caches dropped first)."""
    t.got("init", cwd=tree)
    _drop_caches()
    t0 = time.perf_counter()
    t.got("commit", "-m", "data", cwd=tree)
    seconds = time.perf_counter() - t0
    _key(t, tree).write_text(t.got("key", "export", cwd=tree))
    return seconds


def _count_files(root: Path) -> int:
    return sum(len(files) for d, _, files in os.walk(root) if "/.got" not in d + "/")


@dataclass
class Transfer:
    """The best (fastest) Sample of each operation over the rounds, and every round's seconds."""

    best: dict[str, Sample]
    rounds: dict[str, list[float]]
    remote: str  # the got remote of the last round (kept for the incremental push)
    restic_bucket: str  # the restic repository of the last round (kept likewise)

    def note(self, op: str) -> str:
        times = self.rounds[op]
        return f"best of {len(times)}: " + ", ".join(f"{x:.2f}" for x in times) + " s" if len(times) > 1 else ""


def _transfer(t: Tools, name: str, tree: Path, files: int, rounds: int) -> Transfer:
    """Push and clone of `tree` with got, backup and restore with restic, alternated, `rounds`
    times; each round writes fresh buckets (purged after, except the last round's)."""
    commit_s = _got_repo(t, tree)
    samples: dict[str, list[Sample]] = {"push": [], "clone": [], "backup": [], "restore": []}
    remote = rbucket = ""
    for r in range(rounds):
        last = r == rounds - 1
        remote, url = f"r{r}", f"s3://{name}-got{r}/data"
        t.got("remote", "add", remote, url, cwd=tree)
        samples["push"].append(t.timed(lambda: t.got_json("push", remote, cwd=tree)))
        samples["push"][-1].commit_s = commit_s
        dst = t.work / f"{name}-clone"
        samples["clone"].append(t.timed(lambda: t.got_json("clone", url, str(dst), "--key-file",
                                                           str(_key(t, tree)), cwd=t.work)))
        if (cloned := _count_files(dst)) != files:
            raise RuntimeError(f"got clone of {name}: {cloned} files, expected {files}")
        shutil.rmtree(dst)
        if not last:
            t.engine.purge(f"{name}-got{r}")
        if shutil.which("restic") is None:
            continue
        rbucket, cache = f"{name}-restic{r}", f"{name}-backup{r}"
        t.restic(rbucket, "init", cwd=tree, cache=cache)
        samples["backup"].append(t.timed(lambda: t.restic(rbucket, "backup", "--exclude", ".got", ".",
                                                          cwd=tree, cache=cache)))
        rdst = t.work / f"{name}-restore"
        samples["restore"].append(t.timed(lambda: t.restic(rbucket, "restore", "latest", "--target", str(rdst),
                                                           cwd=t.work, cache=f"{name}-restore{r}")))
        if (restored := _count_files(rdst)) != files:
            raise RuntimeError(f"restic restore of {name}: {restored} files, expected {files}")
        shutil.rmtree(rdst)
        if not last:
            t.engine.purge(rbucket)
    return Transfer({k: min(v, key=lambda x: x.seconds) for k, v in samples.items() if v},
                    {k: [x.seconds for x in v] for k, v in samples.items()}, remote, rbucket)


def _req_note(s: Sample) -> str:
    """The gateway's count; for got, also what its --json says (its own count of requests)."""
    r = s.req
    own = f", got's --json says {s.out['requests']:,}" if isinstance(s.out, dict) and "requests" in s.out else ""
    failed = f", {r['failed_req']:,} answered with an error" if r["failed_req"] else ""
    return (f"{r['req']:,} requests ({r['put']:,} PUT {r['put_b'] / MB:,.0f} MB, {r['get']:,} GET "
            f"{r['get_b'] / MB:,.0f} MB{failed}{own})")


# -- the phases ------------------------------------------------------------------------------

def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _big(t: Tools, size: int, rounds: int, figs: list[Figure]) -> None:
    tree = t.work / "big"
    tree.mkdir()
    _write_random(tree / "big.bin", size, seed=1)
    ceil = _ceiling(t.engine, tree / "big.bin", "plain")
    plain_put, plain_get = size / ceil.put.seconds / MB, size / ceil.get.seconds / MB
    figs.append(Figure("plain_put", plain_put, "MB/s",
                       note=f"obstore, {PART // MiB} MiB objects, by in flight: {_rates(ceil.put_rates)}; best: "
                            f"{_req_note(ceil.put)}; {ceil.put.cpu_note()}"))
    figs.append(Figure("plain_get", plain_get, "MB/s",
                       note=f"obstore, 8 MiB ranged GETs, by in flight: {_rates(ceil.get_rates)}; best: "
                            f"{ceil.get.cpu_note()}"))

    x = _transfer(t, "big", tree, 1, rounds)
    push, clone = x.best["push"], x.best["clone"]
    got_push, got_clone = size / push.seconds / MB, size / clone.seconds / MB
    figs.append(Figure("push", got_push, "MB/s", note=_join(
        f"{size // MiB} MiB random: {push.seconds:.2f} s, {push.out['blobs']:,} blobs", x.note("push"),
        push.cpu_note(), f"the commit before it {push.commit_s:.2f} s")))
    figs.append(Figure("push_requests", push.req["req"], "requests", better="lower", note=_req_note(push)))
    figs.append(Figure("push_vs_plain_put", got_push / plain_put, "ratio", 0.7, note="push / plain_put"))
    fetch_s = clone.out["seconds"]
    figs.append(Figure("clone", got_clone, "MB/s", note=_join(
        f"whole `got clone` {clone.seconds:.2f} s (its fetch {fetch_s:.2f} s = {size / fetch_s / MB:,.0f} MB/s; "
        f"the rest is start-up and checkout)", x.note("clone"), clone.cpu_note())))
    figs.append(Figure("clone_requests", clone.req["req"], "requests", better="lower", note=_req_note(clone)))
    figs.append(Figure("clone_vs_plain_get", got_clone / plain_get, "ratio", 0.8, note="clone / plain_get"))
    if "backup" in x.best:
        backup, restore = x.best["backup"], x.best["restore"]
        figs.append(Figure("restic_backup", size / backup.seconds / MB, "MB/s", note=_join(
            f"{backup.seconds:.2f} s", x.note("backup"), _req_note(backup), backup.cpu_note())))
        figs.append(Figure("restic_restore", size / restore.seconds / MB, "MB/s", note=_join(
            f"{restore.seconds:.2f} s", x.note("restore"), _req_note(restore), restore.cpu_note())))
        figs.append(Figure("push_vs_restic", backup.seconds / push.seconds, "ratio", 2.0,
                           note="restic backup time / got push time"))
        figs.append(Figure("commit_push_vs_restic", backup.seconds / (push.commit_s + push.seconds), "ratio",
                           note="restic backup time / (got commit + got push) time: restic chunks, hashes "
                                "and seals in its backup, got in its commit"))
        figs.append(Figure("clone_vs_restic_restore", restore.seconds / clone.seconds, "ratio", 1.0,
                           note="restic restore time / got clone time"))

    # A one-byte edit in the middle of the big file, committed, then pushed (to the last
    # round's remote, which holds the first version).
    with open(tree / "big.bin", "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    t0 = time.perf_counter()
    t.got("commit", "-m", "one byte", cwd=tree)
    commit_s = time.perf_counter() - t0
    inc = t.timed(lambda: t.got_json("push", x.remote, cwd=tree))
    restic_note = ""
    if x.restic_bucket:
        rb = t.timed(lambda: t.restic(x.restic_bucket, "backup", "--exclude", ".got", ".", cwd=tree,
                                      cache=f"big-backup{rounds - 1}"))
        restic_note = f"restic backup of the same edit {rb.seconds:.2f} s, {rb.req['req']} requests"
    figs.append(Figure("incremental_push_s", inc.seconds, "s", 1.0, "lower", note=_join(
        f"one-byte edit of the {size // MiB} MiB file (the commit before it {commit_s:.2f} s, not counted)",
        _req_note(inc), f"got's own count: {inc.out['blobs']} blobs, {inc.out['bytes']:,} bytes", restic_note)))
    figs.append(Figure("incremental_push_objects", inc.req["put"], "objects", better="lower",
                       note="objects written (PUTs at the gateway)"))
    figs.append(Figure("incremental_push_bytes", inc.req["put_b"], "bytes", better="lower",
                       note="bytes PUT at the gateway"))
    t.engine.purge(f"big-got{rounds - 1}")
    t.engine.purge(f"big-restic{rounds - 1}")
    shutil.rmtree(tree)


def _small(t: Tools, files: int, rounds: int, figs: list[Figure]) -> None:
    tree = t.work / "small"
    total = _small_tree(tree, files, seed=2)
    x = _transfer(t, "small", tree, files, rounds)
    push, clone = x.best["push"], x.best["clone"]
    figs.append(Figure("small_push", files / push.seconds, "files/s", note=_join(
        f"{files:,} files, {total / MB:.0f} MB: {push.seconds:.2f} s", x.note("push"), push.cpu_note(),
        f"the commit before it {push.commit_s:.2f} s")))
    figs.append(Figure("small_push_requests", push.req["req"], "requests", 200, "lower", note=_req_note(push)))
    figs.append(Figure("small_clone", files / clone.seconds, "files/s", note=_join(
        f"whole `got clone` {clone.seconds:.2f} s (its fetch {clone.out['seconds']:.2f} s)", x.note("clone"),
        clone.cpu_note())))
    figs.append(Figure("small_clone_requests", clone.req["req"], "requests", better="lower", note=_req_note(clone)))
    if "backup" in x.best:
        backup, restore = x.best["backup"], x.best["restore"]
        figs.append(Figure("small_restic_backup", files / backup.seconds, "files/s", note=_join(
            f"{backup.seconds:.2f} s", x.note("backup"), _req_note(backup), backup.cpu_note())))
        figs.append(Figure("small_restic_restore", files / restore.seconds, "files/s", note=_join(
            f"{restore.seconds:.2f} s", x.note("restore"), _req_note(restore), restore.cpu_note())))
        figs.append(Figure("small_push_vs_restic", backup.seconds / push.seconds, "ratio", 1.0,
                           note="restic backup time / got push time"))
        figs.append(Figure("small_clone_vs_restic_restore", restore.seconds / clone.seconds, "ratio",
                           note="restic restore time / got clone time"))
    t.engine.purge(f"small-got{rounds - 1}")
    t.engine.purge(f"small-restic{rounds - 1}")
    shutil.rmtree(tree)


# -- the lazy mount --------------------------------------------------------------------------

def _umount(mnt: Path) -> None:
    subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    for _ in range(200):
        if not os.path.ismount(mnt):
            return
        time.sleep(0.05)
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)


def _daemon_cpu(mnt: Path) -> float:
    """CPU seconds of the background `got mount` serving `mnt` (found by its command line)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"mount" not in args or str(mnt).encode() not in args:
                continue
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def _read_all(path: Path, deadline: float) -> int:
    """Bytes read from `path` with 1 MiB reads, stopping early after `deadline` seconds."""
    n, t0 = 0, time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(MiB):
            n += len(chunk)
            if time.perf_counter() - t0 > deadline:
                break
    return n


def _lazy(t: Tools, size: int, figs: list[Figure]) -> None:
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("benchmarks: remote: no FUSE here, no lazy mount figures", file=sys.stderr)
        return
    tree = t.work / "lazy"
    tree.mkdir()
    _write_random(tree / "lazy.bin", size, seed=3)
    ceil = _ceiling(t.engine, tree / "lazy.bin", "plainlazy")
    plain_get = size / ceil.get.seconds / MB
    url = "s3://lazy/data"
    _got_repo(t, tree)
    t.got("remote", "add", "origin", url, cwd=tree)
    t.got("push", cwd=tree)
    mnt = t.work / "mnt"
    mnt.mkdir()
    mount = ["mount", f"{url}#main", str(mnt), "--key-file", str(_key(t, tree)), "--cache-size", "1G"]

    def first_byte(cache: str, drop: bool) -> Sample:
        """`got mount` with an empty blob cache, then 1 byte read: (mount s, read s) in .out."""
        def go() -> tuple[float, float]:
            t0 = time.perf_counter()
            t.got(*mount, "--cache-dir", str(t.work / cache), cwd=t.work)  # returns once mounted
            t1 = time.perf_counter()
            with open(mnt / "lazy.bin", "rb", buffering=0) as f:
                if len(f.read(1)) != 1:
                    raise RuntimeError("lazy mount: no first byte")
            return t1 - t0, time.perf_counter() - t1

        if drop:
            _drop_caches()
        try:
            return _measure(t.engine, go)
        finally:
            _umount(mnt)

    # First with the page cache dropped (got's own code and Python's then load from disk too),
    # then again with only the remote cold (empty blob cache, no repository): that one counts,
    # as the target is about reaching the remote, not about loading a program from disk.
    cold = first_byte("cache-cold", drop=True)
    fb = first_byte("cache-warm", drop=False)
    figs.append(Figure("lazy_first_byte_s", fb.seconds, "s", 0.5, "lower", note=_join(
        f"`got mount s3://…#main DIR` (empty blob cache, no repository) until 1 byte of the "
        f"{size // MiB} MiB file is read: mount {fb.out[0]:.3f} s + read {fb.out[1]:.3f} s",
        f"{fb.req['req']} requests", f"with page caches dropped too: {cold.seconds:.3f} s "
        f"(mount {cold.out[0]:.3f} s + read {cold.out[1]:.3f} s)")))

    t.got(*mount, "--cache-dir", str(t.work / "cache2"), cwd=t.work)
    try:
        _drop_caches()
        seq = _measure(t.engine, lambda: _read_all(mnt / "lazy.bin", LAZY_DEADLINE),
                       extra_cpu=lambda: _daemon_cpu(mnt))
    finally:
        _umount(mnt)
    rate = seq.out / seq.seconds / MB
    stopped = "" if seq.out == size else f"STOPPED after {seq.seconds:.0f} s, at {seq.out / MiB:.0f} MiB"
    figs.append(Figure("lazy_seq", rate, "MB/s", note=_join(
        "cold sequential read through a fresh mount, caches dropped, empty blob cache", stopped,
        _req_note(seq), seq.cpu_note() + " (client: the mount + the reader)")))
    figs.append(Figure("lazy_seq_vs_plain_get", rate / plain_get, "ratio", 0.8,
                       note=f"lazy_seq / plain GET of the same {size // MiB} MiB ({plain_get:,.0f} MB/s, "
                            f"by in flight: {_rates(ceil.get_rates)})"))
    t.engine.purge("lazy")
    shutil.rmtree(tree)


# -- run -------------------------------------------------------------------------------------

def run(quick: bool) -> list[Figure]:
    if not rgwmod.available():
        print("benchmarks: remote: Ceph (ceph-mon ceph-osd radosgw) is not installed; no figures "
              "(scripts/install.sh)", file=sys.stderr)
        return []
    sizes = QUICK if quick else FULL
    if os.geteuid() != 0:
        print("benchmarks: remote: not root: page caches are not dropped, lazy figures may be missing",
              file=sys.stderr)
    figs: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="got-bench-remote-"))
    engine = rgwmod.Rgw.start(OSD_BYTES)
    try:
        t = Tools(engine, work)
        _big(t, sizes.big, sizes.rounds, figs)
        _small(t, sizes.small_files, sizes.rounds, figs)
        _lazy(t, sizes.lazy, figs)
    finally:
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    return figs
