"""Read-only mounts: a tree imported through the FS API, read back by find, cat, cmp, diff -r."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess

import pytest

from gotfs import files
from gotfs.keys import parse_path
from gotfs.mount import READ_AHEAD_KB
from benchmarks.bare_mount import open_fs, save_root

from .conftest import diff_trees, listing, make_tree, run, store_tree


@pytest.fixture
def ro(tmp_path, mounter):
    host = make_tree(tmp_path / "host")
    store = tmp_path / "store"
    store_tree(store, host)
    m = mounter(store, tmp_path / "mnt", rw=False)
    return host, m


def test_find_cat_diff(ro):
    host, m = ro
    find = "%P %y %m %l\n"  # sizes: see listing() (a directory has no size in gotfs)
    assert sorted(run("find", m.mnt, "-printf", find).stdout.splitlines()) == \
        sorted(run("find", host, "-printf", find).stdout.splitlines())
    assert listing(m.mnt) == listing(host)
    assert run("cat", m.mnt / "dir0" / "..", check=False).returncode != 0  # cat of a directory
    digest = hashlib.sha256((host / "big.bin").read_bytes()).hexdigest()
    assert run("sha256sum", m.mnt / "big.bin").stdout.split()[0].decode() == digest
    run("cmp", host / "big.bin", m.mnt / "big.bin")
    diff_trees(host, m.mnt)
    assert not m.errors()


def test_writes_fail_read_only(ro):
    host, m = ro
    some_file = next(p for p in m.mnt.rglob("*") if p.is_file() and not p.is_symlink())
    for cmd in (["touch", m.mnt / "new"], ["mkdir", m.mnt / "newdir"], ["rm", "-f", some_file],
                ["mv", some_file, m.mnt / "moved"], ["chmod", "777", some_file],
                ["ln", "-s", "x", m.mnt / "sym"], ["truncate", "-s", "0", some_file]):
        p = run(*cmd, check=False)
        assert p.returncode != 0, cmd
        assert b"Read-only file system" in p.stderr, (cmd, p.stderr)
    with pytest.raises(OSError) as e:
        open(some_file, "r+b")
    assert e.value.errno == errno.EROFS
    with pytest.raises(OSError) as e:
        os.setxattr(some_file, "user.x", b"1")
    assert e.value.errno == errno.EROFS
    assert listing(m.mnt) == listing(host)


def test_xattrs_statfs_readahead(tmp_path, mounter):
    store = tmp_path / "store"
    fs = open_fs(store)
    root = fs.write_file(fs.mkdir(fs.new(), "d"), "d/f", b"data" * 1000)
    with fs.edit(root) as tx:
        files.set_attrs(tx, parse_path("d/f"), set_xattrs={b"user.color": b"blue", b"user.empty": b""})
    fs.store.flush()
    save_root(store, tx.root)
    fs.store.close()
    m = mounter(store, tmp_path / "mnt", rw=False)
    f = m.mnt / "d" / "f"
    assert sorted(os.listxattr(f)) == ["user.color", "user.empty"]
    assert os.getxattr(f, "user.color") == b"blue"
    assert os.getxattr(f, "user.empty") == b""
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.missing")
    assert e.value.errno == errno.ENODATA
    vfs = os.statvfs(m.mnt)
    assert vfs.f_namemax == 255 and vfs.f_bavail == 0
    st = os.stat(f)
    assert (st.st_uid, st.st_nlink, st.st_blksize, st.st_blocks) == (os.getuid(), 1, 1 << 20, 8)
    assert os.stat(m.mnt / "d").st_ino == os.stat(m.mnt / "d").st_ino != st.st_ino
    if os.getuid() == 0:
        dev = os.stat(m.mnt).st_dev
        ra = open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb").read().strip()
        assert ra == str(READ_AHEAD_KB)


def test_concurrent_readers(ro):
    """Many processes reading the same and different files at once (shared chunk fetches)."""
    host, m = ro
    big = [subprocess.Popen(["cmp", host / "big.bin", m.mnt / "big.bin"]) for _ in range(4)]
    tar = subprocess.Popen(["tar", "-cf", "/dev/null", "-C", m.mnt, "."])
    assert [p.wait(120) for p in big] == [0] * 4
    assert tar.wait(120) == 0
