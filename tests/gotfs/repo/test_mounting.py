"""Mount policy in the library (gotfs.repo.mounting): what a mount of a repository serves
and publishes. Real mounts through the CLI are in tests/cli/test_mount.py; here, a library
user's view: mount_branch in a thread, driven by real file operations."""

from __future__ import annotations

import subprocess
import threading

import pytest

from gotfs.repo import Repo
from gotfs.repo.mounting import RepoRootSource, flush_mount, mount_branch, source_for
from gotkv.errors import InvalidInput


def test_sources(repo):
    source, label = source_for(repo, "main")
    assert not source.writable and label.startswith("main (")
    assert source.current() == repo.head_root()
    writable, label = source_for(repo, "main", writable=True)
    assert writable.writable and label == "main"
    with pytest.raises(InvalidInput, match="needs a branch"):
        source_for(repo, "HEAD~0", writable=True)
    with pytest.raises(InvalidInput):
        RepoRootSource(repo)
    assert flush_mount(repo, "main") is None  # nothing mounted: nothing to flush


def test_a_library_user_mounts_a_branch_writable_and_it_commits_at_unmount(repo, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    up = threading.Event()
    result = {}

    def serve():
        with Repo.open(repo.workdir) as r:
            result["ref"] = mount_branch(r, "main", str(mnt), writable=True, author="lib <l@x>", ready=up.set)

    t = threading.Thread(target=serve)
    t.start()
    assert up.wait(30)
    try:
        (mnt / "b.txt").write_text("written through the mount\n")
        assert flush_mount(repo, "main") is None  # publishes; the working root now holds b.txt
        assert repo.fs.read(repo.working_root("main"), "b.txt") == b"written through the mount\n"
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        t.join(30)
    assert result["ref"] is not None
    assert repo.fs.read(repo.head_root(), "b.txt") == b"written through the mount\n"
    assert repo.working_root("main") is None and repo.mount_point("main") is None


def test_a_library_user_sees_the_mount_as_the_working_copy_and_unmount_reports_its_commit(repo, tmp_path):
    from gotfs.repo.mounting import mounted_changes, unmount, working_copy

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    up = threading.Event()
    t = threading.Thread(target=lambda: _serve(repo.workdir, mnt, up))
    t.start()
    assert up.wait(30)
    try:
        (mnt / "c.txt").write_text("through the mount\n")  # not flushed: working_copy does it
        for start in (repo.workdir, mnt):
            wc = working_copy(repo, start)
            assert wc.branch == "main" and wc.mounted is not None and wc.mounted.path == str(mnt)
            assert [(c.path, c.kind) for c in mounted_changes(repo, wc.mounted)] == [("c.txt", "added")]
    finally:
        done = unmount(str(mnt), author="lib <l@x>")
        t.join(30)
    assert done.branch == "main" and done.committed == repo.head() and not done.pending
    assert repo.fs.read(repo.head_root(), "c.txt") == b"through the mount\n"
    assert working_copy(repo).mounted is None and working_copy(repo).behind == 1


def _serve(workdir, mnt, up) -> None:
    with Repo.open(workdir) as r:
        mount_branch(r, "main", str(mnt), writable=True, author="lib <l@x>", ready=up.set)
