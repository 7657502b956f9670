"""Durability: kill -9 of a writable mount loses nothing that was fsynced; SIGTERM loses nothing.

The kill test writes files in a loop — each one written, fsynced, closed, and only then
counted as durable — and SIGKILLs the mount process in the middle of the storm, so the kill
lands inside writes, flushes, store fsyncs and ROOT replacements at random. Afterwards the
store is opened directly: every durable file must read back intact from the last published
root, and the tree must pass gotkv's check.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

from gotfs.info import Kind

from .conftest import published


def _content(i: int) -> bytes:
    rng = random.Random(i)
    return rng.randbytes(rng.choice([10, 4000, 70_000, 600_000, 2_500_000]))


def test_kill9_keeps_fsynced_files(tmp_path, mounter):
    store = tmp_path / "store"
    m = mounter(store, tmp_path / "mnt", rw=True, flush_interval=0.3)
    durable: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def storm(first: int, step: int) -> None:
        i = first
        try:
            while not stop.is_set():
                d = m.mnt / f"d{i % 7}"
                d.mkdir(exist_ok=True)
                fd = os.open(d / f"f{i}", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, _content(i))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                durable.append(i)
                if i % 5 == 0:  # some unsynced churn too: renames and removes
                    os.rename(d / f"f{i}", d / f"r{i}")
                    os.rename(d / f"r{i}", d / f"f{i}")
                i += step
        except OSError as e:  # the mount died under us: expected once it is killed
            errors.append(e)

    threads = [threading.Thread(target=storm, args=(k, 3)) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(2.0 + random.random())
    m.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(durable) > 10, f"too few files written before the kill: {durable} {errors}"

    fs, root = published(store)
    try:
        fs.kv.check(root)
        for i in durable:
            path = f"d{i % 7}/f{i}"
            if i % 5 == 0 and not fs.exists(root, path):  # caught between its two (unsynced) renames
                path = f"d{i % 7}/r{i}"
            info = fs.stat(root, path)
            assert info.kind == Kind.FILE
            assert fs.read(root, path) == _content(i), path
    finally:
        fs.store.close()


def test_sigterm_flushes_open_files(tmp_path, mounter):
    store = tmp_path / "store"
    m = mounter(store, tmp_path / "mnt", rw=True, flush_interval=3600)
    data = os.urandom(5 << 20)
    fd = os.open(m.mnt / "open.bin", os.O_CREAT | os.O_WRONLY)
    os.write(fd, data)  # never closed nor fsynced before the signal
    (m.mnt / "dir").mkdir()
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(60) == 0
    try:
        os.close(fd)
    except OSError:
        pass
    assert not os.path.ismount(m.mnt)
    fs, root = published(store)
    try:
        assert fs.read(root, "open.bin") == data
        assert fs.stat(root, "dir").is_dir
    finally:
        fs.store.close()
