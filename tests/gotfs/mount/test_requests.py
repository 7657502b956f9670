"""RequestWait (gotfs/mount/requests.py): queued requests are taken without a scheduler pass,
never more than STREAK in a row, and a task never returns to read from an empty device.

The unit tests wait on a pipe instead of /dev/fuse (the wait only polls a descriptor); the
last one counts, in a real mount, how the requests of a burst were taken."""

from __future__ import annotations

import errno
import os
import re
import threading
import time

import pytest
import trio
import trio.testing

from gotfs.mount.requests import RequestWait
from tests.gotfs.mount.conftest import need_fuse


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def test_a_queued_request_is_taken_without_yielding(pipe):
    r, w = pipe
    wait = RequestWait(r, streak=4)
    ran = []

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _mark(ran))
            os.write(w, b"x")
            assert await wait.wait() is True
            assert ran == []  # no scheduler pass: the other task has not run yet
            await trio.testing.wait_all_tasks_blocked()
            assert ran == [1]

    trio.run(main)
    assert (wait.fast, wait.slow) == (1, 0)


async def _mark(ran: list) -> None:
    ran.append(1)


async def _within(seconds: float, fn) -> None:
    with trio.fail_after(seconds):
        await fn()


def test_after_a_streak_the_next_request_goes_through_the_scheduler(pipe):
    r, w = pipe
    wait = RequestWait(r, streak=3)
    ran = []

    async def main():
        os.write(w, b"x")  # stays queued: the device always has a request
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _mark(ran))
            for _ in range(3):
                assert await wait.wait() is True
            assert ran == []
            assert await wait.wait() is True  # the fourth: a yield, then the request
            assert ran == [1]
            assert await wait.wait() is True  # a new streak
        assert (wait.fast, wait.slow) == (4, 1)

    trio.run(main)


def _write_later(fd: int, seconds: float) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(seconds), os.write(fd, b"x")))
    t.start()
    return t


def test_when_no_thread_is_busy_a_request_that_comes_soon_is_taken_without_yielding(pipe):
    r, w = pipe
    wait = RequestWait(r, idle=lambda: True, soon_ns=5_000_000_000)
    ran = []

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _mark(ran))
            t = _write_later(w, 0.05)  # nothing queued when the wait begins
            assert await wait.wait() is True
            t.join()
            assert ran == []  # taken in the short wait: no scheduler pass
        assert (wait.fast, wait.soon, wait.slow) == (0, 1, 0)

    trio.run(_within, 5, main)


def test_while_a_thread_is_busy_the_wait_goes_through_the_scheduler(pipe):
    r, w = pipe
    wait = RequestWait(r, idle=lambda: False, soon_ns=5_000_000_000)
    ran = []

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _mark(ran))
            t = _write_later(w, 0.05)
            assert await wait.wait() is True
            t.join()
            assert ran == [1]  # the slow way: other tasks (a thread's result) ran meanwhile
        assert (wait.fast, wait.soon, wait.slow) == (0, 0, 1)

    trio.run(_within, 5, main)


def test_the_short_wait_gives_up_after_soon_ns_and_counts_in_the_streak(pipe):
    r, w = pipe
    wait = RequestWait(r, streak=2, idle=lambda: True, soon_ns=20_000_000)
    ran = []

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _mark(ran))
            t = _write_later(w, 0.3)  # later than the short wait: the slow way takes it
            assert await wait.wait() is True
            t.join()
            assert ran == [1] and (wait.soon, wait.slow) == (0, 1)
            os.read(r, 1)
            for _ in range(2):  # a streak of two short waits ...
                t = _write_later(w, 0.01)
                assert await wait.wait() is True
                t.join()
                os.read(r, 1)
            assert wait.soon == 2
            nursery.start_soon(lambda: _mark(ran))
            os.write(w, b"x")
            assert await wait.wait() is True  # ... then one through the scheduler, queued or not
            assert ran == [1, 1] and wait.slow == 2

    trio.run(_within, 5, main)


def test_the_slow_way_waits_again_when_the_request_was_taken_meanwhile(pipe):
    r, w = pipe
    wait = RequestWait(r)
    checks = []

    def queued() -> bool:  # nothing queued at first; once woken, another task takes the request
        checks.append(1)
        if len(checks) == 2:
            os.read(r, 1)
            return False
        return len(checks) > 2
    wait.queued = queued
    out = []

    async def main():
        async with trio.open_nursery() as nursery:
            async def waiter():
                out.append(await wait.wait())
            nursery.start_soon(waiter)
            await trio.sleep(0.05)
            os.write(w, b"x")
            await trio.sleep(0.05)
            assert len(checks) == 2 and out == []  # woken, but still waiting: not returned to an empty device
            os.write(w, b"y")
        assert out == [True] and len(checks) == 3

    trio.run(_within, 5, main)


def test_closing_ends_the_waiting_task_and_those_queued_behind_it(pipe):
    r, w = pipe
    wait = RequestWait(r)
    out = []

    async def main():
        async with trio.open_nursery() as nursery:
            async def waiter():
                out.append(await wait.wait())
            for _ in range(3):
                nursery.start_soon(waiter)
            await trio.sleep(0.05)
            trio.lowlevel.notify_closing(r)  # what pyfuse3.terminate does to its descriptor
        assert out == [False, False, False] and wait.closed

    trio.run(_within, 5, main)


def test_a_burst_of_requests_in_a_mount_is_mostly_taken_at_once(tmp_path, mounter):
    need_fuse()
    m = mounter(tmp_path / "store", tmp_path / "mnt", rw=True)
    f = m.mnt / "f"
    f.write_bytes(b"x")
    for _ in range(3000):  # the kernel caches no xattrs: each is a request, answered at once
        with pytest.raises(OSError) as e:
            os.getxattr(f, "user.absent")
        assert e.value.errno == errno.ENODATA
    m.stop()
    served = re.search(r"served (\d+) requests, (\d+) of them taken at once", m.log.read_text())
    assert served is not None, m.log.read_text()[-2000:]
    total, fast = map(int, served.groups())
    assert total >= 3000
    assert fast >= total // 10, (total, fast)  # 60-80% on a loaded 2-CPU machine; 0 through pyfuse3's own wait
