"""`got diff` of the working directory is read from the stat cache and the host files, with
no snapshot stored: it must show what a diff of a snapshot (`got diff HEAD`, which stores
one) shows, for every kind of change, and post no blob."""

from __future__ import annotations

import os

from tests.cli.conftest import write


def _blob_count(repo_dir) -> int:
    import sqlite3

    db = sqlite3.connect(repo_dir / ".got" / "store" / "index.sqlite")
    try:
        return db.execute("SELECT count(*) FROM blobs").fetchone()[0]
    finally:
        db.close()


def test_working_directory_diff_matches_a_snapshot_diff(got, repo_dir):
    write(repo_dir, {"keep.txt": "same\n", "edit.txt": "one\ntwo\nthree\n", "gone.txt": "bye\n",
                     "mode.sh": "#!/bin/sh\n", "bin.dat": b"\0\1\2" * 100, "d/inner.txt": "in\n",
                     "tiny.txt": "x"})
    os.symlink("keep.txt", repo_dir / "link")
    got("commit", "-m", "first")
    write(repo_dir, {"edit.txt": "one\nTWO\nthree\nfour\n", "gone.txt": None, "new.txt": "hello\n",
                     "bin.dat": b"\0\3" * 100, "e/f/new.txt": "deep\n", "d/inner.txt": None})
    os.chmod(repo_dir / "mode.sh", 0o755)
    os.unlink(repo_dir / "link")
    os.symlink("edit.txt", repo_dir / "link")
    for args in ([], ["--stat"], ["--json"], ["--name-only"], ["--", "e"], ["--", "edit.txt", "d"]):
        assert got.out("diff", *args) == got.out("diff", "HEAD", *args), args
    assert "TWO" in got.out("diff") and "bin.dat" in got.out("diff", "--name-only")


def test_working_directory_diff_posts_nothing(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "b.txt": "two\n"})
    got("commit", "-m", "first")
    write(repo_dir, {"a.txt": "three\n", "c.txt": "new\n"})
    before = _blob_count(repo_dir)
    assert "+three" in got.out("diff")
    assert _blob_count(repo_dir) == before
