"""Real processes at once, and real processes killed: commits are never lost or half-made."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time

from tests.cli.conftest import manifest, stored_manifest, write


def test_concurrent_commits_are_all_kept(got, repo_dir):
    write(repo_dir, {"base": "x"})
    got("commit", "-m", "base")
    failures: list[str] = []

    def worker(name: str) -> None:
        for i in range(10):
            write(repo_dir, {f"{name}/{i}": f"{name} {i}\n"})
            # --allow-empty: the other worker's commit may already have swept this file in
            done = got("commit", "--allow-empty", "-m", f"{name}-{i}", ok=False)
            if done.returncode != 0:
                failures.append(f"{name}-{i}: {done.stderr.strip()}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    log = json.loads(got.out("log", "--json"))
    messages = [c["message"] for c in log]
    assert len(messages) == 21
    assert sorted(messages) == sorted(["base"] + [f"w{w}-{i}" for w in (1, 2) for i in range(10)])
    # one linear chain: each commit's parent is the next one in the log
    for newer, older in zip(log, log[1:]):
        assert newer["parents"] == [older["id"]]
    for w in ("w1", "w2"):
        assert [m for m in messages if m.startswith(w)] == [f"{w}-{i}" for i in reversed(range(10))]
    assert "no problems found" in got.out("fsck")
    assert "w2/9" in got.out("ls", "-R").split()


def _mutate(rng: random.Random, top, round_no: int) -> None:
    """Rewrite a third of the files, add and remove a few; make mtimes old so the stat cache
    trusts what the (possibly killed) commit records about them."""
    files = sorted(p for p in top.rglob("*") if p.is_file() and ".got" not in p.parts)
    for p in rng.sample(files, len(files) // 3):
        p.write_bytes(rng.randbytes(rng.randint(100, 150_000)))
    for p in rng.sample(files, 5):
        if p.exists():
            p.unlink()
    write(top, {f"r{round_no}/new{i}": rng.randbytes(rng.randint(10, 50_000)) for i in range(10)})
    old = time.time() - 3600
    for p in top.rglob("*"):
        if ".got" not in p.parts and not p.is_symlink():
            os.utime(p, (old, old))


def test_kill_9_during_commit_leaves_old_or_new(got, repo_dir):
    rng = random.Random(1234)
    write(repo_dir, {f"d{i % 12}/f{i}": rng.randbytes(rng.randint(100, 150_000)) for i in range(300)})
    _mutate(rng, repo_dir, 0)
    t0 = time.monotonic()
    got("commit", "-m", "base")
    commit_time = time.monotonic() - t0
    committed = stored_manifest(repo_dir, "main")
    assert committed == manifest(repo_dir)
    outcomes = []
    for round_no in range(1, 9):
        _mutate(rng, repo_dir, round_no)
        wanted = manifest(repo_dir)
        proc = got.popen("commit", "-m", f"round {round_no}", stdout=-3, stderr=-3)
        # a random moment within 0-1.5 s, aimed at the commit's own duration
        time.sleep(rng.uniform(0, min(1.5, 1.3 * commit_time)))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        now = stored_manifest(repo_dir, "main")
        assert now in (committed, wanted), f"round {round_no}: the branch points at a third tree"
        if code == 0:
            assert now == wanted
        outcomes.append("new" if now == wanted else "old")
        fsck = got("fsck", ok=False)
        assert fsck.returncode == 0, f"round {round_no} ({outcomes[-1]}, exit {code}): {fsck.stdout}"
        committed = now
        got("status")
    # after all that, committing works and records exactly the working directory
    _mutate(rng, repo_dir, 99)
    got("commit", "-m", "after the crashes")
    assert stored_manifest(repo_dir, "main") == manifest(repo_dir)
    assert "no problems found" in got.out("fsck", "--read-data")
    print("kill outcomes:", outcomes)
