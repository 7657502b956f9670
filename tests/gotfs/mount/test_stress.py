"""Concurrency: writers and readers hammer a writable mount; it must end equal to a shadow copy.

4 writer threads each own a directory and do random creates, overwrites at random offsets,
appends, truncates, renames (some replacing a file) and removes, mirroring every step into
a shadow directory on the host. 4 reader threads meanwhile read files that writers have
*frozen* (written once and never touched again) and check them byte for byte, and list the
writers' directories. After ~10 s the mount is flushed (fsync) and compared with the shadow,
then unmounted, remounted read-only from the published root, and compared again.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback

from .conftest import diff_trees, listing

DURATION = 10.0


def _writer(k: int, mnt, shadow, frozen: dict, stop: threading.Event, errors: list) -> None:
    rng = random.Random(k)
    mine = f"w{k}"
    for top in (mnt, shadow):
        (top / mine).mkdir()
    names: list[str] = []
    n = 0
    try:
        while not stop.is_set():
            op = rng.random()
            if op < 0.25 or not names:
                name = f"f{n}"
                n += 1
                data = rng.randbytes(rng.choice([0, 100, 5000, 100_000, 1_200_000]))
                for top in (mnt, shadow):
                    (top / mine / name).write_bytes(data)
                if rng.random() < 0.3:
                    frozen[f"{mine}/{name}"] = data  # never touched again
                else:
                    names.append(name)
                continue
            name = rng.choice(names)
            if op < 0.45:  # overwrite somewhere, maybe past the end
                size = (shadow / mine / name).stat().st_size
                off = rng.randint(0, size + 50_000)
                data = rng.randbytes(rng.choice([1, 4096, 65536, 300_000]))
                for top in (mnt, shadow):
                    fd = os.open(top / mine / name, os.O_WRONLY)
                    os.pwrite(fd, data, off)
                    os.close(fd)
            elif op < 0.55:
                data = rng.randbytes(rng.randint(1, 200_000))
                for top in (mnt, shadow):
                    with open(top / mine / name, "ab") as f:
                        f.write(data)
            elif op < 0.65:
                size = rng.randint(0, 400_000)
                for top in (mnt, shadow):
                    os.truncate(top / mine / name, size)
            elif op < 0.85:
                new = rng.choice(names) if rng.random() < 0.3 else f"r{n}"
                n += 1
                for top in (mnt, shadow):
                    os.rename(top / mine / name, top / mine / new)
                names.remove(name)
                if new not in names:
                    names.append(new)
            else:
                for top in (mnt, shadow):
                    os.unlink(top / mine / name)
                names.remove(name)
            if rng.random() < 0.05:  # read-your-writes check on a file only this thread touches
                name = rng.choice(names) if names else None
                got = (mnt / mine / name).read_bytes() if name else b""
                want = (shadow / mine / name).read_bytes() if name else b""
                if got != want:
                    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                    errors.append(AssertionError(f"{mine}/{name} differs from its shadow: {len(got)} vs "
                                                 f"{len(want)} bytes, first difference at {at}"))
    except BaseException:
        errors.append(AssertionError(f"writer {k}: {traceback.format_exc()}"))


def _reader(k: int, mnt, frozen: dict, stop: threading.Event, errors: list, counts: list) -> None:
    rng = random.Random(100 + k)
    try:
        while not stop.is_set():
            if frozen and rng.random() < 0.8:
                path, data = rng.choice(list(frozen.items()))
                with open(mnt / path, "rb") as f:
                    if rng.random() < 0.5:
                        got = f.read()
                    else:
                        off = rng.randint(0, max(len(data) - 1, 0))
                        f.seek(off)
                        got = data[:off] + f.read(100_000)
                        data = data[:len(got)]
                if got != data:
                    errors.append(AssertionError(f"frozen file {path} read back wrong"))
                counts[k] += 1
            else:
                for d in os.listdir(mnt):
                    os.listdir(mnt / d)
    except BaseException:
        errors.append(AssertionError(f"reader {k}: {traceback.format_exc()}"))


def test_writers_and_readers(tmp_path, mounter):
    m = mounter(tmp_path / "store", tmp_path / "mnt", rw=True, flush_interval=1.0)
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    frozen: dict[str, bytes] = {}
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = [0] * 4
    threads = [threading.Thread(target=_writer, args=(k, m.mnt, shadow, frozen, stop, errors)) for k in range(4)]
    threads += [threading.Thread(target=_reader, args=(k, m.mnt, frozen, stop, errors, counts)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(DURATION)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, "\n".join(map(str, errors[:5]))
    assert sum(counts) > 50 and len(frozen) > 10
    fd = os.open(m.mnt / "w0", os.O_RDONLY)  # fsync of a directory flushes and publishes everything
    os.fsync(fd)
    os.close(fd)
    assert listing(m.mnt, mtimes=False) == listing(shadow, mtimes=False)
    diff_trees(shadow, m.mnt)
    assert m.stop() == 0
    assert not m.errors(), m.errors()
    ro = mounter(tmp_path / "store", tmp_path / "ro", rw=False)
    diff_trees(shadow, ro.mnt)
    assert listing(ro.mnt, mtimes=False) == listing(shadow, mtimes=False)
