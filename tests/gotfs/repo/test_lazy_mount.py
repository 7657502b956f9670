"""Lazy mounts of remote snapshots (gotfs/repo/lazy.py, `got mount URL#BRANCH` / `origin/main`).

Real FUSE mounts through the real `got` command (as tests/cli does), on a directory remote and
on a real S3 engine (Ceph RGW). What is fetched is judged by the blob cache's size on disk:
the remote engine's request counters live in the mount's process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gotfs.repo import remotes as R
from gotfs.repo.repo import Repo
from tests.cli.conftest import Got, assert_clean_error

HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
pytestmark = pytest.mark.skipif(not HAVE_FUSE, reason="no FUSE here")

BIG = 64 << 20
MiB = 1 << 20


def du(path: Path) -> int:
    """Bytes of the regular files under `path`."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def make_repo(workdir: Path, files: dict[str, bytes]) -> Repo:
    for rel, data in files.items():
        p = workdir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    repo = Repo.init(workdir)
    repo.commit_workdir("one", author="t <t@example.com>")
    return repo


@pytest.fixture(params=["dir", "s3"])
def remote_url(request, tmp_path):
    """A fresh remote URL: a directory, or a prefix in a fresh bucket of the S3 engine."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return f"s3://{bucket}/snap"
    return str(tmp_path / "remote")


@pytest.fixture
def snapshot(tmp_path, remote_url):
    """A remote holding one commit of a small file and a BIG random file; returns
    (url, key file, the source directory)."""
    src = tmp_path / "src"
    repo = make_repo(src, {"x.txt": b"hello\n", "d/big.bin": os.urandom(BIG), "d/small.txt": b"small\n" * 100})
    try:
        R.add_remote(repo, "origin", remote_url)
        R.push(repo, "origin")
        key = tmp_path / "key"
        key.write_text(R.key_text(repo) + "\n")
    finally:
        repo.close()
    return remote_url, key, src


@pytest.fixture
def mounts(tmp_path):
    """mounts(name) -> a fresh mount point; all are unmounted at teardown."""
    made = []

    def make(name: str) -> Path:
        p = tmp_path / name
        p.mkdir()
        made.append(p)
        return p

    yield make
    for p in made:
        for flags in (["-u"], ["-u", "-z"]):
            if os.path.ismount(p):
                subprocess.run(["fusermount3", *flags, str(p)], capture_output=True, timeout=30)


def umount(got: Got, mnt: Path) -> None:
    got("umount", str(mnt))


@pytest.fixture
def nowhere(tmp_path) -> Got:
    """`got` run in a directory that is not in any repository."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    return Got(d)


def test_mount_a_url_with_no_repository(snapshot, nowhere, mounts, tmp_path):
    url, key, src = snapshot
    mnt = mounts("mnt")
    out = nowhere.out("mount", f"{url}#main", str(mnt), "--key-file", str(key), "--cache-dir", str(tmp_path / "cache"))
    assert out.startswith("mounted ") and "#main (" in out
    assert sorted(os.listdir(mnt)) == ["d", "x.txt"]
    assert subprocess.run(["cat", str(mnt / "x.txt")], capture_output=True, check=True).stdout == b"hello\n"
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    with pytest.raises(OSError):
        (mnt / "new.txt").write_text("no")  # read-only
    umount(nowhere, mnt)


def test_opening_one_small_file_fetches_only_its_path(snapshot, nowhere, mounts, tmp_path):
    url, key, _ = snapshot
    mnt, cache = mounts("mnt"), tmp_path / "cache"
    nowhere("mount", f"{url}#main", str(mnt), "--key-file", str(key), "--cache-dir", str(cache))
    assert (mnt / "d/small.txt").read_bytes() == b"small\n" * 100
    fetched = du(cache / "blobs")
    assert 0 < fetched < 8 * MiB, fetched  # a chunk or two and the tree nodes; not the 64 MiB file
    umount(nowhere, mnt)


def test_cache_bound_is_kept(snapshot, nowhere, mounts, tmp_path):
    url, key, src = snapshot
    mnt, cache = mounts("mnt"), tmp_path / "cache"
    nowhere("mount", f"{url}#main", str(mnt), "--key-file", str(key), "--cache-dir", str(cache),
            "--cache-size", "8M")
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    umount(nowhere, mnt)
    assert du(cache / "blobs") <= 8 * MiB


def test_cache_is_kept_between_mounts(tmp_path, nowhere, mounts):
    """Read once; then with the remote's packs gone, a second mount reads from the cache."""
    src = tmp_path / "src"
    url = tmp_path / "remote"
    repo = make_repo(src, {"x.txt": b"hello\n", "d/big.bin": os.urandom(16 * MiB)})
    R.add_remote(repo, "origin", str(url))
    R.push(repo, "origin")
    key = tmp_path / "key"
    key.write_text(R.key_text(repo))
    repo.close()
    cache = tmp_path / "cache"
    args = ["--key-file", str(key), "--cache-dir", str(cache)]
    mnt = mounts("one")
    nowhere("mount", f"{url}#main", str(mnt), *args)
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    assert (mnt / "x.txt").read_bytes() == b"hello\n"  # every file read once, so all is cached
    umount(nowhere, mnt)
    (url / "packs").rename(tmp_path / "packs-away")
    mnt = mounts("two")
    nowhere("mount", f"{url}#main", str(mnt), *args)
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    assert (mnt / "x.txt").read_bytes() == b"hello\n"
    umount(nowhere, mnt)


@pytest.fixture
def two_remotes(tmp_path):
    """The same commit pushed to two directory remotes; (first, second, key, src)."""
    src = tmp_path / "src"
    repo = make_repo(src, {"x.txt": b"hello\n", "d/big.bin": os.urandom(8 * MiB)})
    for name in ("first", "second"):
        R.add_remote(repo, name, str(tmp_path / name))
        R.push(repo, name)
    key = tmp_path / "key"
    key.write_text(R.key_text(repo))
    repo.close()
    return tmp_path / "first", tmp_path / "second", key, src


def test_router_skips_a_remote_that_cannot_be_opened(two_remotes, nowhere, mounts, tmp_path):
    _, second, key, src = two_remotes
    mnt = mounts("mnt")
    done = nowhere("mount", f"{tmp_path / 'missing'}#main", str(mnt), "--remote", str(second),
                   "--key-file", str(key), "--cache-dir", str(tmp_path / "cache"))
    assert "warning: skipped a remote" in done.stderr and "missing" in done.stderr
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    umount(nowhere, mnt)


def test_router_falls_back_when_the_first_remote_fails(two_remotes, nowhere, mounts, tmp_path):
    """The first remote loses its packs while mounted: every read falls back to the second."""
    first, second, key, src = two_remotes
    mnt = mounts("mnt")
    nowhere("mount", f"{first}#main", str(mnt), "--remote", str(second), "--key-file", str(key),
            "--cache-dir", str(tmp_path / "cache"))
    shutil.rmtree(first / "packs")
    subprocess.run(["cmp", str(mnt / "d/big.bin"), str(src / "d/big.bin")], check=True)
    assert (mnt / "x.txt").read_bytes() == b"hello\n"
    umount(nowhere, mnt)


def test_mount_origin_main_in_a_clone_reads_what_it_lacks(tmp_path, mounts):
    """A commit pushed after the clone: `got mount origin/main` shows it without a fetch."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    repo = make_repo(src, {"x.txt": b"hello\n"})
    R.add_remote(repo, "origin", str(remote))
    R.push(repo, "origin")
    key = tmp_path / "key"
    key.write_text(R.key_text(repo))
    clone = tmp_path / "clone"
    Got(tmp_path)("clone", str(remote), str(clone), "--key-file", str(key))
    new = os.urandom(4 * MiB)
    (src / "new.bin").write_bytes(new)
    repo.commit_workdir("two", author="t <t@example.com>")
    R.push(repo, "origin")
    repo.close()

    got = Got(clone)
    mnt = mounts("mnt")
    out = got.out("mount", "origin/main", str(mnt))
    assert out.startswith("mounted origin/main (")
    assert (mnt / "new.bin").read_bytes() == new
    assert (mnt / "x.txt").read_bytes() == b"hello\n"
    umount(got, mnt)
    assert du(clone / ".got" / "cache" / "blobs") >= len(new)  # read through the remote
    assert "new.bin" not in got.out("ls", "origin/main")  # nothing was fetched into the repo


def test_mount_origin_main_with_the_remote_gone_shows_the_last_fetch(tmp_path, mounts):
    src, remote = tmp_path / "src", tmp_path / "remote"
    repo = make_repo(src, {"x.txt": b"hello\n"})
    R.add_remote(repo, "origin", str(remote))
    R.push(repo, "origin")
    key = tmp_path / "key"
    key.write_text(R.key_text(repo))
    repo.close()
    clone = tmp_path / "clone"
    Got(tmp_path)("clone", str(remote), str(clone), "--key-file", str(key))
    shutil.rmtree(remote)
    got = Got(clone)
    mnt = mounts("mnt")
    done = got("mount", "origin/main", str(mnt))
    assert "warning: skipped a remote" in done.stderr and done.stdout.startswith("mounted origin/main (")
    assert (mnt / "x.txt").read_bytes() == b"hello\n"
    umount(got, mnt)


def test_mount_with_remote_option_in_a_repo(tmp_path, mounts):
    """--remote NAME on a local revision: blobs the repo lacks come from the remote."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    repo = make_repo(src, {"x.txt": b"hello\n"})
    R.add_remote(repo, "origin", str(remote))
    R.push(repo, "origin")
    repo.close()
    got = Got(src)
    mnt = mounts("mnt")
    got("mount", "main", str(mnt), "--remote", "origin")
    assert (mnt / "x.txt").read_bytes() == b"hello\n"
    umount(got, mnt)
    done = got("mount", "--rw", "main", str(mnt), "--remote", "origin", ok=False)
    assert "read-only" in assert_clean_error(done, 2)


# -- the library, without FUSE -----------------------------------------------------------------


def test_open_remote_snapshot_reads_through_the_router(two_remotes, tmp_path):
    from gotfs.repo.lazy import open_remote_snapshot

    first, second, key, src = two_remotes
    secret = R.parse_key(key.read_text())
    urls = [str(tmp_path / "missing"), str(first), str(second)]
    with open_remote_snapshot(urls, secret, None, cache_dir=tmp_path / "cache", cache_size=64 * MiB) as snap:
        assert len(snap.skipped) == 1 and "missing" in snap.skipped[0]
        assert snap.fs.read(snap.root, "x.txt") == b"hello\n"
        shutil.rmtree(first / "packs")  # the first remote fails from now on: the second serves
        assert snap.fs.read(snap.root, "d/big.bin") == (src / "d/big.bin").read_bytes()
        with pytest.raises(Exception, match="read-only"):
            snap.publish(snap.root)


# -- bad input --------------------------------------------------------------------------------


def test_wrong_key_is_one_line(snapshot, nowhere, mounts, tmp_path):
    url, _, _ = snapshot
    other = tmp_path / "other.key"
    other.write_text(R.KEY_PREFIX + "ab" * 32)
    mnt = mounts("mnt")
    done = nowhere("mount", f"{url}#main", str(mnt), "--key-file", str(other),
                   "--cache-dir", str(tmp_path / "cache"), ok=False)
    assert "key does not open" in assert_clean_error(done)
    assert not os.path.ismount(mnt)


@pytest.mark.parametrize("remote_url", ["dir"], indirect=True)
def test_not_a_remote_is_one_line(remote_url, snapshot, nowhere, mounts, tmp_path):
    _, key, _ = snapshot
    empty = tmp_path / "empty"
    empty.mkdir()
    mnt = mounts("mnt")
    done = nowhere("mount", f"{empty}#main", str(mnt), "--key-file", str(key),
                   "--cache-dir", str(tmp_path / "cache"), ok=False)
    assert "is not a got remote" in assert_clean_error(done)
    done = nowhere("mount", f"{snapshot[0]}#nosuch", str(mnt), "--key-file", str(key),
                   "--cache-dir", str(tmp_path / "cache"), ok=False)
    assert "nosuch" in assert_clean_error(done) and "main" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--rw"], "read-only"),
    (["--cache-size", "lots"], "--cache-size"),
    (["--remote", "origin"], "not a URL"),
])
def test_usage_errors_are_one_line(args, message, nowhere, mounts, tmp_path):
    key = tmp_path / "key"
    key.write_text(R.KEY_PREFIX + "ab" * 32)
    done = nowhere("mount", f"{tmp_path / 'remote'}#main", str(mounts("mnt")), "--key-file", str(key),
                   *args, ok=False)
    assert message in assert_clean_error(done, 2)


def test_no_key_is_one_line(nowhere, mounts, tmp_path):
    done = nowhere("mount", f"{tmp_path / 'remote'}#main", str(mounts("mnt")), ok=False)
    assert "no key" in assert_clean_error(done, 2)
