"""Arena (gotfs/mount/arena.py): the ring of decoded chunks, against a naive model.

A hypothesis state machine reserves, decodes (fills with a pattern), abandons, acquires and
releases chunks in any order. Invariants after every step: resident places never overlap and
lie inside the buffer; a chunk is never evicted while pinned, and its bytes stay intact as
long as it is pinned; a reservation fails only for a bad size, a cid already placed, or a
pinned chunk in the way; consecutive reservations are laid side by side unless they wrap.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gotfs.mount.arena import Arena

SIZE = 1000


def cid(n: int) -> bytes:
    return n.to_bytes(32, "big")


def pattern(n: int, size: int) -> bytes:
    return bytes((n * 7 + i) % 251 for i in range(size))


class ArenaMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.arena = Arena(SIZE)
        self.writing: dict[int, object] = {}  # n -> slot being decoded (pinned by the fetcher)
        self.ready: dict[int, object] = {}  # n -> slot decoded
        self.held: list[tuple[int, object]] = []  # pins taken by readers
        self.last_end: int | None = None

    @rule(n=st.integers(0, 40), size=st.integers(-1, SIZE + 5))
    def reserve(self, n, size):
        placed_before = self.arena.resident(cid(n))
        slot = self.arena.reserve(cid(n), size)
        if slot is None:
            blocked = placed_before or not 0 < size <= SIZE
            if not blocked:  # then a pinned chunk must have been in the way
                assert any(s.pins for s in list(self.writing.values()) + [s for _, s in self.held])
            return
        assert not placed_before and 0 < size <= SIZE
        assert 0 <= slot.start and slot.start + slot.size <= SIZE
        if self.last_end is not None and self.last_end + size <= SIZE:
            assert slot.start == self.last_end  # side by side with the previous reservation
        self.last_end = slot.start + slot.size
        self.ready.pop(n, None)  # (n was evicted before, or never placed)
        self.writing[n] = slot

    @precondition(lambda self: self.writing)
    @rule(data=st.data(), ok=st.booleans())
    def finish(self, data, ok):
        n = data.draw(st.sampled_from(sorted(self.writing)))
        slot = self.writing.pop(n)
        if ok:
            self.arena.view_of(slot)[:] = pattern(n, slot.size)
            self.arena.ready(slot)
            self.ready[n] = slot
        else:
            self.arena.abandon(slot)

    @rule(n=st.integers(0, 40))
    def acquire(self, n):
        slot = self.arena.acquire(cid(n))
        if slot is None:
            return
        assert n in self.ready and self.ready[n] is slot
        assert bytes(self.arena.view_of(slot)) == pattern(n, slot.size)
        self.held.append((n, slot))

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data):
        i = data.draw(st.integers(0, len(self.held) - 1))
        _, slot = self.held.pop(i)
        self.arena.release([slot])

    @invariant()
    def resident_places_do_not_overlap(self):
        spans = sorted((s.start, s.start + s.size) for s in self.arena._ring)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end <= start

    @invariant()
    def pinned_chunks_stay_and_stay_intact(self):
        for n, slot in self.held:
            assert slot in self.arena._ring
            assert bytes(self.arena.view_of(slot)) == pattern(n, slot.size)
        for slot in self.writing.values():
            assert slot in self.arena._ring

    @invariant()
    def pins_are_counted_exactly(self):
        for slot in self.arena._ring:
            expected = sum(1 for _, s in self.held if s is slot) + (slot in self.writing.values())
            assert slot.pins == expected


ArenaMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
test_arena_model = ArenaMachine.TestCase


def test_a_full_lap_of_sequential_chunks_evicts_the_oldest():
    arena = Arena(10 * 100)
    slots = []
    for i in range(25):
        slot = arena.reserve(cid(i), 100)
        assert slot is not None and slot.start == (i % 10) * 100
        arena.ready(slot)
        slots.append(slot)
    assert len(arena) == 10
    assert [arena.acquire(cid(i)) is None for i in (0, 14, 15, 24)] == [True, True, False, False]


def test_a_pinned_chunk_blocks_only_what_would_overwrite_it():
    arena = Arena(300)
    a, b, c = (arena.reserve(cid(i), 100) for i in range(3))
    for s in (a, b, c):
        arena.ready(s)
    held = arena.acquire(cid(0))
    assert arena.reserve(cid(3), 100) is None  # would reuse a's place: refused
    arena.release([held])
    d = arena.reserve(cid(3), 100)
    assert d is not None and d.start == 0


@pytest.mark.parametrize("size", [0, -5, 301])
def test_bad_sizes_get_no_place(size):
    assert Arena(300).reserve(cid(1), size) is None
