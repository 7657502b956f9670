"""One working copy per branch beside a live read-write mount (docs/working-copy.md): status,
diff and commit agree on what a commit records, from the repository's directory or inside
the mount; unmount says what it committed; a working directory the mount moved ahead of is
named as behind, never shown as the reverse change. Real `got` commands, real FUSE mounts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.cli.conftest import Got, assert_clean_error, write

HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
pytestmark = pytest.mark.skipif(not HAVE_FUSE, reason="no FUSE here")


@pytest.fixture
def mnt(tmp_path):
    p = tmp_path / "mnt"
    p.mkdir()
    yield p
    for _ in range(2):  # never leave a mount behind, whatever the test did
        if os.path.ismount(p):
            subprocess.run(["fusermount3", "-u", "-z", str(p)], capture_output=True, timeout=30)
            time.sleep(0.2)


def _status(got: Got, cwd=None) -> dict:
    return json.loads(got.out("status", "--json") if cwd is None else got("status", "--json", cwd=cwd).stdout)


def test_status_and_diff_show_what_commit_records_from_the_repo_and_inside_the_mount(got, repo_dir, mnt):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    got("mount", "--rw", "main", str(mnt))
    write(mnt, {"m.txt": "from the mount\n", "a.txt": "one\ntwo\n"})  # no fsync: status must flush
    write(repo_dir, {"w.txt": "edited in the working directory\n"})
    expected = [{"path": "a.txt", "kind": "modified"}, {"path": "m.txt", "kind": "added"}]
    here = _status(got)
    assert not here["clean"] and here["changes"] == expected and here["mount"] == str(mnt)
    assert here["set_aside"] == [{"path": "w.txt", "kind": "added"}]  # named, not committed
    assert "Set aside in the working directory" in got.out("status")
    inside = _status(got, cwd=mnt)
    assert inside["changes"] == expected and inside["branch"] == "main"
    assert "+two" in got.out("diff") and "+two" in got("diff", "--", "a.txt", cwd=mnt).stdout
    assert "+from the mount" in got("diff", cwd=mnt).stdout
    assert got("log", "--oneline", cwd=mnt).stdout.rstrip().endswith(" one")
    out = got("commit", "-m", "inside", cwd=mnt).stdout
    assert "2 files changed: 1 added, 1 modified" in out
    assert got.out("cat", "HEAD:m.txt") == "from the mount\n"
    assert (repo_dir / "w.txt").exists() and "w.txt" not in got.out("ls", "HEAD")
    assert _status(got, cwd=mnt)["clean"]
    done = got("commit", "-m", "again", ok=False, cwd=mnt)
    assert "nothing to commit" in assert_clean_error(done, 1)


def test_umount_says_what_it_committed_and_the_workdir_is_named_behind(got, repo_dir, mnt):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    got("mount", "--rw", "main", str(mnt))
    write(mnt, {"m.txt": "mine\n"})
    out = got.out("umount", str(mnt))
    head = got.out("log", "-n", "1", "--oneline").split()[0]
    assert out.startswith(f"unmounted {mnt}; committed its changes as [main {head}")
    assert got.out("cat", "HEAD:m.txt") == "mine\n"
    status = _status(got)
    assert status["behind"] == 1 and status["clean"], status  # not "removed: m.txt"
    assert "behind main by 1 commit" in got.out("status")
    assert got.out("diff") == ""
    got("checkout", "main")
    assert (repo_dir / "m.txt").read_text() == "mine\n"
    assert _status(got)["behind"] == 0


def test_commit_with_no_new_writes_after_remounting_says_nothing_to_commit(got, repo_dir, mnt):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    got("mount", "--rw", "main", str(mnt))
    write(mnt, {"b.txt": "b\n"})
    got("commit", "-m", "from the mount")
    unmounted = got.out("umount", str(mnt))
    got("mount", "--rw", "main", str(mnt))
    done = got("commit", "-m", "nothing new", ok=False)
    assert "nothing to commit" in assert_clean_error(done, 1)
    assert "nothing to commit" in unmounted
    assert _status(got)["clean"]
    got("umount", str(mnt))


def test_umount_of_a_directory_that_is_not_mounted_is_one_clear_line(got, repo_dir, mnt):
    line = assert_clean_error(got("umount", str(mnt), ok=False))
    assert line == f"got: cannot unmount {mnt}: not mounted"


def test_mounting_on_a_non_empty_directory_is_refused_unless_asked(got, repo_dir, mnt):
    got("commit", "-m", "empty", "--allow-empty")
    write(mnt, {"hidden.txt": "would be hidden\n"})
    line = assert_clean_error(got("mount", "main", str(mnt), ok=False), 2)
    assert "not empty" in line and "--nonempty" in line
    assert not os.path.ismount(mnt)
    got("mount", "main", str(mnt), "--nonempty")
    assert os.path.ismount(mnt)
    got("umount", str(mnt))
    assert (mnt / "hidden.txt").read_text() == "would be hidden\n"


def test_inside_a_read_only_mount_status_names_the_way_out(got, repo_dir, mnt):
    got("commit", "-m", "empty", "--allow-empty")
    got("mount", "main", str(mnt))
    assert got("log", "--oneline", cwd=mnt).stdout.rstrip().endswith(" empty")
    line = assert_clean_error(got("status", ok=False, cwd=mnt))
    assert "read-only mount" in line and str(repo_dir) in line
    got("umount", str(mnt))


def test_a_mount_inside_the_working_directory_is_not_new_files(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n"})
    (repo_dir / "view").mkdir()  # a directory of the tree, mounted on or not
    got("commit", "-m", "one")
    got("mount", "main", "view")
    try:
        assert (repo_dir / "view" / "a.txt").read_text() == "one\n"
        assert _status(got)["clean"]
        assert "nothing to commit" in assert_clean_error(got("commit", "-m", "x", ok=False), 1)
    finally:
        got("umount", "view")


def test_umount_of_a_killed_read_write_mount_commits_what_it_published(got, repo_dir, mnt):
    import signal

    got("commit", "-m", "empty", "--allow-empty")
    got("mount", "--rw", "main", str(mnt))
    write(mnt, {"kept.txt": "published\n"})
    assert _status(got)["changes"] == [{"path": "kept.txt", "kind": "added"}]  # publishes it
    pids = subprocess.run(["pgrep", "-f", f"mount --rw main {mnt}"], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1
    os.kill(int(pids[0]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.stat(mnt)
            time.sleep(0.05)
        except OSError:
            break
    out = got.out("umount", str(mnt))
    assert "committed its changes as [main " in out and not os.path.ismount(mnt)
    assert got.out("cat", "HEAD:kept.txt") == "published\n"
    assert "no problems found" in got.out("fsck")


def test_what_a_mount_records_beyond_the_working_directory_is_no_change_after_checkout(got, repo_dir, mnt):
    """A mount stores mtimes, the working directory does not: after checking out a mount's
    commit, status is clean and a commit records nothing (it used to list `d/` as modified
    and record every file the mount had written as modified)."""
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "one")
    got("mount", "--rw", "main", str(mnt))
    write(mnt, {"d/x.txt": "x\n"})
    os.utime(mnt / "a.txt")
    got("commit", "-m", "through the mount")
    got("umount", str(mnt))
    got("checkout", "main")
    assert got.out("status", "--short") == "" and got.out("diff") == ""
    assert "nothing to commit" in assert_clean_error(got("commit", "-m", "x", ok=False), 1)
    write(repo_dir, {"d/x.txt": "y\n"})
    assert got.out("status", "--short") == "M d/x.txt\n"
    assert "1 file changed: 0 added, 1 modified" in got.out("commit", "-m", "y")


def test_a_mount_made_through_a_symlink_is_still_found(got, repo_dir, mnt, tmp_path):
    """The kernel names a mount point with symlinks resolved; got compares places that way."""
    got("commit", "-m", "empty", "--allow-empty")
    link = tmp_path / "link"
    link.symlink_to(mnt)
    got("mount", "--rw", "main", str(link))
    write(mnt, {"n.txt": "n\n"})
    assert _status(got)["changes"] == [{"path": "n.txt", "kind": "added"}]
    assert _status(got, cwd=link)["changes"] == [{"path": "n.txt", "kind": "added"}]
    assert "committed its changes" in got.out("umount", str(link))
