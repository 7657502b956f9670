"""POSIX edge cases on a writable mount, through plain os calls and shell tools.

One mount serves the whole module (each test works in its own directory); the last test
unmounts, remounts the published root read-only and checks that what the others left is there.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

import pytest

from .conftest import MountProc, need_fuse, run

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(src, dst, flags: int) -> None:
    AT_FDCWD = -100
    if _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(dst))


@pytest.fixture(scope="module")
def mnt(tmp_path_factory):
    need_fuse()
    base = tmp_path_factory.mktemp("posix")
    m = MountProc(base / "store", base / "mnt", rw=True).start()
    m.base = base
    yield m
    m.stop()


@pytest.fixture
def d(mnt, request):
    """A fresh directory in the mount for one test."""
    path = mnt.mnt / request.node.name
    path.mkdir()
    return path


def errno_of(fn, *args) -> int:
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


def test_rename_replaces_file(d):
    (d / "a").write_bytes(b"AAA")
    (d / "b").write_bytes(b"BBBBBB")
    os.rename(d / "a", d / "b")
    assert (d / "b").read_bytes() == b"AAA"
    assert not (d / "a").exists()
    assert sorted(os.listdir(d)) == ["b"]


def test_rename_dirs(d):
    (d / "src").mkdir()
    (d / "src" / "f").write_bytes(b"f")
    (d / "empty").mkdir()
    os.rename(d / "src", d / "empty")  # onto an empty directory: replaces it
    assert (d / "empty" / "f").read_bytes() == b"f"
    (d / "full").mkdir()
    (d / "full" / "g").write_bytes(b"g")
    assert errno_of(os.rename, d / "empty", d / "full") == errno.ENOTEMPTY
    (d / "file").write_bytes(b"x")
    assert errno_of(os.rename, d / "empty", d / "file") == errno.ENOTDIR
    assert errno_of(os.rename, d / "file", d / "full") == errno.EISDIR
    assert errno_of(os.rename, d / "full", d / "full" / "sub") == errno.EINVAL
    os.rename(d / "full", d / "moved")  # a directory with contents moves whole
    assert (d / "moved" / "g").read_bytes() == b"g"
    (d / "moved" / "deep" / "er").mkdir(parents=True)
    (d / "moved" / "deep" / "er" / "h").write_bytes(b"h")
    os.rename(d / "moved", d / "empty" / "inner")
    assert (d / "empty" / "inner" / "deep" / "er" / "h").read_bytes() == b"h"


def test_rename_flags(d):
    (d / "a").write_bytes(b"a")
    (d / "b").write_bytes(b"b")
    assert errno_of(renameat2, d / "a", d / "b", RENAME_NOREPLACE) == errno.EEXIST
    renameat2(d / "a", d / "c", RENAME_NOREPLACE)
    assert (d / "c").read_bytes() == b"a"
    assert errno_of(renameat2, d / "b", d / "c", RENAME_EXCHANGE) in (errno.EINVAL, errno.ENOSYS)
    assert (d / "b").read_bytes() == b"b" and (d / "c").read_bytes() == b"a"


def test_name_errors(d):
    (d / "sub").mkdir()
    (d / "sub" / "x").write_bytes(b"x")
    assert errno_of(os.rmdir, d / "sub") == errno.ENOTEMPTY
    assert errno_of(os.mkdir, d / "sub") == errno.EEXIST
    assert errno_of(open, d / "missing") == errno.ENOENT
    assert errno_of(open, d / "sub" / "x" / "y") == errno.ENOTDIR
    assert errno_of(os.unlink, d / "sub") == errno.EISDIR
    assert errno_of(os.rmdir, d / "sub" / "x") == errno.ENOTDIR
    long = "n" * 256
    assert errno_of(open, d / long, "wb") == errno.ENAMETOOLONG
    assert errno_of(os.mkdir, d / long) == errno.ENAMETOOLONG
    assert errno_of(os.stat, d / long) == errno.ENAMETOOLONG
    (d / ("n" * 255)).write_bytes(b"ok")  # 255 is allowed
    assert (d / ("n" * 255)).read_bytes() == b"ok"
    p = run("mkdir", d / "sub", check=False)
    assert b"File exists" in p.stderr


def test_sparse_write(d):
    f = d / "sparse"
    with open(f, "wb") as fh:
        fh.seek(100 << 20)
        fh.write(b"end")
    assert f.stat().st_size == (100 << 20) + 3
    with open(f, "rb") as fh:
        assert fh.read(1 << 20) == bytes(1 << 20)
        fh.seek(50 << 20)
        assert fh.read(4096) == bytes(4096)
        fh.seek((100 << 20) - 2)
        assert fh.read() == b"\0\0end"
    fd = os.open(f, os.O_RDWR)
    os.pwrite(fd, b"middle", 7 << 20)
    os.fsync(fd)
    assert os.pread(fd, 10, (7 << 20) - 2) == b"\0\0middle\0\0"
    os.close(fd)


def test_truncate(d):
    f = d / "t"
    data = os.urandom(3_000_000)
    f.write_bytes(data)
    os.truncate(f, 1_000_000)
    assert f.read_bytes() == data[:1_000_000]
    os.truncate(f, 5_000_000)
    assert f.read_bytes() == data[:1_000_000] + bytes(4_000_000)
    fd = os.open(f, os.O_RDWR)  # truncate while writes are still buffered
    os.pwrite(fd, b"x" * 100, 4_999_950)
    os.ftruncate(fd, 4_999_980)
    os.pwrite(fd, b"y" * 10, 10)
    os.close(fd)
    want = bytearray(data[:1_000_000] + bytes(4_000_000))
    want[4_999_950:] = b"x" * 100
    want[10:20] = b"y" * 10
    assert f.read_bytes() == bytes(want[:4_999_980])
    with open(f, "wb"):  # O_TRUNC
        pass
    assert f.stat().st_size == 0 and f.read_bytes() == b""


def test_overwrite_and_append(d):
    f = d / "big"
    data = bytearray(os.urandom(10 << 20))
    f.write_bytes(data)
    fd = os.open(f, os.O_RDWR)
    for off in (0, 4096, 5 << 20, (10 << 20) - 100):
        os.pwrite(fd, b"Z" * 4096, off)
        data[off:off + 4096] = b"Z" * 4096
    assert os.pread(fd, 8192, 0) == bytes(data[:8192])  # read-your-writes before any flush
    os.close(fd)
    with open(f, "ab") as fh:
        fh.write(b"tail")
    data += b"tail"
    assert f.read_bytes() == bytes(data)
    run("cmp", f, "-", input=bytes(data))


def test_attributes(d):
    f = d / "f"
    f.write_bytes(b"hello")
    os.chmod(f, 0o640)
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    os.chmod(d, 0o700)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    os.utime(f, ns=(1_000_000_000_123_456_789, 1_500_000_000_987_654_321))
    assert f.stat().st_mtime_ns == 1_500_000_000_987_654_321
    run("touch", "-d", "2001-02-03 04:05:06", f)
    assert f.stat().st_mtime == 981173106
    st = f.stat()
    assert (st.st_uid, st.st_gid, st.st_nlink, st.st_size, st.st_blocks) == (os.getuid(), os.getgid(), 1, 5, 1)
    before = f.stat().st_mtime_ns
    with open(f, "ab") as fh:
        fh.write(b"!")
    assert f.stat().st_mtime_ns > before  # a write moves mtime
    os.chown(f, os.getuid(), os.getgid())  # to the owner it has: fine (other owners: test_owners.py)


def test_xattrs(d):
    f = d / "f"
    f.write_bytes(b"x")
    os.setxattr(f, "user.color", b"red")
    os.setxattr(f, "user.empty", b"")
    os.setxattr(f, "user.color", b"blue")
    assert sorted(os.listxattr(f)) == ["user.color", "user.empty"]
    assert os.getxattr(f, "user.color") == b"blue"
    os.removexattr(f, "user.empty")
    assert os.listxattr(f) == ["user.color"]
    assert errno_of(os.getxattr, f, "user.empty") == errno.ENODATA
    assert errno_of(os.removexattr, f, "user.empty") == errno.ENODATA
    os.setxattr(d, "user.on-a-dir", b"1")
    assert os.getxattr(d, "user.on-a-dir") == b"1"


def test_symlinks_and_hard_links(d):
    (d / "target").write_bytes(b"T")
    os.symlink("target", d / "rel")
    os.symlink("/nonexistent/x", d / "dangling")
    (d / "sub").mkdir()
    os.symlink("sub", d / "dirlink")
    assert os.readlink(d / "rel") == "target"
    assert (d / "rel").read_bytes() == b"T"
    assert os.readlink(d / "dangling") == "/nonexistent/x"
    assert os.lstat(d / "rel").st_size == len("target")
    assert stat.S_ISLNK(os.lstat(d / "dirlink").st_mode) and (d / "dirlink").is_dir()
    (d / "dirlink" / "via").write_bytes(b"v")
    assert (d / "sub" / "via").read_bytes() == b"v"
    assert errno_of(os.link, d / "target", d / "hard") in (errno.EPERM, errno.ENOTSUP)
    p = run("ln", d / "target", d / "hard2", check=False)
    assert p.returncode != 0 and not (d / "hard2").exists()


def test_open_unlinked_file(d):
    f = d / "gone"
    data = os.urandom(300_000)
    f.write_bytes(data)
    fd = os.open(f, os.O_RDWR)
    os.unlink(f)
    assert not f.exists()
    assert os.pread(fd, len(data) + 10, 0) == data  # still readable through the open handle
    os.pwrite(fd, b"more", len(data))
    assert os.fstat(fd).st_size == len(data) + 4
    f.write_bytes(b"new file, same name")
    assert os.pread(fd, 4, len(data)) == b"more"
    os.close(fd)
    assert f.read_bytes() == b"new file, same name"
    # renamed over while open
    (d / "a").write_bytes(b"old a")
    fd = os.open(d / "a", os.O_RDONLY)
    (d / "b").write_bytes(b"new b")
    os.rename(d / "b", d / "a")
    assert os.pread(fd, 100, 0) == b"old a"
    os.close(fd)
    assert (d / "a").read_bytes() == b"new b"


def test_many_entries(d):
    for i in range(3000):
        (d / f"file{i:05d}").write_bytes(b"%d" % i)
    assert len(os.listdir(d)) == 3000
    assert run("sh", "-c", f"ls -f '{d}' | wc -l").stdout.strip() == b"3002"  # with . and ..
    names = sorted(os.listdir(d))
    assert names[0] == "file00000" and names[-1] == "file02999"
    run("rm", "-rf", d)
    assert not d.exists()
    d.mkdir()


def test_fsync_is_durable(mnt, d):
    """fsync publishes a root, or journals the file (gotfs/journal.py) on the published one."""
    from benchmarks.bare_mount import load_root
    from gotfs import journal
    before = load_root(mnt.storedir)
    fd = os.open(d / "f", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"durable")
    os.fsync(fd)
    seg = journal.read(mnt.storedir / "JOURNAL", None)
    journaled = seg is not None and any(r.path[-1] == b"f" and r.ops for r in seg.records)
    assert load_root(mnt.storedir) != before or journaled
    os.close(fd)


def test_zz_persisted(mnt, tmp_path):
    """Everything above survives unmount and remount (read-only) of the published root."""
    from .conftest import listing
    before = listing(mnt.mnt)
    content = {p: (mnt.mnt / p).read_bytes() for p, v in before.items() if v[0] == stat.S_IFREG and v[2] < 1 << 20}
    assert mnt.stop() == 0
    assert not mnt.errors(), mnt.errors()
    ro = MountProc(mnt.storedir, mnt.base / "ro", rw=False).start()
    try:
        assert listing(ro.mnt) == before
        for p, data in content.items():
            assert (ro.mnt / p).read_bytes() == data, p
    finally:
        ro.stop()
