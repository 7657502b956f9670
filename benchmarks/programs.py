"""programs benchmark: six real programs in a read-write mount next to a host directory.

Each program runs in a directory of the host disk and in a fresh `got mount --rw main DIR`
of a repository on the same disk, alternated (host, mount, host, mount, ...) in one run. A
figure per program is mount seconds / host seconds (median of each side's rounds); target
<= 3 (issue 22, item 5). The seconds are in the note. Only the program itself is timed: the
mount's start, the untimed setup a program needs (a source tree to commit, sources to build)
and the unmount's commit are not.

  tar     tar -xf of an archive of this Python's stdlib (~5.5k entries, ~150 MiB)
  git     git init, add -A, commit and gc of a copy of the stdlib's sources (no tests)
  sqlite  python sqlite3 in WAL mode: 50k rows in one transaction, then 500 one-row ones
          (synchronous=FULL, Python's default: one WAL fsync a commit)
  saves   500 write-fsync-rename saves of one 16 KiB file (an editor's save)
  build   make -j2 of a generated C project of 200 files (gcc -O1)
  pip     python -m venv (ensurepip installs pip) and a pip install of Django's wheel from
          the cache (offline); --quick: a bare venv, and pip installs setuptools' bundled wheel

Fixtures (the archive, Django's wheels) are built or fetched once into CACHE; the benchmark
then runs offline. Needs root, /dev/fuse, tar, git, gcc and make; returns no figures
otherwise. --quick: small sizes (a few hundred files, 50 transactions, 50 saves), one round.
Also runnable alone: `python -m benchmarks programs` (`mount` reports the same figures).
GOT_BENCH_PROGRAMS=sqlite,saves (a subset, comma-separated) runs only those programs. Each
note also gives the mount process's CPU time (user + sys) over the program's rounds.

tar, sqlite and saves also run in benchmarks/memfs.py, a pyfuse3 filesystem that keeps
everything in memory and does nothing else (fsync returns at once), mounted and waiting for
requests as the gotfs mount does, in the same alternation: `<program>_floor` is its seconds
over the host's, no target. It is what being a pyfuse3 filesystem costs these programs before
any filesystem work: the mount's figure cannot fall below it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmarks.harness import Figure
from benchmarks.repo import ENV, _got

CACHE = Path.home() / ".cache" / "got-bench" / "programs"
ROUNDS = 3  # alternated host / mount runs of each program (one with --quick)
TARGET = 3.0  # mount / host
DJANGO = "django==5.1.2"
TOOLS = ("tar", "git", "gcc", "make", "fusermount3")


@dataclass(frozen=True)
class Sizes:
    tar_skip: tuple[str, ...]  # stdlib folders left out of the archive
    tar_only: tuple[str, ...]  # if set, the only stdlib folders archived
    sqlite_rows: int
    sqlite_tx: int
    saves: int
    c_files: int
    pip_wheel: bool


FULL = Sizes(("site-packages",), (), 50_000, 500, 500, 200, True)
QUICK = Sizes(("site-packages",), ("email", "json", "asyncio"), 5_000, 50, 50, 20, False)


# -- fixtures ---------------------------------------------------------------------------

def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _archive(sizes: Sizes) -> Path:
    """The tar archive of the stdlib (made once, cached): what `tar` extracts."""
    name = "stdlib-quick.tar" if sizes.tar_only else "stdlib.tar"
    out = CACHE / name
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    lib = _stdlib()
    tmp = out.with_suffix(".tmp")

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        top = parts[1] if len(parts) > 1 else ""
        if top in sizes.tar_skip or (sizes.tar_only and top and top not in sizes.tar_only):
            return None
        if top == "test" and "__pycache__" in parts:  # ~2k compiled test modules: enough entries without
            return None
        return info

    with tarfile.open(tmp, "w") as tar:
        tar.add(lib, arcname="stdlib", filter=keep)
    os.replace(tmp, out)
    return out


def _sources(sizes: Sizes) -> Path:
    """The stdlib's .py sources (no tests, no compiled files): what `git` commits."""
    lib = _stdlib()
    if sizes.tar_only:
        return lib / "email"
    return lib


def _wheels() -> Path | None:
    """Django's wheels and their dependencies, downloaded once; None if that failed."""
    d = CACHE / "wheels"
    if any(d.glob("[Dd]jango-*.whl")):
        return d
    d.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", str(d), DJANGO],
                          capture_output=True)
    return d if done.returncode == 0 and any(d.glob("[Dd]jango-*.whl")) else None


# -- the programs -------------------------------------------------------------------------
# Each is (setup, run): setup(dir) is untimed, run(dir) is what the figure times.

def _sh(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} in {cwd} failed: {done.stderr.decode(errors='replace')[-300:]}")


SQLITE = textwrap.dedent("""
    import os, sqlite3, sys
    rows, txs = int(sys.argv[1]), int(sys.argv[2])
    con = sqlite3.connect("db.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB)")
    con.execute("CREATE INDEX t_k ON t (k)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO t (k, v) VALUES (?, ?)",
                    ((f"key{i}", os.urandom(64)) for i in range(rows - txs)))
    con.execute("COMMIT")
    for i in range(txs):
        con.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"tx{i}", os.urandom(64)))
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == rows
    con.close()
""")

SAVES = textwrap.dedent("""
    import os, sys
    body = bytearray(os.urandom(16 << 10))
    for i in range(int(sys.argv[1])):
        body[i % len(body)] ^= 1
        with open("doc.txt.tmp", "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.rename("doc.txt.tmp", "doc.txt")
""")


def _c_project(d: Path, files: int) -> None:
    """A C project of `files` units, each with a few dozen small functions, and a Makefile."""
    (d / "common.h").write_text("#include <stdio.h>\n#include <string.h>\n"
                                + "".join(f"int unit{i}(int x);\n" for i in range(files)))
    for i in range(files):
        body = "".join(
            f"static int f{j}(int x) {{ int s = 0; for (int k = 0; k < x % {j + 7}; k++) s += (k * {j + 3}) ^ x; "
            f"char b[32]; snprintf(b, sizeof b, \"%d\", s); return s + (int)strlen(b); }}\n" for j in range(40))
        calls = " + ".join(f"f{j}(x)" for j in range(40))
        (d / f"unit{i}.c").write_text(f'#include "common.h"\n{body}int unit{i}(int x) {{ return {calls}; }}\n')
    calls = " + ".join(f"unit{i}(argc)" for i in range(files))
    (d / "main.c").write_text(f'#include "common.h"\nint main(int argc, char **argv) {{ return ({calls}) & 1; }}\n')
    objs = " ".join(f"unit{i}.o" for i in range(files)) + " main.o"
    (d / "Makefile").write_text(f"CFLAGS = -O1\nprog: {objs}\n\t$(CC) -o $@ $^\n%.o: %.c common.h\n\t$(CC) $(CFLAGS) -c $<\n")


@dataclass(frozen=True)
class Program:
    name: str
    what: str
    setup: Callable[[Path], None]
    run: Callable[[Path], None]
    floor: bool = False  # also run in memfs (see the module docstring)


def _programs(sizes: Sizes) -> list[Program]:
    archive = _archive(sizes)
    sources = _sources(sizes)
    wheels = _wheels() if sizes.pip_wheel else None
    py = sys.executable
    nothing = lambda d: None  # noqa: E731

    def copy_sources(d: Path) -> None:
        shutil.copytree(sources, d / "src", symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "site-packages", "test", "*.pyc"))

    def git(d: Path) -> None:
        src = d / "src"
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "tree"], ["git", "gc", "-q"]):
            _sh(cmd, src)

    def pip(d: Path) -> None:
        if not sizes.pip_wheel:  # quick: a bare venv, and this Python's pip installs the bundled setuptools
            _sh([py, "-m", "venv", "--without-pip", "venv"], d)
            _sh([py, "-m", "pip", "--python", str(d / "venv" / "bin" / "python"), "install", "-q", "--no-index",
                 "--find-links", str(_stdlib() / "ensurepip" / "_bundled"), "setuptools"], d)
            return
        _sh([py, "-m", "venv", "venv"], d)
        if wheels is not None:
            _sh([str(d / "venv" / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(wheels), DJANGO], d)

    with tarfile.open(archive) as t:
        entries = sum(1 for _ in t)
    mib = archive.stat().st_size / (1 << 20)
    return [
        Program("tar", f"tar -xf of {entries:,} entries, {mib:.0f} MiB", nothing,
                lambda d: _sh(["tar", "-xf", str(archive)], d), floor=True),
        Program("git", f"git init/add -A/commit/gc of {sources.name}'s sources", copy_sources, git),
        Program("sqlite", f"sqlite3 WAL, {sizes.sqlite_rows:,} rows, {sizes.sqlite_tx} one-row transactions", nothing,
                lambda d: _sh([py, "-c", SQLITE, str(sizes.sqlite_rows), str(sizes.sqlite_tx)], d), floor=True),
        Program("saves", f"{sizes.saves} write-fsync-rename saves of 16 KiB", nothing,
                lambda d: _sh([py, "-c", SAVES, str(sizes.saves)], d), floor=True),
        Program("build", f"make -j2 of {sizes.c_files} C files", lambda d: _c_project(d, sizes.c_files),
                lambda d: _sh(["make", "-s", "-j2"], d)),
        Program("pip", ("venv + pip install Django from cached wheels" if wheels else "venv (ensurepip)")
                if sizes.pip_wheel else "bare venv + pip install of the bundled setuptools wheel", nothing, pip),
    ]


# -- running ------------------------------------------------------------------------------

def _fsync_dir(d: Path) -> None:
    """Make the setup durable before timing: in the mount, a published root (fsyncdir)."""
    os.sync()
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _timed_in(d: Path, program: Program) -> float:
    d.mkdir()
    program.setup(d)
    _fsync_dir(d)
    t0 = time.perf_counter()
    program.run(d)
    return time.perf_counter() - t0


def _got_run(*args: str, cwd: Path) -> None:
    subprocess.run(_got() + list(args), cwd=cwd, env=ENV, check=True, capture_output=True)


def _in_mount(repo: Path, mnt: Path, name: str, program: Program) -> tuple[float, float]:
    """(seconds, the mount process's CPU seconds) of `program` in a fresh read-write mount."""
    _got_run("mount", "--rw", "main", str(mnt), cwd=repo)  # returns once mounted
    try:
        pid = _mount_pid(mnt)
        cpu = _cpu(pid)
        seconds = _timed_in(mnt / name, program)
        return seconds, _cpu(pid) - cpu
    finally:
        _got_run("umount", str(mnt), cwd=repo)  # commits what the mount left


def _in_memfs(mnt: Path, name: str, program: Program) -> float:
    """Seconds of `program` in a fresh benchmarks/memfs.py mount at `mnt`."""
    env = dict(ENV, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    fs = subprocess.Popen([sys.executable, "-m", "benchmarks.memfs", str(mnt)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if fs.stdout.readline().strip() != "ready":
            raise RuntimeError(f"benchmarks.memfs did not mount at {mnt}")
        return _timed_in(mnt / name, program)
    finally:
        fs.terminate()
        try:
            fs.wait(30)
        except subprocess.TimeoutExpired:
            fs.kill()
            fs.wait()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)


def _mount_pid(mnt: Path) -> int:
    found = subprocess.run(["pgrep", "-f", f"mount --rw main {mnt}$"], capture_output=True, text=True).stdout.split()
    if len(found) != 1:
        raise RuntimeError(f"expected one mount process for {mnt}, found {found}")
    return int(found[0])


def _cpu(pid: int) -> float:
    """user + sys seconds of process `pid` so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def available() -> bool:
    return (os.geteuid() == 0 and os.path.exists("/dev/fuse")
            and all(shutil.which(t) for t in TOOLS))


def _chosen(programs: list[Program]) -> list[Program]:
    """The programs GOT_BENCH_PROGRAMS names (all if it is unset or empty); an unknown name is
    an error, so that a typo does not silently measure nothing."""
    names = [n.strip() for n in os.environ.get("GOT_BENCH_PROGRAMS", "").split(",") if n.strip()]
    if not names:
        return programs
    known = {p.name: p for p in programs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"GOT_BENCH_PROGRAMS: no program {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names]


def run(quick: bool) -> list[Figure]:
    if not available():
        return []
    sizes = QUICK if quick else FULL
    programs = _chosen(_programs(sizes))
    rounds = 1 if quick else ROUNDS
    work = Path(tempfile.mkdtemp(prefix="got-bench-programs-"))
    figs: list[Figure] = []
    try:
        host, repo, mnt, floor = work / "host", work / "repo", work / "mnt", work / "floor"
        for d in (host, repo, mnt, floor):
            d.mkdir()
        (repo / "README").write_text("programs benchmark\n")
        _got_run("init", cwd=repo)
        _got_run("commit", "-m", "start", cwd=repo)
        for p in programs:
            hosts, mounts, cpus, floors = [], [], [], []
            for r in range(rounds):
                hosts.append(_timed_in(host / f"{p.name}{r}", p))
                seconds, cpu = _in_mount(repo, mnt, f"{p.name}{r}", p)
                mounts.append(seconds)
                cpus.append(cpu)
                if p.floor:
                    floors.append(_in_memfs(floor, f"{p.name}{r}", p))
            h, m = statistics.median(hosts), statistics.median(mounts)
            medians = f"medians of {rounds} alternated round{'s' if rounds > 1 else ''}"
            figs.append(Figure(p.name, m / h, "x", TARGET, better="lower",
                               note=f"{p.what}: mount {m:.2f} s (its process's CPU {statistics.median(cpus):.2f} s), "
                                    f"host {h:.2f} s ({medians})"))
            if floors:
                f = statistics.median(floors)
                figs.append(Figure(f"{p.name}_floor", f / h, "x",
                                   note=f"the same in benchmarks/memfs.py (pyfuse3, memory, no filesystem work): "
                                        f"{f:.2f} s, host {h:.2f} s; the mount is {m / f:.2f}x it ({medians})"))
    finally:
        if os.path.ismount(work / "mnt"):
            subprocess.run(["fusermount3", "-u", "-z", str(work / "mnt")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return figs
