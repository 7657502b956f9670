"""Crash matrix: `kill -9` at random moments of commit, gc, checkout and a read-write
mount's flush.

After every kill: `got fsck --read-data` is clean (the ref log agrees with refs.sqlite, every
blob reads back), and every commit made so far still holds exactly the tree it was made with
(nothing committed is lost). A killed checkout is finished by `got checkout -f`. Each test
prints how many kills landed before the operation finished, and how many after.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.cli.conftest import manifest, stored_manifest, write


def _mutate(rng: random.Random, top, round_no: int) -> None:
    files = {f"d{i % 5}/f{i}": rng.randbytes(rng.randint(100, 60_000)) for i in range(round_no, round_no + 20)}
    files[f"big{round_no % 3}.bin"] = rng.randbytes(rng.randint(300_000, 1_000_000))
    write(top, files)


def _garbage(repo_dir, rng: random.Random) -> None:
    """Store a tree of big files that nothing refers to, for gc to delete."""
    from gotfs.repo import Repo

    with Repo.open(repo_dir) as repo:
        root = repo.fs.new()
        for i in range(6):
            root = repo.fs.write_file(root, f"g{i}", rng.randbytes(300_000))
        repo.store.flush()


def _timed(got, *args) -> float:
    t0 = time.monotonic()
    got(*args)
    return time.monotonic() - t0


def _kill_during(got, rng: random.Random, duration: float, *args) -> int:
    """Start `got ARGS`, SIGKILL it at a random moment of its usual duration; its exit code."""
    proc = got.popen(*args, stdout=-3, stderr=-3)
    time.sleep(rng.uniform(0.3 * duration, duration))  # the first part is the interpreter starting
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _all_intact(got, repo_dir, history: dict[str, dict]) -> None:
    fsck = got("fsck", "--read-data", ok=False)
    assert fsck.returncode == 0 and "no problems found" in fsck.stdout, fsck.stdout
    for commit, tree in history.items():
        assert stored_manifest(repo_dir, commit) == tree, f"commit {commit} changed"


def _head(got) -> str:
    return got.out("log", "--oneline", "-n", "1").split()[0]


def _report(name: str, outcomes: list[int]) -> None:
    killed = sum(1 for code in outcomes if code != 0)
    print(f"crash matrix {name}: {len(outcomes)} kills, {killed} before the end, {len(outcomes) - killed} after")


def test_kill_9_during_commit_loses_no_commit(got, repo_dir):
    rng = random.Random(23)
    history = {}
    _mutate(rng, repo_dir, 0)
    duration = _timed(got, "commit", "-m", "base")
    history[_head(got)] = manifest(repo_dir)
    outcomes = []
    for round_no in range(1, 4):
        _mutate(rng, repo_dir, round_no)
        outcomes.append(_kill_during(got, rng, duration, "commit", "-m", f"round {round_no}"))
        _all_intact(got, repo_dir, history)
        head = _head(got)
        if head not in history:
            history[head] = stored_manifest(repo_dir, head)
            assert history[head] == manifest(repo_dir)
    _report("commit", outcomes)


def test_kill_9_during_gc_loses_no_commit(got, repo_dir):
    rng = random.Random(24)
    write(repo_dir, {"base.txt": "base\n"})
    got("commit", "-m", "base")
    history = {_head(got): manifest(repo_dir)}
    outcomes = []
    duration = 0.0
    for round_no in range(3):
        _garbage(repo_dir, rng)
        _mutate(rng, repo_dir, round_no)
        got("commit", "-m", f"kept {round_no}")
        history[_head(got)] = manifest(repo_dir)
        duration = duration or _timed(got, "gc", "--dry-run", "--grace", "0")
        outcomes.append(_kill_during(got, rng, duration, "gc", "--grace", "0"))
        _all_intact(got, repo_dir, history)
    got("gc", "--grace", "0")
    _all_intact(got, repo_dir, history)
    _report("gc", outcomes)


def test_kill_9_during_checkout_loses_nothing_and_is_finished_by_force(got, repo_dir):
    rng = random.Random(25)
    history = {}
    revs = []
    for round_no in range(2):
        _mutate(rng, repo_dir, round_no * 40)
        got("commit", "-m", f"tree {round_no}")
        history[_head(got)] = manifest(repo_dir)
        revs.append(_head(got))
    duration = _timed(got, "checkout", revs[0])
    got("checkout", revs[1])
    outcomes = []
    for round_no in range(3):
        target = revs[round_no % 2]
        outcomes.append(_kill_during(got, rng, duration, "checkout", target))
        _all_intact(got, repo_dir, history)
        got("checkout", "-f", target)
        assert {k: v for k, v in manifest(repo_dir).items()} == history[target]
    _report("checkout", outcomes)


HAVE_FUSE = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


@pytest.mark.skipif(not HAVE_FUSE, reason="no FUSE here")
def test_kill_9_during_a_mounts_flush_loses_nothing_published(got, repo_dir, tmp_path):
    rng = random.Random(26)
    write(repo_dir, {"base.txt": "base\n"})
    got("commit", "-m", "base")
    history = {_head(got): manifest(repo_dir)}
    durable: dict[str, bytes] = {}  # files whose fsync returned: published by the mount
    outcomes = []
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        for round_no in range(2):
            got("mount", "--rw", "main", str(mnt))
            pids = subprocess.run(["pgrep", "-f", f"mount --rw main {mnt}"], capture_output=True,
                                  text=True).stdout.split()
            assert len(pids) == 1
            name, data = f"r{round_no}.bin", rng.randbytes(rng.randint(300_000, 2_000_000))
            synced = threading.Event()

            def flush(path=mnt / name, data=data):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
                    os.write(fd, data)
                    os.fsync(fd)  # the mount publishes a root holding the file
                    os.close(fd)
                    synced.set()
                except OSError:
                    pass  # the mount died first
            t = threading.Thread(target=flush)
            t.start()
            time.sleep(rng.uniform(0, 0.08))
            os.kill(int(pids[0]), signal.SIGKILL)
            t.join(timeout=30)
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
            outcomes.append(0 if synced.is_set() else 1)
            if synced.is_set():
                durable[name] = data
            done = got("commit", "-m", f"after kill {round_no}", ok=False)  # the last published root
            assert done.returncode == 0 or "nothing to commit" in done.stderr, done.stderr
            _all_intact(got, repo_dir, history)
            for path, content in durable.items():
                assert got("cat", f"HEAD:{path}", binary=True).stdout == content
            history[_head(got)] = stored_manifest(repo_dir, "HEAD")
            got("checkout", "-f", "main")  # the working directory follows what the mount committed
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    _report("mount flush", outcomes)
