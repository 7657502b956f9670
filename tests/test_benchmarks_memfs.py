"""benchmarks/memfs.py, the floor under the programs benchmark, is a real filesystem: what the
programs do in it must work, or its seconds would price less than they claim."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="needs FUSE")


@pytest.fixture
def memfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fs = subprocess.Popen([sys.executable, "-m", "benchmarks.memfs", str(mnt)], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True)
    try:
        assert fs.stdout.readline().strip() == "ready"
        yield mnt
    finally:
        fs.terminate()
        assert fs.wait(30) == 0
        assert not os.path.ismount(mnt)


def _tree(top: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            s = p.lstat()
            rel = p.relative_to(top).as_posix()
            body = os.readlink(p) if p.is_symlink() else (None if p.is_dir() else p.read_bytes())
            out[rel] = (s.st_mode, s.st_mtime_ns // 10**9, body)
    return out


def test_tar_extracts_the_same_tree(memfs, tmp_path):
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "a.txt").write_bytes(os.urandom(30_000))
    (src / "d" / "e" / "b").write_text("small\n")
    os.chmod(src / "d" / "e" / "b", 0o640)
    (src / "link").symlink_to("d/a.txt")
    os.link(src / "d" / "a.txt", src / "hard")
    os.utime(src / "d" / "a.txt", (1_000_000_000, 1_000_000_000))
    archive = tmp_path / "t.tar"
    with tarfile.open(archive, "w") as t:
        t.add(src, arcname="x")
    subprocess.run(["tar", "-xf", str(archive)], cwd=memfs, check=True)
    here = tmp_path / "host"
    here.mkdir()
    subprocess.run(["tar", "-xf", str(archive)], cwd=here, check=True)
    assert _tree(memfs / "x") == _tree(here / "x")
    assert os.stat(memfs / "x" / "hard").st_nlink == 2


def test_sqlite_wal_and_saves_work(memfs):
    con = sqlite3.connect(memfs / "db.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    for i in range(200):
        con.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(100),))
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT count(*) FROM t").fetchone() == (200,)
    con.close()
    for i in range(20):
        with open(memfs / "doc.tmp", "wb") as f:
            f.write(b"%d" % i * 1000)
            os.fsync(f.fileno())
        os.rename(memfs / "doc.tmp", memfs / "doc")
    assert (memfs / "doc").read_bytes() == b"19" * 1000 and not (memfs / "doc.tmp").exists()
