"""Sequential (gotfs/mount/readahead.py): which chunks a forward reader gets prefetched, and when.

The invariants, for any layout of extents and any read size: the reader always has at
least 3/4 of the window (or the rest of the file) planned ahead of it, never more than the
window, and plans come a quarter window at a time (so the decoder is woken once for several
chunks), except for the file's tail.
"""

from __future__ import annotations

from hypothesis import given, strategies as st

from gotfs.mount.readahead import FileView, Sequential

WINDOW = 64  # bytes, scaled down: the shape of the plan does not depend on the unit


def layout(sizes: list[int]) -> FileView:
    pieces, at = [], 0
    for i, n in enumerate(sizes):
        pieces.append((at, at + n, i))  # the "extent" is its index
        at += n
    return FileView.of(at, pieces)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=60), st.integers(1, 48))
def test_a_forward_reader_stays_a_window_ahead_in_quarter_steps(sizes, step):
    view = layout(sizes)
    seq = Sequential()
    planned: set[int] = set()
    for off in range(0, view.size, step):
        stop = min(off + step, view.size)
        seq.advance(off, stop, slack=step)
        ahead = seq.plan(view, stop, WINDOW)
        if ahead:
            lo, hi = view.starts[ahead[0]], view.ends[ahead[-1]]
            assert hi - lo >= WINDOW // 4 or hi >= view.size  # a quarter window at least, or the tail
            assert view.starts[ahead[-1]] < stop + WINDOW  # never beyond the window
        planned.update(ahead)
        lead_end = min(stop + WINDOW * 3 // 4, view.size)
        needed = {i for _, _, i in view.under(stop, lead_end)}
        assert needed <= planned, "the reader is less than 3/4 of a window ahead of its prefetches"


def test_a_jump_restarts_the_plan_from_the_new_place():
    view = layout([10] * 40)  # 400 bytes in extents of 10
    seq = Sequential()
    seq.advance(0, 8, slack=8)
    assert seq.plan(view, 8, WINDOW) == list(range(0, 8))  # [8, 72): extents 0..7
    seq.advance(300, 308, slack=8)  # not where the reader was: not sequential
    assert seq.plan(view, 308, WINDOW) == list(range(30, 38))  # [308, 372)
