"""`got mount` / `got umount` with real FUSE mounts (skipped where FUSE is not available)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time

import pytest

from tests.cli.conftest import manifest, write

try:
    from gotfs.mount import mount as _mount  # noqa: F401
    HAVE_MOUNT = True
except ImportError:
    HAVE_MOUNT = False
HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None

pytestmark = pytest.mark.skipif(not (HAVE_MOUNT and HAVE_FUSE), reason="no gotfs.mount or no FUSE here")


@pytest.fixture
def mountpoint(tmp_path):
    made = []

    def make(name: str):
        p = tmp_path / name
        p.mkdir()
        made.append(p)
        return p

    yield make
    for p in made:  # never leave a mount behind, whatever the test did
        if os.path.ismount(p):
            subprocess.run(["fusermount3", "-u", str(p)], capture_output=True, timeout=30)
        if os.path.ismount(p):
            subprocess.run(["fusermount3", "-u", "-z", str(p)], capture_output=True, timeout=30)


def _unmounted(path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.ismount(path)


def test_commit_right_after_cp_includes_the_copy(got, repo_dir, mountpoint, tmp_path):
    """No fsync by the user: `got commit` makes the live mount publish first, so a copy that
    only just closed (and whose last bytes sit in the mount's buffers) is in the commit."""
    got("commit", "-m", "empty", "--allow-empty")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(24 << 20))  # past no spill threshold: all of it still buffered
    mnt = mountpoint("rw")
    got("mount", "--rw", "main", str(mnt))
    subprocess.run(["cp", str(big), str(mnt / "big.bin")], check=True)
    out = got.out("commit", "-m", "copied")
    assert "1 file changed: 1 added" in out
    assert got("cat", "HEAD:big.bin", binary=True).stdout == big.read_bytes()
    got("umount", str(mnt))
    assert _unmounted(mnt)
    assert got.out("mount", "--rw", "main", str(mnt)).startswith("mounted")  # the record was cleared ...
    got("umount", str(mnt))  # ... and set again: unmount commits nothing new
    assert _unmounted(mnt)
    assert got.out("log", "-n", "1", "--oneline").rstrip().endswith(" copied")


def test_readonly_mount_shows_a_revision(got, repo_dir, mountpoint):
    write(repo_dir, {"a.txt": "one\n", "dir/b.bin": os.urandom(300_000)})
    os.symlink("a.txt", repo_dir / "ln")
    got("commit", "-m", "one")
    expected = manifest(repo_dir)
    write(repo_dir, {"a.txt": "two\n"})
    got("commit", "-m", "two")

    mnt = mountpoint("ro")
    out = got.out("mount", "HEAD~1", str(mnt))
    assert out.startswith("mounted HEAD~1 (") and os.path.ismount(mnt)
    assert manifest(mnt) == expected
    with pytest.raises(OSError) as e:
        (mnt / "new.txt").write_text("x")
    assert e.value.errno == errno.EROFS
    assert got.out("umount", str(mnt)).startswith("unmounted")
    assert _unmounted(mnt)


def test_writable_mount_publishes_and_commit_records_it(got, repo_dir, mountpoint):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    mnt = mountpoint("rw")
    assert got.out("mount", "--rw", "main", str(mnt)).startswith("mounted main at")
    with open(mnt / "from-mount.txt", "wb") as f:
        f.write(b"written through FUSE\n")
        f.flush()
        os.fsync(f.fileno())  # durable: a new working root of main is published
    assert "mounted working root" in got.out("status")
    out = got.out("commit", "-m", "mounted changes")
    assert out.startswith("committing the mounted working root of main\n[main ")
    assert "1 file changed: 1 added" in out
    assert got.out("cat", "HEAD:from-mount.txt") == "written through FUSE\n"
    # the mount keeps serving (and publishing) after the commit
    assert (mnt / "from-mount.txt").read_text() == "written through FUSE\n"
    got("umount", str(mnt))
    assert _unmounted(mnt)
    assert "no problems found" in got.out("fsck", "--read-data")


def test_commit_warns_about_a_killed_rw_mount_and_keeps_what_it_published(got, repo_dir, mountpoint, tmp_path):
    """kill -9 of a read-write mount leaves a dead mount point; `got commit` says so on stderr
    and commits the mount's last published root with what its fsyncs journaled: nothing is
    lost that it had made durable."""
    import signal

    got("commit", "-m", "empty", "--allow-empty")
    mnt = mountpoint("rw")
    got("mount", "--rw", "main", str(mnt))
    (mnt / "kept.txt").write_bytes(b"published\n")
    fd = os.open(mnt / "kept.txt", os.O_RDONLY)
    os.fsync(fd)  # returns once the mount has published a root holding it, or journaled it
    os.close(fd)
    server = subprocess.run(["pgrep", "-f", f"mount --rw main {mnt}"], capture_output=True, text=True).stdout
    pids = [int(p) for p in server.split()]
    assert len(pids) == 1  # the daemon (its decoder child runs another program)
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.stat(mnt)
        except OSError as e:
            assert e.errno == errno.ENOTCONN
            break
        time.sleep(0.05)
    r = got("commit", "-m", "after the kill")
    assert "does not answer" in r.stderr and str(mnt) in r.stderr and "Traceback" not in r.stderr
    assert got("cat", "HEAD:kept.txt", binary=True).stdout == b"published\n"
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)


def test_auto_gc_reclaims_what_only_intermediate_flushes_reached(got, repo_dir, mountpoint, tmp_path):
    """Files a rw mount wrote, published and then replaced leave blobs no commit needs; once
    the store has doubled since the last gc, a commit starts `gc --auto` in the background,
    which drops them (their pack is compacted once the mount lets go of it, at unmount) and
    never touches what the mount's published root still needs."""
    import json
    import random
    import subprocess as sp

    from tests.cli.conftest import got_cmd, got_env

    def stats() -> dict:
        return json.loads(got.out("stats", "--json"))

    def wait_for(done, what: str) -> None:
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    write(repo_dir, {"keep.txt": "kept\n"})
    got("commit", "-m", "one")
    mnt = mountpoint("rw")
    env = got_env(GOT_AUTO_GC="1")
    assert sp.run(got_cmd("mount", "--rw", "main", str(mnt)), cwd=repo_dir, env=env).returncode == 0
    rng = random.Random(9)
    for _ in range(3):  # each version published, then replaced: intermediate garbage
        with open(mnt / "scratch.bin", "wb") as f:
            f.write(rng.randbytes(40 << 20))
            os.fsync(f.fileno())
    live = rng.randbytes(1 << 20)
    with open(mnt / "live.bin", "wb") as f:  # published, not committed: the mount still needs it
        f.write(live)
        os.fsync(f.fileno())
    before = stats()
    done = sp.run(got_cmd("commit", "-m", "two", "--allow-empty"), cwd=repo_dir, env=env, capture_output=True,
                  text=True)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: stats()["stored_bytes"] < before["stored_bytes"] - (60 << 20), "gc --auto did not run")
    assert (mnt / "live.bin").read_bytes() == live
    done = sp.run(got_cmd("umount", str(mnt)), cwd=repo_dir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _unmounted(mnt)
    wait_for(lambda: stats()["pack_bytes"] < before["pack_bytes"] - (60 << 20), "the dead pack was not compacted")
    assert got("cat", "HEAD:live.bin", binary=True).stdout == live  # committed at unmount
    assert "no problems found" in got.out("fsck", "--read-data")
    assert sp.run(got_cmd("gc", "--auto"), cwd=repo_dir, env=env).returncode == 0  # not due: nothing to do


def test_gc_spares_a_file_removed_while_open_in_a_rw_mount(got, repo_dir, mountpoint):
    """A file removed while open keeps its contents for its handles. Once a root without it is
    published, no root names the blobs they read, so the mount holds gc off (as it does for
    blobs posted and not yet published) until the last handle is closed."""
    import random

    from gotfs.repo import maintenance
    from gotfs.repo.errors import RepoLocked
    from gotfs.repo.repo import Repo

    write(repo_dir, {"keep.txt": "kept\n"})
    got("commit", "-m", "one")
    mnt = mountpoint("rw")
    got("mount", "--rw", "main", str(mnt))
    data = random.Random(3).randbytes(3 << 20)
    with open(mnt / "scratch.bin", "wb") as f:
        f.write(data)
        os.fsync(f.fileno())  # published: its blobs are in the working root, in no commit
    fd = os.open(mnt / "scratch.bin", os.O_RDONLY)
    try:
        os.unlink(mnt / "scratch.bin")
        dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)  # a root without the file is published
        finally:
            os.close(dfd)
        with Repo.open(repo_dir) as repo:
            with pytest.raises(RepoLocked):
                maintenance.gc(repo, wait=0.5, grace=0)
        assert os.pread(fd, len(data), 0) == data
    finally:
        os.close(fd)
    with Repo.open(repo_dir) as repo:  # the last handle closed: gc may run, and sweeps the file
        assert maintenance.gc(repo, wait=10, grace=0)["deleted"] > 0
    got("umount", str(mnt))
    assert _unmounted(mnt)
    assert "no problems found" in got.out("fsck", "--read-data")
