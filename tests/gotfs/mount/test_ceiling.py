"""The benchmark ceiling (benchmarks.ceiling) is a real filesystem: what it serves is checked
with cmp, since a ceiling that served the wrong bytes (or fewer) would flatter every ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gotfs.mount.conftest import REPO, need_fuse, run, unmount


class _Ceiling:
    def __init__(self, mnt: Path, *args: str):
        self.mnt = mnt
        mnt.mkdir(exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.ceiling", str(mnt), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=dict(os.environ, PYTHONPATH=str(REPO)))

    def __enter__(self) -> _Ceiling:
        line = self.proc.stdout.readline()  # "ready" once mounted, with readahead raised
        if line != b"ready\n":
            self.__exit__()
            raise AssertionError(f"ceiling did not start: {self.proc.stderr.read().decode()[-2000:]}")
        return self

    def __exit__(self, *exc) -> None:
        unmount(self.proc, self.mnt, 30)


def test_ceiling_serves_the_given_file_byte_for_byte(tmp_path):
    need_fuse()
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(5 << 20) + b"tail")  # not a multiple of a request or a page
    with _Ceiling(tmp_path / "mnt", "--file", str(src)) as c:
        data = c.mnt / "data"
        assert data.stat().st_size == src.stat().st_size
        run("cmp", src, data)
        with open(data, "rb") as f:  # an odd offset, and a read running past the end
            f.seek((3 << 20) + 7)
            assert f.read(4 << 20) == src.read_bytes()[(3 << 20) + 7:]


def test_ceiling_pattern_has_the_asked_size_and_repeats(tmp_path):
    need_fuse()
    with _Ceiling(tmp_path / "mnt", "--size", "9M") as c:
        body = (c.mnt / "data").read_bytes()
    assert len(body) == 9 << 20
    period = 4 << 20
    assert body[:period] == body[period:2 * period] and body[:1 << 20] == body[2 * period:]
    assert body[:period] != bytes(period)  # random bytes, not zeros


@pytest.mark.parametrize("args, says", [(["--file", "/nonexistent/x"], "cannot read --file"),
                                        (["--size", "lots"], "is not a size")])
def test_ceiling_bad_arguments_are_one_line_errors(tmp_path, args, says):
    (tmp_path / "mnt").mkdir()
    done = subprocess.run([sys.executable, "-m", "benchmarks.ceiling", str(tmp_path / "mnt"), *args],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr
    assert not os.path.ismount(tmp_path / "mnt")
