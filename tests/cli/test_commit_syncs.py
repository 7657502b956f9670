"""How many times a one-file `got commit` waits for the disk, counted by strace.

Each fsync/fdatasync is a wait git does not pay; those left are the ones durability needs
(docs/design.md, Crash safety): the new pack's directory entry and row, the pack's data
before the index rows that name it, their commit, refs.log before the refs commit, and that
commit. SQLite's are counted too (its log syncs, its directory syncs, checkpoints), which a
wrapper of os.fsync in Python would not see.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import got_cmd, got_env

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")

# What the one-file commit below pays, sync by sync:
#   store: the new pack's row in index.sqlite (its log's commit, and SQLite's sync of the
#          directory of a log it opened), the packs/ directory entry, the pack's data (the
#          tree's blobs and the commit blob together), their index rows;
#   refs:  refs.log, the refs commit, and SQLite's directory sync.
# The stat cache (synchronous=NORMAL, settled after the commit's flush) and every
# database's close (no checkpoint) pay none. main paid 23.
MAX_SYNCS = 8


def _syncs(cwd: Path, *args: str) -> list[str]:
    """The fsync/fdatasync calls of one `got` run, as strace prints them (with -y: paths)."""
    out = cwd.parent / "strace.txt"
    cmd = ["strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o", str(out), *got_cmd(*args)]
    done = subprocess.run(cmd, cwd=cwd, env=got_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    return [line for line in out.read_text().splitlines() if "sync(" in line]


def test_a_one_file_commit_syncs_only_what_durability_needs(got, repo_dir):
    for i in range(40):
        (repo_dir / f"d{i % 4}").mkdir(exist_ok=True)
        (repo_dir / f"d{i % 4}" / f"f{i}.txt").write_text(f"file {i}\n" * 8)
    got("commit", "-m", "first")
    for n in range(3):  # the steady state: each command after the last
        (repo_dir / "d1" / "f1.txt").write_text(f"edit {n}\n")
        syncs = _syncs(repo_dir, "commit", "-m", f"edit {n}")
    assert len(syncs) <= MAX_SYNCS, "\n".join(syncs)
    assert got.out("log", "--oneline").count("\n") == 4
    # nothing was checkpointed at the end: no database file itself was synced
    assert not [s for s in syncs if s.rstrip().endswith(".sqlite>) = 0")], "\n".join(syncs)
    # and the reads that come next do not checkpoint the logs the commit left either
    for args in (("log", "-n", "2"), ("status",), ("show",)):
        assert _syncs(repo_dir, *args) == [], args


def test_gc_makes_the_stat_cache_durable_before_it_deletes(got, repo_dir):
    """The stat cache commits without a sync, so a power cut may roll it back; gc keeps the
    blobs its rows name, so the rows gc read must be durable before any blob goes, or a
    rolled-back row could hand a deleted blob to the next commit."""
    (repo_dir / "keep.txt").write_text("kept\n")
    (repo_dir / "gone.txt").write_text("soon unreachable\n" * 100)
    got("commit", "-m", "first")
    (repo_dir / "gone.txt").unlink()
    got("commit", "-m", "second")
    syncs = _syncs(repo_dir, "gc", "--grace", "0")
    names = [s.split("<", 1)[1].split(">", 1)[0] for s in syncs]
    cache = [i for i, n in enumerate(names) if n.endswith("workcopy.sqlite-wal")]
    index = [i for i, n in enumerate(names) if n.endswith("index.sqlite-wal")]
    assert cache and index, "\n".join(syncs)
    assert cache[0] < index[0], "\n".join(syncs)
