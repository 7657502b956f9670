"""`got mount --allow-other`: other users get in, as far as the stored modes allow."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli.conftest import write

HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
pytestmark = pytest.mark.skipif(not HAVE_FUSE or os.getuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs FUSE, root and setpriv (to act as a second user)")


def as_nobody(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *map(str, cmd)],
                          capture_output=True, timeout=60)


@pytest.fixture
def shared_dir():
    """A directory nobody can reach (pytest's tmp dirs are 0700); unmounted and removed after."""
    top = Path(tempfile.mkdtemp(prefix="got-allow-other-", dir="/tmp"))
    top.chmod(0o755)
    yield top
    for p in top.iterdir():
        if os.path.ismount(p):
            subprocess.run(["fusermount3", "-u", "-z", str(p)], capture_output=True, timeout=30)
    shutil.rmtree(top, ignore_errors=True)


def _unmounted(path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.ismount(path)


def test_allow_other_lets_others_in_as_modes_say(got, repo_dir, shared_dir):
    write(repo_dir, {"public.txt": "for everyone\n", "secret.txt": "root only\n"})
    os.chmod(repo_dir / "public.txt", 0o644)
    os.chmod(repo_dir / "secret.txt", 0o600)
    got("commit", "-m", "one")
    for flags, name in (([], "private"), (["--allow-other"], "shared"), (["--rw", "--allow-other"], "rw")):
        mnt = shared_dir / name
        mnt.mkdir()
        got("mount", *flags, "main", str(mnt))
        try:
            public = as_nobody("cat", mnt / "public.txt")
            secret = as_nobody("cat", mnt / "secret.txt")
            if flags:
                assert public.returncode == 0 and public.stdout == b"for everyone\n", public.stderr
                assert secret.returncode != 0 and b"Permission denied" in secret.stderr
            else:  # without --allow-other, not even the mount's root is open to them
                assert public.returncode != 0 and b"Permission denied" in public.stderr
            assert (mnt / "secret.txt").read_text() == "root only\n"  # the serving user reads it
            if "--rw" in flags:
                denied = as_nobody("touch", mnt / "new")
                assert denied.returncode != 0 and b"Permission denied" in denied.stderr
        finally:
            got("umount", str(mnt))
        assert _unmounted(mnt)
