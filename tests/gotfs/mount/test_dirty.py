"""DirtyFile (buffered writes) against a bytearray model — pure logic, no mount needed."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from gotfs.pieces import DirtyFile

ops = st.lists(st.one_of(
    st.tuples(st.just("w"), st.integers(0, 3000), st.binary(min_size=1, max_size=700)),
    st.tuples(st.just("t"), st.integers(0, 3000), st.just(b"")),
), max_size=40)


def materialize(df: DirtyFile, base: bytearray) -> bytearray:
    out = bytearray(base)
    for start, buf in df.runs.items():
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
        runs = list(df.runs.items())
        for (s1, b1), (s2, _) in zip(runs, runs[1:]):
            assert s1 + len(b1) <= s2  # disjoint
        assert all(len(b) for _, b in runs)
        assert df.nbytes == sum(len(b) for _, b in runs) == len(written)
        assert {i for s, b in runs for i in range(s, s + len(b))} == written
        assert df.end == (max(written) + 1 if written else 0)
        assert materialize(df, bytearray())[:len(model)] == model[:df.end] or not written
        for lo, data in df.overlay(100, 2000):
            assert model[lo:lo + len(data)] == data
        whole = df.whole(0)
        assert (whole is not None) == (bool(written) and written == set(range(df.end)))
        if whole is not None:
            assert b"".join(bytes(p) for p in whole) == model[:df.end]
    groups = df.groups(gap=500)
    for (_, hi, _), (lo, _, _) in zip(groups, groups[1:]):
        assert lo - hi >= 500
    covered = [i for _, _, runs in groups for s, b in runs for i in range(s, s + len(b))]
    assert sorted(covered) == sorted(written)
