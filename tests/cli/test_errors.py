"""Failures through the real `got`: one `got: ` line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from tests.cli.conftest import Got, assert_clean_error, got_cmd, got_env, manifest, write


@pytest.fixture
def committed(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "dir/b.txt": "two\n"})
    got("commit", "-m", "first")
    return got


def test_not_a_repository(tmp_path):
    for args in (["status"], ["log"], ["commit", "-m", "x"], ["diff"], ["fsck"], ["gc"], ["branch"]):
        line = assert_clean_error(Got(tmp_path)(*args, ok=False))
        assert "not a got repository" in line and "got init" in line


@pytest.mark.parametrize("args", [
    ["log", "nosuch"], ["checkout", "nosuch"], ["show", "nosuch"], ["cat", "nosuch:a.txt"],
    ["ls", "main~5"], ["diff", "nosuch"], ["branch", "x", "deadbeef"], ["branch", "-d", "nosuch"],
    ["tag", "-d", "nosuch"], ["switch", "nosuch"],
])
def test_unknown_revision(committed, args):
    line = assert_clean_error(committed(*args, ok=False))
    assert "nosuch" in line or "main~5" in line or "deadbeef" in line or "not a branch" in line


@pytest.mark.parametrize("args, words", [
    (["cat", "HEAD:missing.txt"], "no such file"),
    (["ls", "HEAD:missing"], "no such file"),
    (["show", "HEAD:dir/nope"], "no such file"),
    (["cat", "HEAD:dir"], "is a directory"),
    (["cat", "HEAD:a.txt/x"], "not a directory"),
    (["cat", "HEAD:a/../b"], "invalid path"),
    (["cat", "HEAD"], "expected REV:PATH"),
    (["log", "--", "/elsewhere"], "outside the repository"),
])
def test_bad_path(committed, args, words):
    assert words in assert_clean_error(committed(*args, ok=False))


def test_bad_names_and_usage(committed):
    assert "invalid branch name" in assert_clean_error(committed("branch", "bad name", ok=False))
    assert "already exists" in assert_clean_error(committed("branch", "main", ok=False))
    assert "HEAD is on it" in assert_clean_error(committed("branch", "-d", "main", ok=False))
    assert "empty commit message" in assert_clean_error(committed("commit", "-m", " ", ok=False))
    assert "at most two revisions" in assert_clean_error(committed("diff", "a", "b", "c", ok=False))
    assert "cannot change to directory" in assert_clean_error(committed("-C", "/nonexistent", "status", ok=False))
    usage = committed("frobnicate", ok=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr and "is not a got command" in usage.stderr
    missing = committed("commit", ok=False)
    assert missing.returncode == 2 and "-m" in missing.stderr
    assert committed("--help").stdout.startswith("usage: got")
    for name in ("init", "status", "commit", "log", "diff", "checkout", "switch", "branch", "tag",
                 "show", "cat", "ls", "gc", "fsck", "stats", "mount", "umount"):
        assert committed(name, "--help").stdout.startswith(f"usage: got {name}")


def test_checkout_refuses_to_clobber_without_force(committed, repo_dir):
    got = committed
    got("switch", "-c", "dev")
    write(repo_dir, {"a.txt": "dev version\n", "dir/new": "dev file\n"})
    got("commit", "-m", "dev")
    got("switch", "main")
    write(repo_dir, {"a.txt": "my precious uncommitted edit\n", "dir/new": "untracked, would be clobbered\n"})
    before = manifest(repo_dir)
    done = got("checkout", "dev", ok=False)
    line = assert_clean_error(done, code=1)
    assert "uncommitted changes would be overwritten" in line and "a.txt" in line and "--force" in line
    assert manifest(repo_dir) == before, "a refused checkout must not touch the working directory"
    assert got.out("status").startswith("On branch main")
    assert "uncommitted" in assert_clean_error(got("switch", "dev", ok=False))
    # an unrelated dirty file does not block, and is carried over
    got("checkout", "--force", "dev")
    assert (repo_dir / "a.txt").read_text() == "dev version\n"
    assert (repo_dir / "dir/new").read_text() == "dev file\n"
    assert "nothing to commit" in got.out("status")
    write(repo_dir, {"unrelated.txt": "keep me\n"})
    got("checkout", "main")
    assert (repo_dir / "unrelated.txt").read_text() == "keep me\n"
    assert (repo_dir / "a.txt").read_text() == "one\n"


def test_switch_create_rolls_back_on_refusal(committed, repo_dir):
    got = committed
    write(repo_dir, {"a.txt": "v2\n"})
    got("commit", "-m", "second")
    write(repo_dir, {"a.txt": "dirty\n"})
    assert_clean_error(got("switch", "-c", "old", "HEAD~1", ok=False))
    assert got.out("branch").splitlines() == ["* main"]


def test_internal_errors_are_one_line(committed, repo_dir):
    # A repository whose config is garbage: a clear error, never a traceback.
    (repo_dir / ".got" / "config.json").write_text("{not json")
    assert "damaged" in assert_clean_error(committed("status", ok=False))


def test_mount_is_placeholder_or_real(committed, tmp_path):
    try:
        from gotfs.mount import mount  # noqa: F401
    except ImportError:
        line = assert_clean_error(committed("mount", "HEAD", str(tmp_path), ok=False), code=1)
        assert line == "got: mount is not available yet"
        assert_clean_error(committed("umount", str(tmp_path), ok=False), code=1)
    else:
        # the real mount validates before it forks
        assert "not a directory" in assert_clean_error(committed("mount", "HEAD", str(tmp_path / "none"), ok=False))
        (tmp_path / "empty").mkdir()
        assert "--rw needs a branch" in assert_clean_error(
            committed("mount", "--rw", "HEAD~0", str(tmp_path / "empty"), ok=False))


def test_unexpected_failure_is_internal_error_70(committed, repo_dir):
    # A database of another schema (a damaged one is a clean error now: see test_damage.py).
    for suffix in ("", "-wal", "-shm"):
        (repo_dir / ".got" / f"refs.sqlite{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(repo_dir / ".got" / "refs.sqlite") as db:
        db.execute("CREATE TABLE refs(something_else TEXT)")
    done = committed("log", ok=False)
    line = assert_clean_error(done, code=70)
    assert line.startswith("got: internal error: ") and "GOT_DEBUG=1" in line
    debug = subprocess.run(got_cmd("log"), cwd=repo_dir, env=got_env(GOT_DEBUG="1"),
                           capture_output=True, text=True)
    assert debug.returncode == 70 and "Traceback" in debug.stderr


def test_force_checkout_of_head_discards_edits_and_stays_on_branch(committed, repo_dir):
    write(committed.cwd, {"a.txt": "scribble\n"})
    committed("checkout", "HEAD")  # nothing to switch: the edit is carried, HEAD stays on main
    assert committed.out("status", "--short") == "M a.txt\n"
    assert committed.out("status").startswith("On branch main")
    committed("checkout", "--force", "HEAD")
    assert (repo_dir / "a.txt").read_text() == "one\n"
    assert committed.out("status").startswith("On branch main\nnothing to commit")
