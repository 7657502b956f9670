"""POSIX attributes on a writable mount: owners, special files, timestamps, link counts,
other users (allow_other), the path length limit; and a read-only mount of the result.

Driven by real programs (chown, stat, mkfifo, mknod, touch, find, setpriv) and os calls, as
root, with a second user (nobody, 65534) for what other users may and may not do. One mount
serves the module; each test works in its own directory; the last test remounts the
published root read-only and checks it shows the same owners, times, kinds and link counts.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gotfs.keys import MAX_PATH

from .conftest import MountProc, need_fuse, published, run

NOBODY = 65534
PAST = 1_000_000_000_000_000_000  # 2001-09-09, in ns


def need_root() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root (chown to other users, device nodes, a second uid)")


def as_nobody(*cmd, check: bool = True):
    """Run a program as uid/gid 65534 with no supplementary groups."""
    return run("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd, check=check)


@pytest.fixture(scope="module")
def mnt(tmp_path_factory):
    need_fuse()
    need_root()
    base = tmp_path_factory.mktemp("posix_attrs")
    # the mount point must be reachable by nobody: pytest's own tmp dirs are 0700
    top = Path(tempfile.mkdtemp(prefix="got-posix-", dir="/tmp"))
    top.chmod(0o755)
    m = MountProc(base / "store", top / "mnt", rw=True, allow_other=True).start()
    m.base, m.top = base, top
    os.chmod(m.mnt, 0o755)
    yield m
    m.stop()
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def d(mnt, request):
    """A fresh directory in the mount for one test, open to everyone (0777)."""
    path = mnt.mnt / request.node.name
    path.mkdir()
    path.chmod(0o777)
    return path


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(OSError) as e:
        fn(*args, **kw)
    return e.value.errno


def owner(p: Path) -> tuple[int, int]:
    st = os.lstat(p)
    return st.st_uid, st.st_gid


# -- owners ---------------------------------------------------------------------------


def test_owners(d):
    f = d / "f"
    f.write_bytes(b"x")
    assert owner(f) == (0, 0)
    run("chown", f"{NOBODY}:{NOBODY}", f)
    assert owner(f) == (NOBODY, NOBODY)
    assert run("stat", "-c", "%u:%g", f).stdout.strip() == b"65534:65534"
    os.chown(f, -1, 100)
    assert owner(f) == (NOBODY, 100)
    os.symlink("f", d / "link")
    os.chown(d / "link", 123, 456, follow_symlinks=False)  # lchown
    assert owner(d / "link") == (123, 456) and owner(f) == (NOBODY, 100)
    # entries made by another user are theirs
    as_nobody("touch", d / "by-nobody")
    as_nobody("mkdir", d / "dir-by-nobody")
    as_nobody("ln", "-s", "x", d / "link-by-nobody")
    for name in ("by-nobody", "dir-by-nobody", "link-by-nobody"):
        assert owner(d / name) == (NOBODY, NOBODY), name
    # and what they may not do, the kernel refuses (default_permissions)
    p = as_nobody("chown", "0", d / "by-nobody", check=False)
    assert p.returncode != 0 and b"Operation not permitted" in p.stderr
    p = as_nobody("chgrp", "100", d / "by-nobody", check=False)  # not a member of group 100
    assert p.returncode != 0 and b"Operation not permitted" in p.stderr
    assert owner(d / "by-nobody") == (NOBODY, NOBODY)
    os.chown(d / "by-nobody", 0, 0)  # root may
    assert owner(d / "by-nobody") == (0, 0)


def test_chown_clears_setuid(d):
    f = d / "suid"
    f.write_bytes(b"#!/bin/sh\n")
    os.chmod(f, 0o6755)
    assert stat.S_IMODE(f.stat().st_mode) == 0o6755
    os.chown(f, NOBODY, NOBODY)
    assert stat.S_IMODE(f.stat().st_mode) & (stat.S_ISUID | stat.S_ISGID) == 0


def test_setgid_directory(d):
    sg = d / "sg"
    sg.mkdir()
    os.chown(sg, 0, 1234)
    os.chmod(sg, 0o2777)
    as_nobody("touch", sg / "f")
    as_nobody("mkdir", sg / "sub")
    assert owner(sg / "f") == (NOBODY, 1234)
    assert owner(sg / "sub") == (NOBODY, 1234)
    assert (sg / "sub").stat().st_mode & stat.S_ISGID


# -- special files --------------------------------------------------------------------


def test_special_files(d):
    run("mkfifo", "-m", "0640", d / "fifo")
    run("mknod", d / "null", "c", "1", "3")
    run("mknod", d / "loop", "b", "7", "0")
    os.mknod(d / "fifo2", 0o600 | stat.S_IFIFO)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock"))
    s.close()
    st = {name: os.lstat(d / name) for name in ("fifo", "null", "loop", "fifo2", "sock")}
    assert stat.S_ISFIFO(st["fifo"].st_mode) and stat.S_IMODE(st["fifo"].st_mode) == 0o640
    assert stat.S_ISCHR(st["null"].st_mode) and st["null"].st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK(st["loop"].st_mode) and st["loop"].st_rdev == os.makedev(7, 0)
    assert stat.S_ISFIFO(st["fifo2"].st_mode) and stat.S_IMODE(st["fifo2"].st_mode) == 0o600
    assert stat.S_ISSOCK(st["sock"].st_mode)
    assert all(s.st_size == 0 for s in st.values())
    assert run("find", d, "-type", "p").stdout.split() == sorted(os.fsencode(d / n) for n in ("fifo", "fifo2"))
    assert run("find", d, "-type", "c").stdout.split() == [os.fsencode(d / "null")]
    assert run("find", d, "-type", "b").stdout.split() == [os.fsencode(d / "loop")]
    assert run("find", d, "-type", "s").stdout.split() == [os.fsencode(d / "sock")]
    assert run("stat", "-c", "%F %t:%T", d / "null").stdout.strip() == b"character special file 1:3"
    # the kernel serves a FIFO itself: bytes pass through it, none are stored
    got = []
    reader = threading.Thread(target=lambda: got.append((d / "fifo").read_bytes()))
    reader.start()
    with open(d / "fifo", "wb") as w:
        w.write(b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    # device nodes are stored and shown, but FUSE mounts are nodev: opening one is refused
    assert errno_of(open, d / "null", "rb") == errno.EACCES
    assert errno_of(os.mkfifo, d / "fifo") == errno.EEXIST
    os.rename(d / "fifo2", d / "fifo3")
    assert stat.S_ISFIFO(os.lstat(d / "fifo3").st_mode)
    os.unlink(d / "fifo3")
    assert not os.path.lexists(d / "fifo3")


# -- timestamps -----------------------------------------------------------------------


def _dir_changes(d: Path, op) -> None:
    """`op` changes an entry of `d`: d's mtime and ctime both move to now."""
    os.utime(d, ns=(PAST, PAST))
    before = time.time_ns()
    op()
    st = os.stat(d)
    assert st.st_mtime_ns >= before and st.st_ctime_ns >= before, op


def test_directory_times(d):
    (d / "other").mkdir()
    steps = [
        lambda: (d / "f").write_bytes(b"x"),
        lambda: os.mkdir(d / "sub"),
        lambda: os.symlink("f", d / "link"),
        lambda: os.mkfifo(d / "fifo"),
        lambda: os.rename(d / "f", d / "g"),
        lambda: os.rename(d / "g", d / "other" / "g"),  # out of d
        lambda: os.rename(d / "other" / "g", d / "g"),  # into d
        lambda: os.unlink(d / "g"),
        lambda: os.rmdir(d / "sub"),
    ]
    for op in steps:
        _dir_changes(d, op)
    _dir_changes(d / "other", lambda: os.rename(d / "link", d / "other" / "link"))  # the target's too


def test_ctime_rules(d):
    f = d / "f"
    f.write_bytes(b"data")
    os.utime(f, ns=(PAST, PAST))
    st = f.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (PAST, PAST) and st.st_ctime_ns > PAST  # utimens: ctime now
    changes = [
        lambda: os.chmod(f, 0o600),
        lambda: os.chown(f, NOBODY, NOBODY),
        lambda: os.setxattr(f, "user.k", b"v"),
        lambda: os.removexattr(f, "user.k"),
        lambda: os.rename(f, d / "f2") or os.rename(d / "f2", f),
        lambda: os.utime(f, ns=(PAST + 1, PAST + 2)),
    ]
    for change in changes:
        before = time.time_ns()
        change()
        st = f.stat()
        assert st.st_ctime_ns >= before, change
        assert st.st_mtime_ns <= PAST + 2, change  # metadata changes leave the mtime alone
    before = time.time_ns()
    with open(f, "ab") as fh:  # a write moves mtime and ctime, not atime
        fh.write(b"!")
    st = f.stat()
    assert st.st_mtime_ns >= before and st.st_ctime_ns >= before and st.st_atime_ns == PAST + 1


def test_atime_is_kept_as_set(d):
    f = d / "f"
    f.write_bytes(b"data")
    os.utime(f, ns=(PAST, PAST + 5))
    assert f.read_bytes() == b"data"  # reading does not move atime (noatime), nor publish
    st = f.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (PAST, PAST + 5)
    run("touch", "-a", "-d", "2005-01-01 00:00:00 UTC", f)
    st = f.stat()
    assert st.st_atime == 1104537600 and st.st_mtime_ns == PAST + 5
    run("touch", "-m", "-d", "2006-01-01 00:00:00 UTC", f)
    st = f.stat()
    assert st.st_atime == 1104537600 and st.st_mtime == 1136073600
    assert run("stat", "-c", "%X %Y", f).stdout.split() == [b"1104537600", b"1136073600"]


# -- link counts ----------------------------------------------------------------------


def test_directory_link_counts(d):
    assert d.stat().st_nlink == 2
    for name in ("a", "b", "c"):
        (d / name).mkdir()
    (d / "file").write_bytes(b"f")
    os.mkfifo(d / "fifo")
    assert d.stat().st_nlink == 5  # 2 + three subdirectories; files do not count
    (d / "a" / "deep").mkdir()
    assert (d / "a").stat().st_nlink == 3 and d.stat().st_nlink == 5
    os.rmdir(d / "c")
    assert d.stat().st_nlink == 4
    os.rename(d / "b", d / "a" / "b")  # moves a link from d to a
    assert d.stat().st_nlink == 3 and (d / "a").stat().st_nlink == 4
    (d / "e").mkdir()
    os.rename(d / "e", d / "a" / "deep")  # replaces an empty directory: a keeps its count
    assert d.stat().st_nlink == 3 and (d / "a").stat().st_nlink == 4
    assert (d / "file").stat().st_nlink == 1
    # find trusts st_nlink to skip leaves: with wrong counts it misses entries
    for i in range(3):
        (d / "a" / "b" / f"x{i}").mkdir()
        (d / "a" / "b" / f"x{i}" / "f").write_bytes(b"")
    found = sorted(run("find", d, "-name", "f").stdout.split())
    walked = sorted(os.fsencode(Path(p) / "f") for p, _, fs in os.walk(d) if "f" in fs)
    assert found == walked and len(found) == 3


def test_open_unlinked_file_has_no_links(d):
    f = d / "gone"
    f.write_bytes(b"data")
    fd = os.open(f, os.O_RDWR)
    try:
        assert os.fstat(fd).st_nlink == 1
        before = time.time_ns()
        os.unlink(f)
        st = os.fstat(fd)
        assert st.st_nlink == 0 and st.st_ctime_ns >= before
        assert os.pread(fd, 10, 0) == b"data"
    finally:
        os.close(fd)


# -- other users ----------------------------------------------------------------------


def test_other_users_as_modes_say(d):
    (d / "public").write_bytes(b"for all")
    os.chmod(d / "public", 0o644)
    (d / "private").write_bytes(b"root only")
    os.chmod(d / "private", 0o600)
    (d / "closed").mkdir(mode=0o755)
    assert as_nobody("cat", d / "public").stdout == b"for all"
    p = as_nobody("cat", d / "private", check=False)
    assert p.returncode != 0 and b"Permission denied" in p.stderr
    p = as_nobody("sh", "-c", f"echo x >> '{d / 'public'}'", check=False)
    assert p.returncode != 0 and b"Permission denied" in p.stderr
    p = as_nobody("touch", d / "closed" / "new", check=False)
    assert p.returncode != 0 and b"Permission denied" in p.stderr
    as_nobody("touch", d / "open-dir-file")  # d is 0777
    os.chown(d / "private", NOBODY, NOBODY)  # now theirs
    assert as_nobody("cat", d / "private").stdout == b"root only"
    assert (d / "public").read_bytes() == b"for all"


def test_without_allow_other_others_are_kept_out(tmp_path, mnt):
    """Without --allow-other, even a 0755 tree is closed to other users."""
    top = Path(tempfile.mkdtemp(prefix="got-private-", dir="/tmp"))
    try:
        top.chmod(0o755)
        m = MountProc(tmp_path / "store", top / "mnt", rw=True).start()
        try:
            os.chmod(m.mnt, 0o755)
            (m.mnt / "f").write_bytes(b"x")
            os.chmod(m.mnt / "f", 0o644)
            p = as_nobody("cat", m.mnt / "f", check=False)
            assert p.returncode != 0 and b"Permission denied" in p.stderr
        finally:
            m.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_allow_other_needs_fuse_conf_unless_root(tmp_path, monkeypatch):
    """A user other than root gets a clear refusal, not fusermount3's, without user_allow_other."""
    import gotfs.mount as package
    from gotkv.errors import InvalidInput
    conf = tmp_path / "fuse.conf"
    conf.write_text("# user_allow_other\nmount_max = 1000\n")
    monkeypatch.setattr(package, "FUSE_CONF", str(conf))
    monkeypatch.setattr(package.os, "getuid", lambda: 1000)
    with pytest.raises(InvalidInput, match="user_allow_other in .*fuse.conf"):
        package.mount(None, None, str(tmp_path), allow_other=True)
    conf.write_text("user_allow_other\n")
    assert package._fuse_conf_allows_other()


# -- path length ----------------------------------------------------------------------


def test_path_length_limit_is_exact(d, mnt):
    """A path from the mount root is at most MAX_PATH bytes (the key layout's limit), deeper
    than the kernel's PATH_MAX allows in one argument: walk down with dir_fd."""
    used = len(d.name)  # the body so far: "test_path_length_limit_is_exact"
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    first = None
    try:
        while MAX_PATH - used - 1 > 254:  # until the last name fits in a name's 255 bytes
            name = "n" * 200
            os.mkdir(name, dir_fd=fd)
            first = first or d / name
            used += 1 + len(name)
            new = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
        room = MAX_PATH - used - 1  # the longest last name
        assert 0 < room < 255  # so the error below is the path's, not the name's
        assert errno_of(os.open, "m" * (room + 1), os.O_CREAT | os.O_WRONLY, dir_fd=fd) == errno.ENAMETOOLONG
        assert errno_of(os.mkdir, "m" * (room + 1), dir_fd=fd) == errno.ENAMETOOLONG
        os.close(os.open("m" * room, os.O_CREAT | os.O_WRONLY, dir_fd=fd))  # exactly MAX_PATH: fine
        assert stat.S_ISREG(os.stat("m" * room, dir_fd=fd).st_mode)
        os.unlink("m" * room, dir_fd=fd)
        os.mkdir("m" * room, dir_fd=fd)  # a directory that long can hold nothing
        sub = os.open("m" * room, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        try:
            assert errno_of(os.mkdir, "x", dir_fd=sub) == errno.ENAMETOOLONG
        finally:
            os.close(sub)
    finally:
        os.close(fd)
    shutil.rmtree(first)  # walks down by dir_fd too; os.walk in the last test could not
    assert os.listdir(d) == []


# -- the same through a read-only mount -----------------------------------------------


def full_listing(top: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_nlink, st.st_size,
                                            st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
    return out


def test_zz_read_only_mount_shows_the_same(mnt):
    before = full_listing(mnt.mnt)
    kinds = {stat.S_IFMT(v[0]) for v in before.values()}
    assert {stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK} <= kinds
    assert any(v[1] == NOBODY for v in before.values())
    assert mnt.stop() == 0
    assert not mnt.errors(), mnt.errors()
    # owners are stored only where they are not the serving user's (root here): trees made
    # by one user carry no owner fields
    fs, root = published(mnt.storedir)
    try:
        assert fs.stat(root, "test_owners/f").uid == NOBODY
        assert fs.stat(root, "test_owners/dir-by-nobody").uid == NOBODY
        for made_by_root in ("test_owners", "test_atime_is_kept_as_set/f", "test_owners/by-nobody"):  # the last given back
            assert fs.stat(root, made_by_root).uid is None, made_by_root
    finally:
        fs.store.close()
    ro = MountProc(mnt.storedir, mnt.top / "ro", rw=False).start()
    try:
        assert full_listing(ro.mnt) == before
    finally:
        ro.stop()
