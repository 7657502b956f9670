"""A no-change commit of a big tree is a directory scan: unchanged files are not read again.

How many bytes a `got commit` process read comes from /proc/self/io (`rchar`: every byte
through read/pread), recorded at exit by a tiny wrapper around the real `cli.main`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.cli.conftest import got_env, write

_WRAPPER = """
import atexit, os, runpy, sys
out = os.environ["GOT_TEST_IO"]
atexit.register(lambda: open(out, "w").write(open("/proc/self/io").read()))
sys.argv = ["got"] + sys.argv[1:]
runpy.run_module("cli.main", run_name="__main__")
"""


def _commit_reading(repo_dir, tmp_path, *args) -> tuple[str, int, float]:
    """Run `got commit ARGS`; return its stdout, the bytes it read, and its wall time."""
    io_file = tmp_path / "io.txt"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, "commit", *args], cwd=repo_dir,
                          env=got_env(GOT_TEST_IO=str(io_file)), capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(": ") for line in io_file.read_text().splitlines())
    return done.stdout, int(fields["rchar"]), elapsed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/io")
def test_no_change_commit_of_20k_files_reads_nothing(got, repo_dir, tmp_path):
    n, size = 20_000, 1536  # 30 MiB of file data
    write(repo_dir, {f"d{i // 200:03}/f{i:05}.txt": (f"{i:05} " * 256)[:size] for i in range(n)})
    time.sleep(2.1)  # files younger than 2 s are "racily clean": the cache does not trust them
    first, read_first, t_first = _commit_reading(repo_dir, tmp_path, "-m", "20k files")
    assert "20000 files changed" in first
    assert read_first > n * size
    before = json.loads(got.out("stats", "--json"))

    second, read_second, t_second = _commit_reading(repo_dir, tmp_path, "--allow-empty", "-m", "no changes")
    after = json.loads(got.out("stats", "--json"))
    assert "0 files changed" in second
    # The files' 30 MiB were not read again: what remains is Python, SQLite and tree nodes.
    assert read_second < n * size / 3, (read_first, read_second)
    # Nothing was re-stored: the only new blob is the commit (same tree, same data).
    assert after["blobs"] == before["blobs"] + 1
    assert after["stored_bytes"] - before["stored_bytes"] < 2048

    assert "nothing to commit" in got.out("status")
    # one changed file among 20k: only it is read and stored
    write(repo_dir, {"d050/f10000.txt": "changed\n"})
    third, read_third, _ = _commit_reading(repo_dir, tmp_path, "-m", "one change")
    assert "1 file changed: 0 added, 1 modified, 0 removed" in third
    assert read_third < n * size / 3
    print(f"first commit {t_first:.2f}s reading {read_first >> 20} MiB; "
          f"no-change commit {t_second:.2f}s reading {read_second >> 20} MiB")


def test_a_status_of_a_racily_clean_file_writes_nothing(got, repo_dir):
    """A file modified within the racy window keeps an untrusted row: a status hashes it (its
    signature cannot vouch for it) but has nothing new to remember, so it writes no row (no
    SQLite transaction, no fsync, on every status until the window passes)."""
    write(repo_dir, {"a.txt": "one\n", "b.txt": "two\n"})
    future = time.time() + 3600  # modified "later than now": racy for the next hour
    os.utime(repo_dir / "a.txt", (future, future))
    got("commit", "-m", "first")

    def cache_files():  # the database and its log; not -shm, SQLite's index of the log, which
        # the first connection of every process rebuilds (the log outlives each process)
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in (repo_dir / ".got").glob("workcopy.sqlite*")
                if not p.name.endswith("-shm")}

    before = cache_files()
    assert "nothing to commit" in got.out("status")
    assert cache_files() == before
