"""kill -9 of a read-write mount right after a program's fsync returned: what fsync made
durable through the intent journal (gotfs/journal.py) is there after `got umount` and after
a remount; `got fsck --read-data` is clean and earlier commits are intact. Real mounts, real
processes (as tests/cli/test_crash_matrix.py kills them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.cli.conftest import got_env, manifest, stored_manifest, write

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0,
                                reason="needs root and /dev/fuse")


def _mount(got, mnt) -> int:
    got("mount", "--rw", "main", str(mnt))
    pids = subprocess.run(["pgrep", "-f", f"mount --rw main {mnt}"], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1
    return int(pids[0])


def _fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)  # the mount publishes its root
    finally:
        os.close(fd)


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.02)


def _journal(repo_dir):
    return repo_dir / ".got" / "mounts" / "main.journal"


def _published(repo_dir) -> str | None:
    from gotfs.repo import Repo
    with Repo.open(repo_dir) as repo:
        return str(repo.working_root("main"))


@pytest.fixture
def mnt(tmp_path):
    d = tmp_path / "mnt"
    d.mkdir()
    yield d
    if os.path.ismount(d):
        subprocess.run(["fusermount3", "-u", "-z", str(d)], capture_output=True)


def test_kill_9_after_fsync_keeps_the_fsynced_bytes(got, repo_dir, mnt):
    write(repo_dir, {"base.txt": "base\n"})
    got("commit", "-m", "base")
    base = got.out("log", "--oneline", "-n", "1").split()[0]
    tree = manifest(repo_dir)
    pid = _mount(got, mnt)
    body = bytearray(os.urandom(300_000))
    (mnt / "log.bin").write_bytes(body)
    _fsync_dir(mnt)  # the file's name is in the published root: its fsyncs can be journaled
    journaled = []  # per fsync: did it go to the journal and publish no root?
    fd = os.open(mnt / "log.bin", os.O_RDWR)  # kept open: a close would make the mount publish
    try:
        for off in (0, 150_000, 299_990, 300_000, None):
            published = _published(repo_dir)
            if off is None:
                os.ftruncate(fd, 250_000)
                del body[250_000:]
            else:
                os.pwrite(fd, b"J" * 40, off)
                body[off:off + 40] = b"J" * 40
            os.fsync(fd)
            journaled.append(_journal(repo_dir).stat().st_size > 0 and _published(repo_dir) == published)
        assert any(journaled)  # (the mount's 5-second timer may publish, and empty it, once meanwhile)
        _kill(pid)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass  # the mount is gone
    done = got("umount", str(mnt))
    assert "committed" in done.stdout + done.stderr or done.returncode == 0
    assert not _journal(repo_dir).exists()
    assert got("cat", "HEAD:log.bin", binary=True).stdout == bytes(body)
    fsck = got("fsck", "--read-data", ok=False)
    assert fsck.returncode == 0 and "no problems found" in fsck.stdout, fsck.stdout
    assert stored_manifest(repo_dir, base) == tree  # the earlier commit is intact
    _mount(got, mnt)  # a remount serves it too
    try:
        assert (mnt / "log.bin").read_bytes() == bytes(body)
    finally:
        got("umount", str(mnt))


SQLITE = textwrap.dedent("""
    import sqlite3, sys
    n = int(sys.argv[1])
    con = sqlite3.connect("db.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    for i in range(n):
        con.execute("INSERT INTO t (v) VALUES (?)", (bytes(100),))
    print("committed", flush=True)
    sys.stdin.read()  # hold the database open until killed
""")

CHECK = textwrap.dedent("""
    import sqlite3
    con = sqlite3.connect("db.sqlite")
    print(con.execute("PRAGMA integrity_check").fetchone()[0], con.execute("SELECT count(*) FROM t").fetchone()[0])
""")


def test_sqlite_after_kill_9_and_replay_passes_integrity_check(got, repo_dir, mnt):
    write(repo_dir, {"base.txt": "base\n"})
    got("commit", "-m", "base")
    pid = _mount(got, mnt)
    prog = subprocess.Popen([sys.executable, "-c", SQLITE, "200"], cwd=mnt, env=got_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert prog.stdout.readline().strip() == "committed"
        assert _journal(repo_dir).exists()  # (its commits went to the journal, unless a publish emptied it)
        _kill(pid)
    finally:
        prog.kill()
        prog.wait()
    got("umount", str(mnt))
    _mount(got, mnt)
    try:
        done = subprocess.run([sys.executable, "-c", CHECK], cwd=mnt, capture_output=True, text=True, timeout=60)
        assert done.stdout.split() == ["ok", "200"], done.stderr
    finally:
        got("umount", str(mnt))
    fsck = got("fsck", "--read-data", ok=False)
    assert fsck.returncode == 0 and "no problems found" in fsck.stdout, fsck.stdout


SAVES = textwrap.dedent("""
    import os, sys, time
    for i in range(5):  # an editor's saves: write a temporary, fsync it, rename it over the file
        with open("doc.txt.tmp", "wb") as f:
            f.write(b"version %d" % i)
            f.flush()
            os.fsync(f.fileno())
        os.rename("doc.txt.tmp", "doc.txt")
    time.sleep(1.5)  # the publish the closes asked for comes meanwhile
    f = open("doc.txt.tmp", "wb")  # the next save, killed after its fsync, before its rename
    f.write(b"version 5")
    f.flush()
    os.fsync(f.fileno())
    print("synced", flush=True)
    sys.stdin.read()
""")


def test_kill_9_after_a_saves_fsync_keeps_the_save_and_the_renames_before_it(got, repo_dir, mnt):
    write(repo_dir, {"base.txt": "base\n"})
    got("commit", "-m", "base")
    pid = _mount(got, mnt)
    prog = subprocess.Popen([sys.executable, "-c", SAVES], cwd=mnt, env=got_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert prog.stdout.readline().strip() == "synced"
        assert _journal(repo_dir).exists()  # (the create and the bytes went to it, unless a publish emptied it)
        _kill(pid)
    finally:
        prog.kill()
        prog.wait()
    got("umount", str(mnt))
    assert got("cat", "HEAD:doc.txt", binary=True).stdout == b"version 4"
    assert got("cat", "HEAD:doc.txt.tmp", binary=True).stdout == b"version 5"
    fsck = got("fsck", "--read-data", ok=False)
    assert fsck.returncode == 0 and "no problems found" in fsck.stdout, fsck.stdout
