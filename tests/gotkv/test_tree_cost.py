"""mutate and diff cost O(changes x depth), counted in nodes, on a 1M-entry tree."""

import random

import pytest

from gotkv import KV, Batch, Codec, MemoryStore, Params


@pytest.fixture(scope="module")
def big():
    kv = KV(MemoryStore(), Params(salt=b"k" * 32), codec=Codec(b"s" * 32))
    rnd = random.Random(7)
    keys = [b"/src/pkg%04d/file%07d.py/" % (i // 1000, i) for i in range(1_000_000)]
    root = kv.build((k, rnd.randbytes(80)) for k in keys)
    return kv, keys, root


@pytest.mark.parametrize("k", [1, 10, 100])
def test_mutate_writes_O_k_depth_nodes(big, k):
    kv, keys, root = big
    rnd = random.Random(k)
    batch = Batch()
    for key in rnd.sample(keys, k):
        batch.put(key, b"changed")
    kv.nodes.reset_counters()
    new = kv.mutate(root, batch)
    levels = root.depth + 1
    written = kv.nodes.saves
    # Each change rewrites at most its path plus a short resync run on each level.
    assert written <= k * levels * 3, (written, k, levels)
    assert written >= levels - 1  # at least a new path to the root
    kv.nodes.reset_counters()
    changes = list(kv.diff(root, new))
    assert len(changes) == k
    assert kv.nodes.loads <= 10 * k * levels * 2, kv.nodes.loads


def test_delete_span_of_many_entries_reads_few_nodes(big):
    kv, keys, root = big
    from gotkv import Span
    kv.nodes.reset_counters()
    new = kv.delete_span(root, Span(keys[100_000], keys[600_000]))
    assert kv.nodes.loads < 200, kv.nodes.loads
    assert kv.get(new, keys[99_999]) and kv.get(new, keys[600_000])
    assert kv.get(new, keys[300_000], None) is None


def test_a_cleared_node_cache_means_cold_reads_even_of_the_root(big):
    kv, keys, root = big
    kv.get(root, keys[5])
    kv.nodes.reset_counters()
    kv.get(root, keys[6])
    assert kv.nodes.fetches == 0  # warm: root at hand, the rest cached
    kv.nodes.cache.clear()
    kv.get(root, keys[7])
    assert kv.nodes.fetches == root.depth + 1  # every level fetched again, the root too
