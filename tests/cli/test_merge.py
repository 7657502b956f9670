"""`got merge`, `got log --graph` and `got pull` merging, run as the real command."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.cli.conftest import Got, assert_clean_error, manifest, stored_manifest, write


def diverge(got: Got, repo_dir, base: dict, topic: dict, main: dict) -> None:
    """main: `base`; topic: base + `topic`; main: base + `main`; HEAD on main."""
    write(repo_dir, base)
    got("commit", "-m", "base")
    got("switch", "-c", "topic")
    write(repo_dir, topic)
    got("commit", "-m", "on topic")
    got("switch", "main")
    write(repo_dir, main)
    got("commit", "-m", "on main")


def parents(got: Got, rev: str = "HEAD") -> list[str]:
    import json
    return json.loads(got.out("log", "--json", "-n", "1", rev))[0]["parents"]


def test_clean_merge_makes_a_commit_with_two_parents_and_keeps_local_edits(got, repo_dir):
    diverge(got, repo_dir, {"doc.txt": "1\n2\n3\n4\n5\n", "keep.txt": "k\n"},
            {"doc.txt": "1\n2\n3\n4\ntopic\n", "t/new.txt": "t\n"}, {"doc.txt": "1\nmain\n3\n4\n5\n"})
    write(repo_dir, {"keep.txt": "my uncommitted edit\n"})
    out = got.out("merge", "topic")
    assert "Merge made" in out and "Merge branch 'topic' into main" in out
    assert (repo_dir / "doc.txt").read_text() == "1\nmain\n3\n4\ntopic\n"
    assert (repo_dir / "keep.txt").read_text() == "my uncommitted edit\n"  # untouched, still uncommitted
    assert got.out("status", "-s") == "M keep.txt\n"
    assert len(parents(got)) == 2
    graph = got.out("log", "--graph", "--oneline")
    lines = graph.splitlines()
    assert lines[0].startswith("*") and "Merge branch 'topic'" in lines[0] and lines[1] == "|\\"
    assert "|/" in lines and lines[-1].startswith("* ") and lines[-1].endswith("base")
    assert "(topic)" in graph and "HEAD -> main" in graph
    assert "Merge:" in got.out("log", "--graph")
    assert "Already up to date." in got.out("merge", "topic")


def test_fast_forward_and_up_to_date(got, repo_dir):
    write(repo_dir, {"a": "1\n"})
    got("commit", "-m", "one")
    got("switch", "-c", "ahead")
    write(repo_dir, {"a": "2\n", "b": "new\n"})
    got("commit", "-m", "two")
    ahead = got.out("log", "--json", "-n", "1")
    got("switch", "main")
    assert "Fast-forward" in got.out("merge", "ahead")
    assert got.out("log", "--json", "-n", "1") == ahead  # the same commit, no merge commit
    assert manifest(repo_dir) == stored_manifest(repo_dir, "HEAD")
    assert got.out("status", "-s") == ""
    assert "Already up to date." in got.out("merge", "main~1")


def test_conflicts_are_written_listed_resolved_and_continued(got, repo_dir):
    diverge(got, repo_dir, {"doc.txt": "1\n2\n3\n", "bin": b"\x00base"},
            {"doc.txt": "1\ntopic\n3\n", "bin": b"\x00topic"}, {"doc.txt": "1\nmain\n3\n", "bin": b"\x00main"})
    done = got("merge", "topic", ok=False)
    assert "conflict" in assert_clean_error(done, 1)
    assert "CONFLICT (content): doc.txt" in done.stdout and "CONFLICT (binary): bin" in done.stdout
    assert (repo_dir / "doc.txt").read_text() == "1\n<<<<<<< HEAD\nmain\n=======\ntopic\n>>>>>>> topic\n3\n"
    assert (repo_dir / "bin").read_bytes() == b"\x00main"
    status = got.out("status")
    assert "Merging topic" in status and "doc.txt  (conflict markers left)" in status
    assert "U bin" in got.out("status", "-s").splitlines()
    assert got("cat", "MERGE_HEAD:bin", binary=True).stdout == b"\x00topic"  # both sides readable
    assert "still holds conflict markers" in assert_clean_error(got("merge", "--continue", ok=False), 1)
    assert "merge is in progress" in assert_clean_error(got("merge", "topic", ok=False), 1)
    assert "merge is in progress" in assert_clean_error(got("switch", "topic", ok=False), 1)
    write(repo_dir, {"doc.txt": "1\nboth\n3\n"})
    got("checkout", "MERGE_HEAD", "--", "bin")  # take theirs for the binary
    got("merge", "--continue")
    assert len(parents(got)) == 2
    assert got.out("status", "-s") == ""
    assert stored_manifest(repo_dir, "HEAD")["doc.txt"][2] == b"1\nboth\n3\n"
    assert stored_manifest(repo_dir, "HEAD")["bin"][2] == b"\x00topic"
    assert "no merge in progress" in assert_clean_error(got("merge", "--abort", ok=False), 1)


def test_abort_restores_exactly_the_pre_merge_state(got, repo_dir):
    diverge(got, repo_dir, {"doc.txt": "1\n2\n3\n", "d/x": "x\n", "other.txt": "o\n"},
            {"doc.txt": "1\ntopic\n3\n", "d/new": "n\n", "gone": "g\n"}, {"doc.txt": "1\nmain\n3\n"})
    write(repo_dir, {"other.txt": "my edit\n", "untracked.txt": "mine\n"})
    before = manifest(repo_dir)
    head = got.out("log", "--json", "-n", "1")
    got("merge", "topic", ok=False)
    assert (repo_dir / "d/new").exists()
    write(repo_dir, {"doc.txt": "half resolved\n"})
    assert "Merge aborted" in got.out("merge", "--abort")
    assert manifest(repo_dir) == before
    assert got.out("log", "--json", "-n", "1") == head
    assert "Merging" not in got.out("status")


def test_uncommitted_changes_the_merge_would_touch_stop_it(got, repo_dir):
    diverge(got, repo_dir, {"a.txt": "1\n", "b.txt": "b\n"}, {"a.txt": "topic\n"}, {"b.txt": "main\n"})
    write(repo_dir, {"a.txt": "precious\n"})
    before = manifest(repo_dir)
    msg = assert_clean_error(got("merge", "topic", ok=False), 1)
    assert "would overwrite uncommitted changes to a.txt" in msg
    assert manifest(repo_dir) == before
    write(repo_dir, {"a.txt": "1\n"})  # back as HEAD has it
    got("switch", "topic")
    write(repo_dir, {"new_in_topic": "theirs\n"})
    got("commit", "-m", "adds a file")
    got("switch", "main")
    write(repo_dir, {"new_in_topic": "an untracked file of mine\n"})
    assert "new_in_topic" in assert_clean_error(got("merge", "topic", ok=False), 1)
    assert (repo_dir / "new_in_topic").read_text() == "an untracked file of mine\n"


def test_ours_and_theirs_take_one_side_for_all(got, repo_dir):
    diverge(got, repo_dir, {"a": "1\n", "b": "b\n"}, {"a": "topic\n", "t": "t\n"}, {"a": "main\n", "m": "m\n"})
    got("branch", "saved")
    out = got.out("merge", "--theirs", "topic")
    assert "CONFLICT (content): a: took theirs" in out
    assert (repo_dir / "a").read_text() == "topic\n" and (repo_dir / "m").exists() and (repo_dir / "t").exists()
    assert len(parents(got)) == 2
    got("switch", "saved")
    got("merge", "--ours", "topic")
    assert (repo_dir / "a").read_text() == "main\n" and (repo_dir / "t").exists()


def test_file_against_directory_keeps_both_and_commit_concludes(got, repo_dir):
    diverge(got, repo_dir, {"x": "file\n", "y": "y\n"}, {"x": None, "x/inner": "i\n"}, {"x": "file, edited\n"})
    done = got("merge", "topic", ok=False)
    assert "CONFLICT (file-vs-directory): x" in done.stdout
    assert (repo_dir / "x" / "inner").read_text() == "i\n"
    assert (repo_dir / "x~HEAD").read_text() == "file, edited\n"
    (repo_dir / "x~HEAD").unlink()
    out = got.out("commit", "-m", "merged: the directory wins")  # `got commit` concludes the merge
    assert "merged: the directory wins" in out and len(parents(got)) == 2
    assert sorted(stored_manifest(repo_dir, "HEAD")) == ["x", "x/inner", "y"]


def test_usage_errors_are_one_line(got, repo_dir):
    write(repo_dir, {"a": "1\n"})
    got("commit", "-m", "one")
    assert_clean_error(got("merge", ok=False), 2)
    assert_clean_error(got("merge", "--continue", "main", ok=False), 2)
    assert "unknown revision" in assert_clean_error(got("merge", "nope", ok=False), 1)
    assert got("merge", "--ours", "--theirs", "main", ok=False).returncode == 2  # argparse's usage error


def test_pull_merges_when_diverged_then_push_fast_forwards(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    a = Got(a_dir)
    a("init")
    write(a_dir, {"shared.txt": "1\n2\n3\n"})
    a("commit", "-m", "first")
    a("remote", "add", "origin", str(tmp_path / "remote"))
    a("push")
    key = tmp_path / "key"
    key.write_text(a.out("key", "export"))
    Got(tmp_path)("clone", str(tmp_path / "remote"), "b", "--key-file", str(key))
    b = Got(b_dir)
    write(a_dir, {"shared.txt": "1 a\n2\n3\n", "a.txt": "a\n"})
    a("commit", "-m", "from a")
    a("push")
    write(b_dir, {"shared.txt": "1\n2\n3 b\n"})
    b("commit", "-m", "from b")
    assert "merged origin/main" in b.out("pull")
    assert (b_dir / "shared.txt").read_text() == "1 a\n2\n3 b\n"
    b("push")
    assert "fast-forward" in a.out("pull")
    assert manifest(a_dir) == manifest(b_dir)
    graph = a.out("log", "--graph", "--oneline")
    assert "origin/main" in graph.splitlines()[0] and "|\\" in graph
    # a conflicting divergence stops with the conflict, as `got merge` does
    write(a_dir, {"shared.txt": "A\n"})
    a("commit", "-m", "a again")
    a("push")
    write(b_dir, {"shared.txt": "B\n"})
    b("commit", "-m", "b again")
    done = b("pull", ok=False)
    assert "CONFLICT (content): shared.txt" in done.stdout and "conflict" in assert_clean_error(done, 1)
    assert "<<<<<<< HEAD" in (b_dir / "shared.txt").read_text()
    b("merge", "--abort")
    assert (b_dir / "shared.txt").read_text() == "B\n"


HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


@pytest.mark.skipif(not HAVE_FUSE, reason="no FUSE here")
def test_merging_a_branch_mounted_read_write_is_refused(got, repo_dir, tmp_path):
    diverge(got, repo_dir, {"a": "1\n"}, {"t": "t\n"}, {"m": "m\n"})
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    got("mount", "--rw", "main", str(mnt))
    try:
        msg = assert_clean_error(got("merge", "topic", ok=False), 1)
        assert f"branch main is mounted read-write at {mnt}" in msg
        got("switch", "topic")
        assert "mounted read-write" in assert_clean_error(got("merge", "main", ok=False), 1)
        got("switch", "main")
    finally:
        got("umount", str(mnt))
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    assert "Merge made" in got.out("merge", "topic")


def test_gc_during_a_merge_keeps_what_continue_and_abort_need(got, repo_dir):
    diverge(got, repo_dir, {"doc.txt": "1\n2\n3\n"}, {"doc.txt": "1\ntopic\n3\n", "t": "t\n"},
            {"doc.txt": "1\nmain\n3\n"})
    got("merge", "topic", ok=False)
    got("gc")
    write(repo_dir, {"doc.txt": "1\nboth\n3\n"})
    got("merge", "--continue")
    got("fsck")
    assert stored_manifest(repo_dir, "HEAD")["t"][2] == b"t\n"


def test_continue_keeps_merged_paths_that_gotignore_hides(got, repo_dir):
    diverge(got, repo_dir, {"doc.txt": "1\n2\n3\n"}, {"doc.txt": "1\ntopic\n3\n"}, {"doc.txt": "1\nmain\n3\n"})
    got("switch", "topic")
    (repo_dir / ".gotignore").unlink(missing_ok=True)
    write(repo_dir, {"build/out.txt": "tracked build output\n"})
    got("commit", "-m", "topic tracks build/")
    got("switch", "main")
    write(repo_dir, {".gotignore": "build/\n"})
    got("commit", "-m", "main ignores build/")
    got("merge", "topic", ok=False)
    write(repo_dir, {"doc.txt": "1\nboth\n3\n"})
    got("merge", "--continue")
    assert stored_manifest(repo_dir, "HEAD")["build/out.txt"][2] == b"tracked build output\n"
