"""DirtyFile (buffered writes) against a bytearray model — pure logic, no mount needed."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from gotfs.pieces import MERGED, TINY, DirtyFile

ops = st.lists(st.one_of(
    st.tuples(st.just("w"), st.integers(0, 3000), st.binary(min_size=1, max_size=700)),
    st.tuples(st.just("t"), st.integers(0, 3000), st.just(b"")),
), max_size=40)


def materialize(df: DirtyFile, base: bytearray) -> bytearray:
    out = bytearray(base)
    for start, buf in df.items():
        if len(out) < start + len(buf):
            out.extend(bytes(start + len(buf) - len(out)))
        out[start:start + len(buf)] = buf
    return out


@settings(max_examples=300, deadline=None)
@given(ops)
def test_matches_model(steps):
    df = DirtyFile()
    model = bytearray()  # the file as written (starting empty); runs may leave zero gaps
    written = set()
    for op, off, data in steps:
        if op == "w":
            df.write(off, bytes(data))
            if len(model) < off + len(data):
                model.extend(bytes(off + len(data) - len(model)))
            model[off:off + len(data)] = data
            written.update(range(off, off + len(data)))
        else:
            df.drop_from(off)
            del model[off:]
            written = {i for i in written if i < off}
        runs = list(df.items())
        for (s1, b1), (s2, _) in zip(runs, runs[1:]):
            assert s1 + len(b1) <= s2  # disjoint
        assert all(len(b) for _, b in runs)
        assert df.nbytes == sum(len(b) for _, b in runs) == len(written)
        assert {i for s, b in runs for i in range(s, s + len(b))} == written
        assert df.end == (max(written) + 1 if written else 0)
        assert materialize(df, bytearray())[:len(model)] == model[:df.end] or not written
        for lo, data in df.overlay(100, 2000):
            assert model[lo:lo + len(data)] == data
        for p in (0, 100, 777, 2999):  # reach: the end of the written run from p (up to a stop)
            r = p
            while r in written:
                r += 1
            assert df.reach(p, 4000) == r
            assert df.reach(p, p + 10) == p if r == p else min(r, p + 10) <= df.reach(p, p + 10) <= r
        whole = df.whole(0)
        assert (whole is not None) == (bool(written) and written == set(range(df.end)))
        if whole is not None:
            assert b"".join(bytes(p) for p in whole) == model[:df.end]
    groups = df.groups(gap=500)
    for (_, hi, _), (lo, _, _) in zip(groups, groups[1:]):
        assert lo - hi >= 500
    covered = [i for _, _, runs in groups for s, b in runs for i in range(s, s + len(b))]
    assert sorted(covered) == sorted(written)


def _reference(pieces: list[tuple[int, bytes]], off: int, data: bytes) -> list[tuple[int, bytes]]:
    """DirtyFile.write's rules, spelled out plainly (quadratic): the newest bytes win, what an
    overlapped piece has outside the write is kept, and a write under TINY bytes joins the
    piece just before it if that one ends where it starts and is under MERGED bytes."""
    end = off + len(data)
    out = []
    for start, buf in pieces:
        stop = start + len(buf)
        if stop <= off or start >= end:
            out.append((start, bytes(buf)))
            continue
        if start < off:
            out.append((start, bytes(buf[:off - start])))
        if stop > end:
            out.append((end, bytes(buf[end - start:])))
    out.sort()
    before = [i for i, (s, _) in enumerate(out) if s < off]
    if len(data) < TINY and before:
        s, buf = out[before[-1]]
        if s + len(buf) == off and len(buf) < MERGED:
            out[before[-1]] = (s, buf + bytes(data))
            return out
    out.append((off, bytes(data)))
    out.sort()
    return out


big_ops = st.lists(st.one_of(
    st.tuples(st.just("w"), st.integers(0, 200_000), st.integers(1, 70_000)),
    st.tuples(st.just("a"), st.integers(0, 5000), st.integers(1, 9000)),  # an append, after a gap
    st.tuples(st.just("t"), st.integers(0, 200_000), st.just(0)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(big_ops)
def test_pieces_follow_the_rules(steps):
    """Appends (the fast path), overwrites across several pieces and truncates leave exactly
    the pieces the plain rules give, with sizes around TINY and MERGED."""
    df = DirtyFile()
    ref: list[tuple[int, bytes]] = []
    for i, (op, off, n) in enumerate(steps):
        if op == "t":
            df.drop_from(off)
            ref = [(s, b[:off - s]) for s, b in ref if s < off]
        else:
            if op == "a":
                off += df.end
            data = bytes([i % 251 + 1]) * n
            df.write(off, data)
            ref = _reference(ref, off, data)
        assert [(s, bytes(b)) for s, b in df.items()] == ref
        assert df.nbytes == sum(len(b) for _, b in ref)
        assert df.end == (ref[-1][0] + len(ref[-1][1]) if ref else 0)


def test_tiny_appends_stop_joining_at_merged():
    df = DirtyFile()
    df.write(0, b"a" * (MERGED - 1))
    df.write(MERGED - 1, b"b")  # joins: the piece was under MERGED
    df.write(MERGED, b"c")  # does not: the piece is MERGED bytes now
    assert [(s, len(b)) for s, b in df.items()] == [(0, MERGED), (MERGED, 1)]


def test_buffers_cover_a_range_across_both_generations():
    """Buffers.covers: every byte of the range in the spilling or the open generation."""
    from gotfs.mount.dirty import Buffers

    b = Buffers()
    b.write(7, 0, b"a" * 100, 1)
    b.write(7, 200, b"b" * 100, 1)
    b.take()  # now spilling
    assert b.covers(7, 0, 100) and not b.covers(7, 0, 101) and not b.covers(7, 150, 250)
    b.write(7, 100, b"c" * 100, 2)  # the gap, in the open generation
    assert b.covers(7, 0, 300) and b.covers(7, 50, 250) and not b.covers(7, 0, 301)
    assert b.covers(7, 5, 5) and not b.covers(8, 0, 1)


def test_reach_follows_a_run_no_further_than_asked():
    """A WAL is one long run of touching pieces: whether a page of it is buffered must cost
    the pieces under the page, not the whole run (sqlite reads a page back per transaction)."""
    df = DirtyFile()
    for i in range(100):
        df.write(i * 4120, bytes(4120))
    assert df.reach(0, 10) == 4120 and df.reach(4200, 8300) == 3 * 4120
    assert df.reach(0, 1 << 30) == 100 * 4120 and df.reach(100 * 4120, 1 << 30) == 100 * 4120
