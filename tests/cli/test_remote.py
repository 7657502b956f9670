"""Remotes at the command line: the flow a user follows, racing pushers, and kill -9.

Each test runs on a directory remote and on a real S3 engine (Ceph RGW started by the suite).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Got, assert_clean_error, got_cmd, got_env, manifest, write


@pytest.fixture(params=["dir", "s3"])
def url(request, tmp_path) -> str:
    if request.param == "dir":
        return str(tmp_path / "remote")
    return f"s3://{request.getfixturevalue('s3_bucket')}/cli"


def setup_origin(tmp_path: Path, url: str, files: dict) -> tuple[Got, Path]:
    """A repository `a` with one commit pushed to `url`; returns it and its key file."""
    a = tmp_path / "a"
    a.mkdir()
    got = Got(a)
    got("init")
    write(a, files)
    got("commit", "-m", "first")
    got("remote", "add", "origin", url)
    got("push")
    key = tmp_path / "key"
    key.write_text(got.out("key", "export"))
    return got, key


def test_the_user_flow(tmp_path, url):
    got, key = setup_origin(tmp_path, url, {"a.txt": "hello\n", "d/b.bin": os.urandom(300_000)})
    assert got.out("key", "export").startswith("got-key-1:")
    assert got.out("remote", "list").split() == ["origin", url if "://" in url else f"file://{url}"]
    Got(tmp_path)("clone", url, "b", "--key-file", str(key))
    b = Got(tmp_path / "b")
    assert manifest(tmp_path / "b") == manifest(tmp_path / "a")
    write(tmp_path / "b", {"a.txt": "hello from b\n"})
    b("commit", "-m", "from b")
    assert '"commits": 1' in b.out("push", "--json")
    fetched = got.out("fetch")
    assert "origin/main" in fetched
    assert "from b" in got.out("log", "--oneline", "origin/main")
    assert "hello from b" in got.out("cat", "origin/main:a.txt")
    got.out("diff", "HEAD", "origin/main")
    assert "fast-forward" in got.out("pull")
    assert (tmp_path / "a" / "a.txt").read_text() == "hello from b\n"
    assert "up to date" in got.out("push")
    # GOT_KEY instead of a key file
    env = got_env(GOT_KEY=key.read_text())
    done = subprocess.run(got_cmd("clone", url, "c"), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert manifest(tmp_path / "c") == manifest(tmp_path / "a")


def test_bad_input_gets_one_line(tmp_path, url):
    got, key = setup_origin(tmp_path, url, {"f": "1"})
    top = Got(tmp_path)
    assert "no key" in assert_clean_error(top("clone", url, "x", ok=False), 2)
    (tmp_path / "bad").write_text("got-key-1:" + "00" * 32)
    assert "the key does not open" in assert_clean_error(top("clone", url, "x", "--key-file", str(tmp_path / "bad"), ok=False), 1)
    assert "not a got key" in assert_clean_error(top("clone", url, "x", "--key-file", "/dev/null", ok=False), 2)
    assert not (tmp_path / "x").exists()
    assert "already exists" in assert_clean_error(got("remote", "add", "origin", url, ok=False))
    assert "unsupported remote URL" in assert_clean_error(got("remote", "add", "web", "http://x/y", ok=False))
    assert "no remote named 'nowhere'" in assert_clean_error(got("push", "nowhere", ok=False))


def test_an_unreachable_endpoint_is_one_line(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    got = Got(a)
    got("init")
    write(a, {"f": "1"})
    got("commit", "-m", "x")
    env = got_env(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s",
                  AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                  )
    started = time.monotonic()
    done = subprocess.run(got_cmd("remote", "add", "origin", "s3://nobucket/p"), cwd=a, env=env,
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60
    assert "s3://nobucket" in assert_clean_error(done)
    assert got.out("remote", "list") == ""
    assert "no remote named 'origin'" in assert_clean_error(got("push", ok=False))


def test_eight_racing_pushers_one_wins_none_overwritten(tmp_path, url):
    """8 clones each commit on the same base and push at once: exactly one moves the branch;
    the others are told to fetch and merge, and their work stays intact locally."""
    got, key = setup_origin(tmp_path, url, {"base.txt": "base\n"})
    clones = []
    for i in range(8):
        Got(tmp_path)("clone", url, f"c{i}", "--key-file", str(key))
        c = Got(tmp_path / f"c{i}")
        write(tmp_path / f"c{i}", {f"mine{i}.txt": f"work of clone {i}\n"})
        c("commit", "-m", f"clone {i}")
        clones.append(c)
    procs = [c.popen("push", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in clones]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    winners = [i for i, (code, _) in enumerate(results) if code == 0]
    assert len(winners) == 1, results
    for i, (code, err) in enumerate(results):
        if i not in winners:
            assert code == 1 and err.strip() == "got: origin/main has moved: fetch, then merge", err
    got("pull")
    w = winners[0]
    assert (tmp_path / "a" / f"mine{w}.txt").read_text() == f"work of clone {w}\n"
    for i, c in enumerate(clones):  # losers keep their commit, and learn the winner's
        assert f"clone {i}" in c.out("log", "--oneline", "-n", "1")
        c("fetch")
        assert f"clone {w}" in c.out("log", "--oneline", "-n", "1", "origin/main")
    # 8 pushers to 8 different branches at once: every one lands
    for i, c in enumerate(clones):
        c("branch", f"b{i}")
    procs = [c.popen("push", "origin", f"b{i}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, c in enumerate(clones)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    got("fetch")
    for i in range(8):
        assert f"clone {i}" in got.out("log", "--oneline", "-n", "1", f"origin/b{i}")


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_mid_push_loses_nothing_and_the_rerun_resumes(tmp_path, url):
    got, key = setup_origin(tmp_path, url, {"f": "1"})
    rng = random.Random(5)
    write(tmp_path / "a", {f"big{i}.bin": rng.randbytes(24 << 20) for i in range(8)})
    got("commit", "-m", "big")
    before = got.out("log", "--oneline", "-n", "1", "origin/main")
    state = tmp_path / "a" / ".got" / "remotes" / "origin.sqlite"
    import sqlite3

    def some_pack_uploaded() -> bool:
        try:
            with sqlite3.connect(state, timeout=1) as db:
                return db.execute("SELECT count(*) FROM uploaded").fetchone()[0] >= 1
        except sqlite3.Error:
            return False

    push = got.popen("push", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _kill_when(push, some_pack_uploaded)
    got("fetch")
    assert got.out("log", "--oneline", "-n", "1", "origin/main") == before  # the remote ref did not move
    assert "no problems" in got.out("fsck")
    import json
    rerun = json.loads(got.out("push", "--json"))
    assert rerun["bytes"] <= (192 << 20) - (32 << 20), rerun  # packs sent before the kill are not sent again
    Got(tmp_path)("clone", url, "b", "--key-file", str(key))
    assert manifest(tmp_path / "b") == manifest(tmp_path / "a")


def test_an_interrupted_clone_resumes(tmp_path, url):
    got, key = setup_origin(tmp_path, url, {f"big{i}.bin": os.urandom(16 << 20) for i in range(4)})
    clone = Got(tmp_path).popen("clone", url, "b", "--key-file", str(key), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    store = tmp_path / "b" / ".got" / "store"

    def some_data_arrived() -> bool:
        return sum(f.stat().st_size for f in store.glob("**/*") if f.is_file()) > 20 << 20 if store.exists() else False

    _kill_when(clone, some_data_arrived)
    Got(tmp_path)("clone", url, "b", "--key-file", str(key))
    assert manifest(tmp_path / "b") == manifest(tmp_path / "a")
    assert "no problems" in Got(tmp_path / "b").out("fsck")


def test_the_engine_stopped_mid_push(tmp_path, s3_bucket, s3_engine):
    """The gateway dies mid-push: the push fails with one line, the remote branch and the
    local repo are intact, and once the engine is back the rerun sends only what is missing."""
    from tests import s3engine

    url = f"s3://{s3_bucket}/down"
    got, key = setup_origin(tmp_path, url, {"f": "1"})
    rng = random.Random(6)
    write(tmp_path / "a", {f"big{i}.bin": rng.randbytes(24 << 20) for i in range(4)})
    got("commit", "-m", "big")
    before = got.out("log", "--oneline", "-n", "1", "origin/main")
    state = tmp_path / "a" / ".got" / "remotes" / "origin.sqlite"
    import json
    import sqlite3

    def uploaded() -> int:
        try:
            with sqlite3.connect(state, timeout=1) as db:
                return db.execute("SELECT count(*) FROM uploaded").fetchone()[0]
        except sqlite3.Error:
            return 0

    env = got_env(GOT_RETRY_SECONDS="2")
    push = subprocess.Popen(got_cmd("push"), cwd=tmp_path / "a", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while uploaded() < 1:
            assert push.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        s3engine.kill_gateway(s3_engine)
        _, err = push.communicate(timeout=120)
    finally:
        s3engine.start_gateway(s3_engine)
    assert push.returncode == 1, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"got: {url}"), err
    got("fetch")
    assert got.out("log", "--oneline", "-n", "1", "origin/main") == before
    assert "no problems" in got.out("fsck")
    rerun = json.loads(got.out("push", "--json"))
    assert rerun["bytes"] <= (96 << 20) - (32 << 20) + (1 << 20), rerun
    Got(tmp_path)("clone", url, "b", "--key-file", str(key))
    assert manifest(tmp_path / "b") == manifest(tmp_path / "a")
