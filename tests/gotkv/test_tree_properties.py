"""The invariants of the prolly tree, checked with hypothesis against a SortedDict model.

- history independence: however a set of entries is reached, its root is the one a fresh
  build of that set gives;
- model equivalence: get / seek / iterate (both directions, any span) agree with SortedDict;
- diff equals the naive diff of the two entry sets;
- old roots read exactly as before after any number of mutations;
- check_tree passes on every tree produced.
"""

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sortedcontainers import SortedDict

from gotkv import Batch, Span
from gotkv.errors import KeyNotFound

from .conftest import SHAPES, make_kv

keys = st.binary(min_size=0, max_size=12)
values = st.binary(min_size=0, max_size=40)
put_op = st.tuples(st.just("put"), keys, values)
del_op = st.tuples(st.just("del"), keys, st.just(b""))
span_op = st.tuples(st.just("span"), keys, keys)
ops = st.lists(st.one_of(put_op, put_op, put_op, del_op, span_op), max_size=60)
batches = st.lists(ops, min_size=1, max_size=6)
initial = st.dictionaries(keys, values, max_size=300)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def apply(model: SortedDict, batch_ops) -> Batch:
    """Apply ops to the model in order and return the equivalent Batch."""
    b = Batch()
    for op, k, v in batch_ops:
        if op == "put":
            model[k] = v
            b.put(k, v)
        elif op == "del":
            model.pop(k, None)
            b.delete(k)
        else:
            lo, hi = min(k, v), max(k, v)
            for key in list(model.irange(lo, hi, inclusive=(True, False))):
                del model[key]
            b.delete_span(Span(lo, hi))
    return b


shapes = st.sampled_from(SHAPES)


@SETTINGS
@given(shapes, initial, batches)
def test_history_independence_and_model(shape, start, steps):
    kv = make_kv(shape)
    model = SortedDict(start)
    root = kv.build(model.items())
    history = [(root, list(model.items()))]
    for step in steps:
        root = kv.mutate(root, apply(model, step))
        kv.check(root)
        assert list(kv.iterate(root)) == list(model.items())
        assert root == kv.build(model.items()), "mutate and a fresh build disagree"
        history.append((root, list(model.items())))
    for old_root, old_items in history:
        assert list(kv.iterate(old_root)) == old_items


@SETTINGS
@given(shapes, initial, st.lists(keys, max_size=30), st.lists(st.tuples(st.one_of(st.none(), keys), st.one_of(st.none(), keys)), max_size=10))
def test_reads_match_model(shape, start, probes, spans):
    kv = make_kv(shape)
    model = SortedDict(start)
    root = kv.build(model.items())
    for k in probes:
        assert kv.get(root, k, None) == model.get(k)
        if k not in model:
            try:
                kv.get(root, k)
            except KeyNotFound:
                pass
            else:
                raise AssertionError("get of a missing key must raise KeyNotFound")
        nxt = next(iter(model.irange(minimum=k)), None)
        assert kv.seek(root, k) == ((nxt, model[nxt]) if nxt is not None else None)
    for lo, hi in spans:
        if lo is not None and hi is not None and hi < lo:
            lo, hi = hi, lo
        expect = [(k, model[k]) for k in model.irange(lo, hi, inclusive=(True, False))]
        assert list(kv.iterate(root, Span(lo, hi))) == expect
        assert list(kv.iterate(root, Span(lo, hi), reverse=True)) == expect[::-1]


@SETTINGS
@given(shapes, initial, ops)
def test_diff_equals_naive_diff(shape, start, change):
    kv = make_kv(shape)
    model = SortedDict(start)
    a = kv.build(model.items())
    before = dict(model)
    b = kv.mutate(a, apply(model, change))
    after = dict(model)
    naive = sorted(
        (k, before.get(k), after.get(k))
        for k in before.keys() | after.keys()
        if before.get(k) != after.get(k)
    )
    got = [(c.key, c.old, c.new) for c in kv.diff(a, b)]
    assert got == naive
    back = [(c.key, c.new, c.old) for c in kv.diff(b, a)]
    assert back == naive


def test_empty_tree_is_canonical():
    kv = make_kv()
    e = kv.empty()
    assert kv.build([]) == e
    r = kv.put(e, b"k", b"v")
    assert kv.delete(r, b"k") == e
    assert list(kv.iterate(e)) == []
    assert kv.seek(e, b"") is None


def test_params_change_the_tree():
    from gotkv import Params
    a = make_kv().build([(b"%05d" % i, b"v") for i in range(500)])
    other = Params(salt=bytes(32), target_node_size=256, max_node_size=1024)
    b = make_kv(other).build([(b"%05d" % i, b"v") for i in range(500)])
    assert a != b


@pytest.mark.parametrize("shape", SHAPES)
def test_inserts_into_capped_leaves_match_fresh_build(shape):
    """Insert one entry into each leaf of a tree whose leaves end at the size cap: the
    re-fed untouched entries must then be cut by the cap exactly where a fresh build cuts."""
    kv = make_kv(shape)
    model = SortedDict((b"%06d" % (i * 10), bytes(40)) for i in range(2000))
    root = kv.build(model.items())
    rnd = random.Random(5)
    for _ in range(40):
        k = b"%06d" % (rnd.randrange(20000) * 10 + 5)
        model[k] = bytes(rnd.randrange(60))
        root = kv.put(root, k, model[k])
        assert root == kv.build(model.items())


def test_a_delete_that_leaves_only_the_last_keys_collapses_the_root():
    """Found by the property above: deleting all but the tree's last key left the old
    rightmost index node, which had ended with one child, as the root. The root must be what
    a fresh build gives (here a leaf), and check_tree must pass."""
    shape = next(s for s in SHAPES if s.target_node_size == 256 and s.max_node_size == 1024)
    kv = make_kv(shape)
    b = Batch()
    for k, v in ((b"F", bytes(4)), (b"G", b""), (bytes(12), b"")):
        b.put(k, v)
    root = kv.mutate(kv.build([]), b)
    assert root.depth == 2  # the shape this needs: an index level over a one-child rightmost node
    cut = Batch()
    cut.delete_span(Span(b"", b"G"))
    root = kv.mutate(root, cut)
    kv.check(root)
    assert root == kv.build([(b"G", b"")]) and root.depth == 0
