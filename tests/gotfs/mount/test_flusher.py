"""The mount's flush scheduling (_State._flusher), against a fake core: no FUSE involved."""

from __future__ import annotations

import trio

from gotfs.mount import _State


class FakeCore:
    """Counts flushes; always has something pending, as a steadily written mount has."""

    writable = True
    wants_flush = True

    def __init__(self) -> None:
        self.root = 1
        self.published = 0
        self.calls: list[bool] = []

    def pending(self) -> bool:
        return True

    def flush(self, publish: bool = True) -> None:
        self.calls.append(publish)
        if publish:
            self.published = self.root


def _drive(kicks: int, every: float, interval: float, publish: bool, close_gap: float = 0.0,
           after: float | None = None) -> FakeCore:
    core = FakeCore()
    core.wants_flush = not publish  # a spill's kick comes with full buffers, a close's without
    state = _State(core, "/nonexistent", flush_interval=interval, ready=None, close_gap=close_gap)

    async def main():
        state.kicked = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(state._flusher)
            for _ in range(kicks):
                await trio.sleep(every)
                core.root += 1
                state.kick(publish=publish)
            await trio.sleep(every if after is None else after)
            nursery.cancel_scope.cancel()

    trio.run(main)
    return core


def test_steady_spills_still_publish_every_interval():
    """A writer that fills the buffers faster than flush_interval (each fill kicks a spill)
    must still be published on the timer, or a kill -9 would lose everything since open."""
    core = _drive(kicks=30, every=0.1, interval=0.5, publish=False)  # 3 s of spills
    assert len(core.calls) >= 20  # the spills happened...
    assert sum(core.calls) >= 4  # ...and so did a publish every ~0.5 s


def test_close_kicks_publish_at_once():
    core = _drive(kicks=5, every=0.2, interval=60, publish=True)
    assert sum(core.calls) == 5


def test_closes_in_a_burst_publish_once_a_gap():
    """tar -x closes a file every few ms: one publish a close_gap, not one a close, and the
    last close is still published within a gap of it."""
    core = _drive(kicks=40, every=0.025, interval=60, publish=True, close_gap=0.4, after=0.6)  # 1 s of closes
    assert 2 <= sum(core.calls) <= 4
    assert core.published == core.root  # the last close's changes were published too


def test_idle_timer_publishes_nothing_new():
    core = FakeCore()
    core.pending = lambda: False
    core.published = core.root
    state = _State(core, "/nonexistent", flush_interval=0.05, ready=None)

    async def main():
        state.kicked = trio.Event()
        with trio.move_on_after(0.5):
            await state._flusher()

    trio.run(main)
    assert core.calls == []
