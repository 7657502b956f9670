"""Real FUSE mounts for the mount tests: a subprocess runs `python -m benchmarks.bare_mount`.

Every mount is started through the `mounter` fixture, which always unmounts in teardown
(`fusermount3 -u`, then `-u -z` and SIGKILL if that hangs), so a broken mount never hangs or
leaks out of the suite. Helpers build host trees, import them through the FS API, and compare
trees by listing (type, mode, size, mtime, link target) and by `diff -r`.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gotfs import files
from gotfs.fs import FS
from gotfs.keys import parse_path
from benchmarks.bare_mount import load_root, open_fs, recover, save_root
from gotkv.root import Root

REPO = Path(__file__).resolve().parents[3]
STDLIB = Path(os.__file__).parent
HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


def need_fuse() -> None:
    if not HAVE_FUSE:
        pytest.skip("no /dev/fuse (or no fusermount3): FUSE mounts are not possible here")


def run(*cmd, cwd=None, timeout=120, check=True, env=None, input=None) -> subprocess.CompletedProcess:
    """Run a program; on failure the assertion shows its output."""
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, timeout=timeout, capture_output=True,
                       env=env, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout: {p.stdout.decode(errors='replace')[-3000:]}"
                             f"\nstderr: {p.stderr.decode(errors='replace')[-3000:]}")
    return p


def unmount(proc: subprocess.Popen, mnt: Path, timeout: float = 60) -> int:
    """Unmount `mnt` served by `proc` and wait for it to exit; if that hangs, unmount lazily
    and kill it. Returns its exit status."""
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True, timeout=30)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, timeout=30)
        proc.kill()
        proc.wait(10)
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, timeout=30)
    return proc.returncode


class MountProc:
    """One `python -m benchmarks.bare_mount` process serving STOREDIR at MNT."""

    def __init__(self, storedir: Path, mnt: Path, *, rw: bool, flush_interval: float = 5.0,
                 allow_other: bool = False):
        self.storedir, self.mnt, self.rw = Path(storedir), Path(mnt), rw
        self.flush_interval = flush_interval
        self.allow_other = allow_other
        self.proc: subprocess.Popen | None = None
        self.log = self.storedir.parent / f"mount-{self.mnt.name}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 30) -> MountProc:
        self.mnt.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        cmd = [sys.executable, "-m", "benchmarks.bare_mount", "--rw" if self.rw else "--ro",
               "--flush-interval", str(self.flush_interval), str(self.storedir), str(self.mnt)]
        if self.allow_other:
            cmd.append("--allow-other")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                raise AssertionError(f"mount exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"mount not up after {timeout}s: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        os.stat(self.mnt)  # returns once the kernel's INIT handshake is done
        return self

    def stop(self, timeout: float = 60) -> int | None:
        """Unmount cleanly (the demo flushes and publishes first); escalate if that hangs."""
        if self.proc is None:
            return None
        rc = unmount(self.proc, self.mnt, timeout)
        self.proc = None
        return rc

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], capture_output=True, timeout=30)
        self.proc = None

    def errors(self) -> str:
        """ERROR lines the mount logged (an unexpected exception turns into EIO plus a log line)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(line for line in text.splitlines() if " ERROR " in line or "Traceback" in line)


@pytest.fixture
def mounter():
    """mounter(storedir, mnt, rw=...) -> a started MountProc; all are stopped at teardown."""
    need_fuse()
    procs: list[MountProc] = []

    def start(storedir, mnt, *, rw: bool, **kw) -> MountProc:
        m = MountProc(storedir, mnt, rw=rw, **kw).start()
        procs.append(m)
        return m

    yield start
    for m in procs:
        m.stop()


# -- trees ----------------------------------------------------------------------------


_TEXT = bytes(b"abc \n"[i % 5] for i in range(256))  # random bytes -> compressible text


def make_tree(top: Path, *, seed: int = 1, nfiles: int = 300, big: int = 20 << 20) -> Path:
    """A host tree: nested dirs, files of many sizes and modes, symlinks, odd names, one big file."""
    rng = random.Random(seed)
    top.mkdir(parents=True)
    dirs = [top]
    for i in range(40):
        d = rng.choice(dirs) / f"dir{i}"
        d.mkdir()
        dirs.append(d)
    (top / "empty dir").mkdir()
    names = ["a.txt", "b b.bin", "ünïcödé", "x" * 200, ".hidden", "-dash", "new\nline"]
    for i in range(nfiles):
        d = rng.choice(dirs)
        name = f"f{i}" if i >= len(names) else names[i]
        size = rng.choice([0, 1, 100, 4096, 5000, 70_000, 300_000, 1_500_000])
        p = d / name
        p.write_bytes(rng.randbytes(size) if size % 2 else rng.randbytes(size).translate(_TEXT))
        p.chmod(rng.choice([0o644, 0o600, 0o755, 0o444]))
    (top / "big.bin").write_bytes(rng.randbytes(big))
    for i in range(20):
        d = rng.choice(dirs)
        target = rng.choice(["a.txt", "../dir1", "/etc/hostname", "nowhere/dangling", "big.bin"])
        os.symlink(target, d / f"link{i}")
    for i, d in enumerate(dirs):
        os.utime(d, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i * 1000))
    return top


def import_tree(fs: FS, host: Path, root: Root | None = None) -> Root:
    """Copy a host tree into a new root through the FS API (files written as one packed stream)."""
    root = root if root is not None else fs.new()
    with fs.edit(root) as tx:
        regular = []
        for dirpath, dirnames, filenames in os.walk(host):
            rel = Path(dirpath).relative_to(host)
            for name in sorted(dirnames + filenames):
                p = Path(dirpath) / name
                path = parse_path(str(rel / name))
                st = p.lstat()
                if stat.S_ISLNK(st.st_mode):
                    files.symlink(tx, path, os.readlink(p), mtime_ns=st.st_mtime_ns)
                elif stat.S_ISDIR(st.st_mode):
                    tx.mkdir(path, stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns)
                else:
                    regular.append((path, (lambda p=p: open(p, "rb")), stat.S_IMODE(st.st_mode), st.st_mtime_ns))
        for _ in files.write_files(tx, regular):
            pass
        for dirpath, _, _ in os.walk(host):  # directory times, set last
            st = os.lstat(dirpath)
            rel = str(Path(dirpath).relative_to(host))
            files.set_attrs(tx, parse_path("" if rel == "." else rel), mtime_ns=st.st_mtime_ns,
                            mode=stat.S_IMODE(st.st_mode))
    return tx.root


def store_tree(storedir: Path, host: Path) -> Root:
    """Import `host` into the store at `storedir` and record it as the root to mount."""
    fs = open_fs(storedir)
    try:
        root = import_tree(fs, host)
        fs.store.flush()
        save_root(storedir, root)
        return root
    finally:
        fs.store.close()


def listing(top: Path, *, mtimes: bool = True, dir_mtimes: bool = True) -> dict[str, tuple]:
    """path -> (kind, mode, size, mtime_ns, link target) for every path under `top`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = stat.S_IFMT(st.st_mode)
            is_dir = stat.S_ISDIR(st.st_mode)
            out[str(p.relative_to(top))] = (
                kind, stat.S_IMODE(st.st_mode),
                None if is_dir else st.st_size,
                st.st_mtime_ns if mtimes and (dir_mtimes or not is_dir) and not stat.S_ISLNK(st.st_mode) else None,
                os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return out


def diff_trees(a: Path, b: Path) -> None:
    """Byte-for-byte comparison with diff -r (symlinks compared as links, not followed)."""
    run("diff", "-r", "--no-dereference", a, b, timeout=300)


def published(storedir: Path) -> tuple[FS, Root]:
    """The store and its last published root, with the journal a killed mount left replayed
    as the next mount would (caller closes fs.store)."""
    fs = open_fs(storedir)
    recover(fs, storedir)
    return fs, load_root(storedir)
