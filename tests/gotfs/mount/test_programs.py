"""Writable mounts driven by real programs: cp -a, tar, git, sqlite3, rsync.

Each test works in a writable mount, unmounts (the mount flushes and publishes), remounts
the published root read-only, and compares it byte for byte with the host copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import STDLIB, diff_trees, listing, run

STDLIB_PARTS = ["asyncio", "email", "json", "http", "concurrent", "logging", "importlib", "encodings",
                "lib2to3"]  # ~1,300 files with their __pycache__


@pytest.fixture
def rw(tmp_path, mounter):
    """(mount, reopen_ro): a writable mount, and a function that unmounts it and remounts read-only."""
    store, mnt = tmp_path / "store", tmp_path / "mnt"
    m = mounter(store, mnt, rw=True)

    def reopen_ro():
        assert m.stop() == 0, m.log.read_text()[-2000:]
        assert not m.errors(), m.errors()
        return mounter(store, tmp_path / "ro", rw=False)

    return m, reopen_ro


def stdlib_subset(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for part in STDLIB_PARTS:
        if (STDLIB / part).exists():
            shutil.copytree(STDLIB / part, dst / part, symlinks=True)
    return dst


def test_cp_a(tmp_path, rw):
    m, reopen_ro = rw
    src = stdlib_subset(tmp_path / "src")
    run("cp", "-a", src, m.mnt / "lib", timeout=300)
    diff_trees(src, m.mnt / "lib")
    assert listing(m.mnt / "lib") == listing(src)
    ro = reopen_ro()
    diff_trees(src, ro.mnt / "lib")
    assert listing(ro.mnt / "lib") == listing(src)
    # and back out again
    run("cp", "-a", ro.mnt / "lib", tmp_path / "back", timeout=300)
    diff_trees(src, tmp_path / "back")


def test_tar_extract(tmp_path, rw):
    m, reopen_ro = rw
    src = stdlib_subset(tmp_path / "src")
    archive = tmp_path / "a.tar"
    run("tar", "-cf", archive, "-C", src, ".")
    (m.mnt / "t").mkdir()
    run("tar", "-xf", archive, "-C", m.mnt / "t", timeout=300)
    diff_trees(src, m.mnt / "t")
    run("tar", "-cf", tmp_path / "b.tar", "-C", m.mnt / "t", ".")  # read back through the mount
    ro = reopen_ro()
    diff_trees(src, ro.mnt / "t")
    assert listing(ro.mnt / "t") == listing(src)


GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main",
       "-c", "core.fsync=all"]


def test_git(tmp_path, rw):
    m, reopen_ro = rw
    repo = m.mnt / "repo"
    shutil.copytree(STDLIB / "json", repo)
    shutil.copytree(STDLIB / "email", repo / "email")
    run(*GIT, "init", "-q", cwd=repo)
    run(*GIT, "add", "-A", cwd=repo)
    run(*GIT, "commit", "-q", "-m", "x", cwd=repo)
    (repo / "decoder.py").write_text("changed\n")
    run(*GIT, "commit", "-q", "-am", "y", cwd=repo)
    run(*GIT, "gc", "-q", cwd=repo, timeout=300)  # packs, renames, deletes loose objects
    run(*GIT, "fsck", "--strict", cwd=repo)
    assert run(*GIT, "status", "--porcelain", cwd=repo).stdout == b""
    assert len(run(*GIT, "log", "--oneline", cwd=repo).stdout.splitlines()) == 2
    ro = reopen_ro()
    rorepo = ro.mnt / "repo"
    run(*GIT, "--no-optional-locks", "fsck", "--strict", cwd=rorepo)
    run(*GIT, "clone", "-q", rorepo, tmp_path / "clone")
    assert (tmp_path / "clone" / "decoder.py").read_text() == "changed\n"
    run("diff", "-r", "--exclude=.git", tmp_path / "clone", rorepo)


def test_sqlite(tmp_path, rw):
    m, reopen_ro = rw
    db = m.mnt / "db" / "test.db"
    db.parent.mkdir()
    sql = ["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, blob BLOB);", "BEGIN;"]
    sql += [f"INSERT INTO t(name, blob) VALUES ('row{i}', randomblob({i % 700}));" for i in range(1000)]
    sql += ["COMMIT;", "CREATE INDEX t_name ON t(name);",
            "UPDATE t SET name = name || '!' WHERE id % 3 = 0;", "DELETE FROM t WHERE id % 10 = 0;"]
    run("sqlite3", db, input="\n".join(sql).encode())
    for i in range(20):  # small transactions: journal create, fsync, delete each time
        run("sqlite3", db, f"INSERT INTO t(name) VALUES ('late{i}');")
    query = "SELECT count(*), sum(length(blob)), min(name), max(name) FROM t; PRAGMA integrity_check;"
    want = run("sqlite3", db, query).stdout
    assert want.splitlines()[0].startswith(b"920|") and want.splitlines()[1] == b"ok"
    run("sqlite3", db, "PRAGMA journal_mode=WAL; INSERT INTO t(name) VALUES ('wal'); PRAGMA wal_checkpoint;")
    want = run("sqlite3", db, query).stdout
    shutil.copy(db, tmp_path / "host.db")
    ro = reopen_ro()
    shutil.copy(ro.mnt / "db" / "test.db", tmp_path / "back.db")
    assert run("sqlite3", tmp_path / "back.db", query).stdout == want
    run("cmp", tmp_path / "host.db", tmp_path / "back.db")


def test_rsync(tmp_path, rw):
    m, reopen_ro = rw
    src = stdlib_subset(tmp_path / "src")
    run("rsync", "-a", f"{src}/", m.mnt / "r", timeout=300)
    run("rsync", "-a", "--checksum", f"{m.mnt / 'r'}/", tmp_path / "out", timeout=300)
    diff_trees(src, tmp_path / "out")
    assert listing(tmp_path / "out") == listing(src)
    # an incremental pass: changed, added, removed files (temp file + rename inside the mount)
    (src / "json" / "decoder.py").write_text("new contents\n")
    (src / "json" / "added.txt").write_bytes(os.urandom(100_000))
    os.unlink(src / "json" / "encoder.py")
    shutil.rmtree(src / "email")
    out = run("rsync", "-a", "--delete", "-i", f"{src}/", m.mnt / "r").stdout
    assert b"decoder.py" in out and b"added.txt" in out
    assert run("rsync", "-a", "--delete", "-n", "-i", f"{src}/", m.mnt / "r").stdout == b""  # nothing left
    ro = reopen_ro()
    diff_trees(src, ro.mnt / "r")
    # Directory mtimes are left out: rsync renames its temp files into a directory after it
    # last set the directory's times, which moves them on any POSIX filesystem (and does
    # in the mount, which keeps directory times).
    assert listing(ro.mnt / "r", dir_mtimes=False) == listing(src, dir_mtimes=False)
