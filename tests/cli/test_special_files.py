"""FIFOs, sockets and device nodes in the working directory: committed, shown, checked out."""

from __future__ import annotations

import os
import socket
import stat

from .conftest import write


def test_special_files_are_committed_and_checked_out(got, repo_dir):
    write(repo_dir, {"f": "data\n"})
    os.mkfifo(repo_dir / "pipe", 0o640)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(repo_dir / "sock"))
    s.close()
    devices = os.getuid() == 0
    if devices:
        os.mknod(repo_dir / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    names = ["f"] + (["null"] if devices else []) + ["pipe", "sock"]
    assert got.out("status", "--short").splitlines() == [f"A {n}" for n in names]
    got.out("commit", "-m", "specials")
    assert "nothing to commit, working tree clean" in got.out("status")
    listing = got.out("ls", "main")
    assert "pipe" in listing and "sock" in listing
    for name in names[1:]:
        os.unlink(repo_dir / name)
    assert got.out("status", "--short").splitlines() == [f"D {n}" for n in names[1:]]
    assert "removed:  pipe" in got.out("status")  # no bytes to count: no "is a fifo" error
    assert "deleted file mode 010640" in got.out("diff")
    assert "pipe" in got.out("diff", "--stat")
    got.out("checkout", "-f", "main")
    assert stat.S_ISFIFO(os.lstat(repo_dir / "pipe").st_mode)
    assert stat.S_IMODE(os.lstat(repo_dir / "pipe").st_mode) == 0o640
    assert stat.S_ISSOCK(os.lstat(repo_dir / "sock").st_mode)
    if devices:
        assert os.lstat(repo_dir / "null").st_rdev == os.makedev(1, 3)
    assert "nothing to commit, working tree clean" in got.out("status")
