"""peers benchmark: got next to restic, borg and git, each in a fresh repository, in one run.

Every tool is driven as a real process, with default settings, on the same input in the same
state (one data directory per workload: got's working tree, git's work tree with its git dir
outside, what restic and borg back up, excluding `.got`):

  dd_write            dd if=/dev/zero bs=1M conv=fdatasync of a new file: the disk's reference (MB/s)
  ingest_<tool>       first snapshot of a directory holding one 1 GiB random file (MB/s)
  tree_files_<tool>   first snapshot of this Python's stdlib (no __pycache__, no site-packages) (files/s)
  releases_*_<tool>   8 successive Django 5.1.x sdists unpacked into one directory (its contents
                      replaced each time) and snapshotted one after another: dedup ratio
                      (logical bytes of all snapshots / repository bytes), stored MB, peak RSS of
                      any one snapshot (MiB, /usr/bin/time %M); release_<i>_logical and
                      release_<i>_stored_<tool>: logical and repository MB after the i-th release
  overwrite_*_<tool>  one byte overwritten in the middle of the big file, page cache dropped before
                      each tool's snapshot: seconds and bytes the repository grew
  insert_*_<tool>     one byte inserted at 1/3 of it (the file rewritten, so in page cache)
  nochange_<tool>     a snapshot of the unchanged stdlib tree (s, median of 3; --quick: 1)

got runs as `got commit --allow-empty` (GOT_AUTO_GC=0), git as `git add -A` + `git commit
--allow-empty`, restic as `restic backup`, borg as `borg create`. Repository bytes are the sum
of the repository's file sizes (git: loose objects, no gc; restic and borg caches are kept
outside and not counted). Targets are issue 24's: got's dedup ratio >= 12 and stored bytes <= borg's,
peak RSS <= 100 MiB; a one-byte-overwrite commit <= 0.5 x restic's backup time and <= 2
chunks plus nodes; a no-change commit <= 3 x git's time. Each got figure's note gives the peers'.

restic, borg and git come from Debian's packages: a full run installs the missing ones with
apt-get; --quick skips a missing peer. The Django sdists are fetched once with `pip download`
into ~/.cache/got-bench/django.

--quick: a 64 MiB file, the stdlib's email package, 2 Django releases.

GOT_BENCH_PEERS=big,tree,releases (a subset, comma-separated) runs only those workloads: `big`
is ingest, overwrite and insert, `tree` is tree_files and nochange. GOT_BENCH_PEERS_TOOLS=got,restic
runs only those tools (got always). Unset, everything runs, e.g. the one-byte overwrite alone
beside restic: `GOT_BENCH_PEERS=big GOT_BENCH_PEERS_TOOLS=got,restic python -m benchmarks peers`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from statistics import median

from benchmarks.harness import Figure, format_value, timed
from benchmarks.peertools import TOOLS, Results, Tool, _drop_caches, _du, _each, _ensure_peers, _sync, _tools

MiB = 1 << 20
MB = 1e6
DJANGO = ["5.1"] + [f"5.1.{n}" for n in range(1, 8)]
CACHE = Path.home() / ".cache" / "got-bench" / "django"


# -- the workloads --------------------------------------------------------------------

def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def _dd(path: Path, mib: int) -> float:
    _sync()
    t, _ = timed(lambda: subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}",
                                         "conv=fdatasync"], check=True, capture_output=True))
    path.unlink()
    return mib * MiB / t / MB


def _big(work: Path, names: list[str], mib: int, res: Results) -> None:
    data = work / "big"
    data.mkdir()
    big = data / "big.bin"
    size = mib * MiB
    _write_random(big, size)
    tools = _tools(names, data, work / "repos", "big", res)

    def ingest(t: Tool) -> None:
        _sync()
        res.put("ingest", t.name, size / t.snapshot().seconds / MB)
    _each(tools, res, ingest)

    with open(big, "r+b") as f:  # one byte overwritten in the middle
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
        os.fsync(f.fileno())

    def overwrite(t: Tool) -> None:
        before = t.size()
        res.dropped &= _drop_caches()
        res.put("overwrite_s", t.name, t.snapshot().seconds)
        res.put("overwrite_bytes", t.name, t.size() - before)
    _each(tools, res, overwrite)

    tmp = data / ".big.tmp"  # one byte inserted at 1/3: the file rewritten
    with open(big, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read(size // 3))
        dst.write(b"\x01")
        shutil.copyfileobj(src, dst, 16 * MiB)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, big)

    def insert(t: Tool) -> None:
        before = t.size()
        _sync()
        res.put("insert_s", t.name, t.snapshot().seconds)
        res.put("insert_bytes", t.name, t.size() - before)
    _each(tools, res, insert)


def _tree(work: Path, names: list[str], src: Path, repeat: int, res: Results) -> None:
    data = work / "tree"
    shutil.copytree(src, data, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "site-packages"))
    files = sum(len(fs) for _, _, fs in os.walk(data))
    res.tree_files = files
    tools = _tools(names, data, work / "repos", "tree", res)

    def first(t: Tool) -> None:
        _sync()
        res.put("tree_files", t.name, files / t.snapshot().seconds)
    _each(tools, res, first)

    def nochange(t: Tool) -> None:
        runs = []
        for _ in range(repeat):
            _sync()
            runs.append(t.snapshot().seconds)
        res.put("nochange", t.name, median(runs))
    _each(tools, res, nochange)


def _sdists(n: int) -> list[Path]:
    """The first n Django 5.1.x sdists, fetched once into CACHE."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for v in DJANGO[:n]:
        found = [p for p in CACHE.iterdir() if p.name.lower() == f"django-{v}.tar.gz"]
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "-d", str(CACHE), f"django=={v}"], check=True, capture_output=True)
            found = [p for p in CACHE.iterdir() if p.name.lower() == f"django-{v}.tar.gz"]
        out.append(found[0])
    return out


def _unpack(sdist: Path, dst: Path) -> int:
    """Replace dst's contents (but .got) with the sdist's top directory; the bytes of its files."""
    for p in dst.iterdir():
        if p.name != ".got":
            subprocess.run(["rm", "-rf", str(p)], check=True)
    subprocess.run(["tar", "-xzf", str(sdist), "-C", str(dst), "--strip-components=1"], check=True)
    return _du(dst) - _du(dst / ".got")


def _releases(work: Path, names: list[str], n: int, res: Results) -> None:
    sdists = _sdists(n)
    data = work / "django"
    data.mkdir()
    tools = _tools(names, data, work / "repos", "django", res)
    logical = 0
    rss: dict[str, float] = {}
    secs: dict[str, float] = {}
    for sdist in sdists:
        logical += _unpack(sdist, data)

        def snap(t: Tool) -> None:
            _sync()
            r = t.snapshot()
            rss[t.name] = max(rss.get(t.name, 0.0), r.rss_mib)
            secs[t.name] = secs.get(t.name, 0.0) + r.seconds
            res.release_stored.setdefault(t.name, []).append(t.size())
        _each(tools, res, snap)
        res.release_logical.append(logical)
    res.logical = logical
    res.releases = DJANGO[:len(sdists)]
    for t in tools:
        if t.name in res.errors:
            continue
        stored = t.size()
        res.put("releases_ratio", t.name, logical / stored)
        res.put("releases_stored", t.name, stored / MB)
        res.put("releases_rss", t.name, rss[t.name])
        res.put("releases_s", t.name, secs[t.name])


# -- figures --------------------------------------------------------------------------

def _peers_note(res: Results, key: str, unit: str, scale: float, higher: bool) -> str:
    got = res.get(key, "got")
    parts = []
    for t in TOOLS[1:]:
        v = res.get(key, t)
        if v is None:
            continue
        s = f"{t} {format_value(v * scale)}" + ("x" if unit == "ratio" else f" {unit}")
        if got and v:
            s += f" (got {got / v:.2f}x)" if higher else f" ({t}/got {v / got:.2f}x)"
        parts.append(s)
    return "; ".join(parts)


def _figures(res: Results, versions: dict[str, str], mib: int, dd: float, tree: Path,
             chunk_budget: int) -> list[Figure]:
    figs = [Figure("dd_write", dd, "MB/s", note=f"dd if=/dev/zero bs=1M count={mib} conv=fdatasync, new file")]
    nan = float("nan")

    def add(key: str, unit: str, note: str, better: str = "higher", target=None, scale: float = 1.0) -> None:
        if key not in res.values:  # a workload not run (GOT_BENCH_PEERS)
            return
        got = res.get(key, "got")
        peers = _peers_note(res, key, unit, scale, better == "higher")
        figs.append(Figure(f"{key}_got", nan if got is None else got * scale, unit, target, better,
                           note=f"{note}; {peers}" if peers else note))
        for t in TOOLS[1:]:
            v = res.get(key, t)
            if v is not None:
                figs.append(Figure(f"{key}_{t}", v * scale, unit, better=better, note=f"{t} {versions.get(t, '')}"))

    add("ingest", "MB/s", f"first snapshot of one {mib} MiB random file (in page cache); dd {dd:.0f} MB/s")
    add("tree_files", "files/s", f"first snapshot of {res.tree_files} files ({tree})")
    releases = f"Django {res.releases[0]} to {res.releases[-1]} ({len(res.releases)} sdists)" if res.releases else ""
    logical = res.logical / MB
    add("releases_ratio", "ratio", f"{releases} unpacked in turn into one directory, one snapshot each: "
        f"{logical:.0f} MB logical / stored; aim 20x", target=12.0)
    borg = res.get("releases_stored", "borg")
    add("releases_stored", "MB", "repository bytes after the releases (target: borg's)", better="lower",
        target=borg)
    add("releases_rss", "MiB", "peak RSS of any one snapshot", better="lower", target=100.0)
    add("releases_s", "s", "all the releases' snapshots", better="lower")
    restic = res.get("overwrite_s", "restic")
    drop = "page cache dropped before each" if res.dropped else "page cache NOT dropped (not root)"
    add("overwrite_s", "s", f"1-byte overwrite in the middle, {drop}; target 0.5 x restic's", better="lower",
        target=None if restic is None else 0.5 * restic)
    add("overwrite_bytes", "MB", "bytes added by it; target 2 average chunks + 256 KiB of nodes",
        better="lower", target=chunk_budget / MB, scale=1 / MB)
    add("insert_s", "s", "1-byte insert at 1/3, file just rewritten (in page cache)", better="lower")
    add("insert_bytes", "MB", "bytes added by it", better="lower", scale=1 / MB)
    git = res.get("nochange", "git")
    add("nochange", "s", "no-change snapshot of the tree (median of 3 in a full run); target 3 x git's",
        better="lower", target=None if git is None else 3 * git)
    for i, (v, n) in enumerate(zip(res.releases, res.release_logical), 1):
        figs.append(Figure(f"release_{i}_logical", n / MB, "MB", note=f"Django {v}: logical bytes of releases 1-{i}"))
        for t in TOOLS:
            stored = res.release_stored.get(t, [])
            if i <= len(stored):
                figs.append(Figure(f"release_{i}_stored_{t}", stored[i - 1] / MB, "MB", better="lower",
                                   note=f"{t} repository bytes after Django {v}"))
    for t, e in res.errors.items():
        figs.append(Figure(f"error_{t}", nan, "", note=e))
    return figs


WORKLOADS = ("big", "tree", "releases")


def _subset(var: str, known: tuple[str, ...]) -> list[str]:
    """The names listed in environment variable `var` (all of `known` when it is unset or empty).
    Raises ValueError naming an unknown one."""
    names = [n.strip() for n in os.environ.get(var, "").split(",") if n.strip()] or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{var}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def run(quick: bool) -> list[Figure]:
    from gotfs.chunking import ChunkParams
    workloads = _subset("GOT_BENCH_PEERS", WORKLOADS)
    wanted = _subset("GOT_BENCH_PEERS_TOOLS", TOOLS)
    versions = _ensure_peers(install=not quick)
    names = ["got"] + [t for t in TOOLS[1:] if t in versions and t in wanted]
    versions["got"] = ""
    mib = 64 if quick else 1024
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    tree = stdlib / "email" if quick else stdlib
    res = Results()
    work = Path(tempfile.mkdtemp(prefix="got-bench-peers-"))
    try:
        (work / "repos").mkdir()
        dd = _dd(work / "dd.bin", mib)
        if "big" in workloads:
            _big(work, names, mib, res)
        if "tree" in workloads:
            _tree(work, names, tree, 1 if quick else 3, res)
        if "releases" in workloads:
            _releases(work, names, 2 if quick else len(DJANGO), res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p = ChunkParams()
    return _figures(res, versions, mib, dd, tree, 2 * p.avg_size + 256 * 1024)
