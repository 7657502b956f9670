"""Usage traps from issue 23: a change no output can show is never recorded, a path checkout
never overwrites local edits unasked, and a git checkout's `.git/` is not versioned."""

from __future__ import annotations

import time

from tests.cli.conftest import assert_clean_error, write


def test_recommitting_a_checked_out_tree_records_nothing(got, repo_dir):
    """Checkout re-stores files whose bytes are unchanged in new blobs; the commit after it
    must not record that layout as a change (it used to: "3 files changed" or "0 files
    changed", with empty diff headers in `got show`)."""
    write(repo_dir, {"a": "a\n", "b": "b\n", "c": b"\0\1"})
    got("commit", "-m", "one")
    write(repo_dir, {"a": "a2\n"})
    got("commit", "-m", "two")
    time.sleep(2.1)  # past the racy window: the stat cache trusts these files now
    got("checkout", "-f", "HEAD~1")
    got("checkout", "-f", "main")
    head = got.out("log", "-n", "1", "--oneline")
    assert got.out("status", "--short") == ""
    done = got("commit", "-m", "three", ok=False)
    assert "nothing to commit" in assert_clean_error(done, 1)
    assert got.out("log", "-n", "1", "--oneline") == head


def test_a_metadata_only_change_is_shown(got, repo_dir):
    """A commit that changes only what the working directory does not record (an xattr set
    through the library) says so in `got show` instead of printing an empty diff header."""
    from gotfs.repo import Repo

    write(repo_dir, {"a.txt": "same\n"})
    got("commit", "-m", "one")
    with Repo.open(repo_dir) as repo:
        root = repo.fs.set_xattr(repo.head_root(), "a.txt", b"user.tag", b"x")
        repo.commit(root, "xattr only", author="t", workdir=True)  # the directory holds its bytes
    shown = got.out("show", "HEAD")
    assert "diff --got a/a.txt b/a.txt\nxattrs changed\n" in shown
    # The working directory does not record xattrs: status and commit agree that it changed
    # nothing, and a commit of another file keeps the xattr rather than dropping it unseen.
    assert got.out("status", "--short") == ""
    assert "nothing to commit" in assert_clean_error(got("commit", "-m", "x", ok=False), 1)
    write(repo_dir, {"b.txt": "other\n"})
    assert "1 file changed: 1 added, 0 modified" in got.out("commit", "-m", "b")
    with Repo.open(repo_dir) as repo:
        assert repo.fs.stat(repo.head_root(), "a.txt").xattrs == ((b"user.tag", b"x"),)


def test_checkout_of_a_path_refuses_to_overwrite_local_edits(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "b.txt": "b\n"})
    got("commit", "-m", "one")
    write(repo_dir, {"a.txt": "two\n"})
    got("commit", "-m", "two")
    write(repo_dir, {"a.txt": "my edit\n"})
    line = assert_clean_error(got("checkout", "HEAD~1", "--", "a.txt", ok=False), 1)
    assert "a.txt" in line and "--force" in line
    assert (repo_dir / "a.txt").read_text() == "my edit\n"
    got("checkout", "HEAD~1", "--", "b.txt")  # unedited paths are restored as before
    got("checkout", "-f", "HEAD~1", "--", "a.txt")
    assert (repo_dir / "a.txt").read_text() == "one\n"


def test_checkout_of_a_path_overwrites_nothing_untracked(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    got("commit", "-m", "gone", "--allow-empty")
    (repo_dir / "a.txt").unlink()
    got("commit", "-m", "removed")
    write(repo_dir, {"a.txt": "new and untracked\n"})
    assert_clean_error(got("checkout", "HEAD~2", "--", "a.txt", ok=False), 1)
    assert (repo_dir / "a.txt").read_text() == "new and untracked\n"
    write(repo_dir, {"a.txt": "one\n"})  # the same bytes: nothing would be lost
    got("checkout", "HEAD~2", "--", "a.txt")


def test_init_in_a_git_checkout_leaves_dot_git_alone(got, repo_dir):
    write(repo_dir, {".git/HEAD": "ref: refs/heads/main\n", ".git/objects/ab/cdef": b"\0blob",
                     "sub/.git": "gitdir: ../.git/modules/sub\n", "sub/x.txt": "x\n", "a.txt": "a\n"})
    assert [line.split()[-1] for line in got.out("status", "--short").splitlines()] == ["a.txt", "sub/", "sub/x.txt"]
    got("commit", "-m", "one")
    listed = got.out("ls", "-R", "HEAD")
    assert ".git" not in listed and "x.txt" in listed and "a.txt" in listed, listed
