"""LocalStore survives kill -9: real child processes, real SIGKILL, then reopen and check.

Each child opens the store and loops: post a batch of random blobs, flush, then print
"durable <seed>". The batch is a pure function of the seed, so the parent can recompute
every blob a child claimed durable and check it reads back byte-exact after the kill.
The kill lands after a random number of durable lines plus a random sub-second delay, so it
hits posts, pack fdatasyncs and index transactions at varying points.
"""

import inspect
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from gotkv.blobs.codec import content_id
from gotkv.blobs.local import LocalStore

ROOT = Path(__file__).resolve().parents[3]
SHARED_POOL = 4  # blobs every batch may repeat, so children dedup against each other and the past


def make_batch(seed: int) -> list[bytes]:
    """The blobs of batch `seed`: 1-8 random blobs of 100 B .. 200 KiB, plus a shared one."""
    rng = random.Random(seed)
    batch = [rng.randbytes(rng.randint(100, 200 * 1024)) for _ in range(rng.randint(1, 8))]
    shared = random.Random(-1 - seed % SHARED_POOL)
    batch.append(shared.randbytes(shared.randint(100, 20_000)))
    return batch


CHILD = textwrap.dedent(
    """
    import random, sys
    from gotkv.blobs.local import LocalStore
    SHARED_POOL = {pool}
    {make_batch}
    path, first = sys.argv[1], int(sys.argv[2])
    store = LocalStore(path)
    print("open", flush=True)
    for seed in range(first, first + 10_000):
        for data in make_batch(seed):
            store.post(data)
        store.flush()
        print("durable", seed, flush=True)
    """
).format(pool=SHARED_POOL, make_batch=inspect.getsource(make_batch))


class Child:
    """A writer process and a thread draining its stdout into a queue."""

    def __init__(self, path: Path, first_seed: int):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(first_seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.durable: list[int] = []
        self.opened = False
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _take(self, timeout: float) -> bool:
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"writer exited early ({self.proc.poll()}): {self.proc.stderr.read()}")
        if line.startswith("durable "):
            self.durable.append(int(line.split()[1]))
        self.opened |= line == "open\n"
        return line.startswith("durable ")

    def wait_open(self, timeout: float = 20.0) -> None:
        """Block until the child has opened the store (test_kill_9_while_opening covers before)."""
        deadline = time.monotonic() + timeout
        while not self.opened:
            self._take(max(0.01, deadline - time.monotonic()))

    def wait_durable(self, n: int, timeout: float = 20.0) -> None:
        """Block until the child has reported n durable batches in all."""
        deadline = time.monotonic() + timeout
        while len(self.durable) < n:
            self._take(max(0.01, deadline - time.monotonic()))

    def kill(self) -> list[int]:
        """SIGKILL the child, then collect every durable line it printed before dying."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL, self.proc.stderr.read()
        while (line := self.lines.get_nowait()) is not None:
            if line.startswith("durable "):
                self.durable.append(int(line.split()[1]))
        self.proc.stderr.close()
        return self.durable

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check_store(path: Path, seeds: list[int], *, probe: int) -> None:
    """Reopen after a crash: every durable blob reads back exact, the index is sound, and the
    store takes new posts."""
    expected = {content_id(d): d for seed in seeds for d in make_batch(seed)}
    db = sqlite3.connect(path / "index.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    with LocalStore(path) as store:
        assert store.exists(expected) == set(expected)
        for cid, data in expected.items():
            assert store.get(cid) == data, f"durable blob {cid.hex()[:12]} lost or changed"
        for cid in store.list():  # whatever else got indexed is intact too
            assert content_id(store.get(cid)) == cid
        fresh = {content_id(d): d for d in make_batch(probe)}
        for data in fresh.values():
            store.post(data)
        store.flush()
    with LocalStore(path) as store:
        for cid, data in (expected | fresh).items():
            assert store.get(cid) == data


def test_kill_9_single_writer(tmp_path):
    """Five crashes of a writer on the same store directory, each at a random moment."""
    rng = random.Random(20240601)
    path = tmp_path / "store"
    durable: list[int] = []
    for round_ in range(5):
        child = Child(path, first_seed=round_ * 100_000)
        try:
            child.wait_open()
            child.wait_durable(rng.randint(0, 5))
            time.sleep(rng.uniform(0, 0.4))
            durable += child.kill()
        finally:
            child.ensure_dead()
        check_store(path, durable, probe=10_000_000 + round_)
    assert len(durable) >= 5  # the test did exercise something


def test_kill_9_two_concurrent_writers(tmp_path):
    """Two writers append to the same store at once; both are killed, at different moments."""
    rng = random.Random(77)
    path = tmp_path / "store"
    LocalStore(path).close()  # create the schema once, as `got init` would
    durable: list[int] = []
    for round_ in range(2):
        children = [Child(path, first_seed=round_ * 1_000_000 + k * 100_000) for k in range(2)]
        try:
            for child in children:
                child.wait_durable(1)  # both are writing
            for child in children:
                child.wait_durable(len(child.durable) + rng.randint(0, 3))
                time.sleep(rng.uniform(0, 0.3))
                durable += child.kill()
        finally:
            for child in children:
                child.ensure_dead()
        check_store(path, durable, probe=20_000_000 + round_)
    with LocalStore(path) as store:  # crash leftovers are reclaimable and nothing is lost
        store.compact(min_dead_ratio=0.0)
    check_store(path, durable, probe=30_000_000)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_kill_9_while_opening(tmp_path, delay):
    """A kill during start-up (schema creation, first pack) leaves a store that opens cleanly."""
    path = tmp_path / "store"
    child = Child(path, first_seed=0)
    try:
        time.sleep(delay)
        durable = child.kill()
    finally:
        child.ensure_dead()
    path.mkdir(exist_ok=True)
    check_store(path, durable, probe=1)
