"""gotkv benchmark: build, get, mutate and diff on a 1M-entry tree (quick: 50k).

Entries are path-like keys of ~32 bytes (b"/src/module00042/file0004217.py/", 100 files per
module, sorted) with 80-byte random values, in a KV over a MemoryStore with an encrypting Codec,
so every node saved or fetched pays zstd + ChaCha20-Poly1305 + BLAKE3, as in a real repo.

Figures (targets from the design):
  build            entries/s from a sorted list into an empty store (median of runs)
  get_warm         random gets/s with every node of the tree in the node cache
  get_default_cache random gets/s with the default 64 MiB node cache (informational: a 1M
                   tree's decoded leaves do not fit, so some gets fetch and decode a node)
  mutate_1000      seconds for one batch of 990 puts of new values to random existing keys and
                   10 new keys (median of runs, warm cache); mutate_nodes_written = saves
  diff_cold/_warm  ms to diff two trees differing in 10 keys, node cache cleared first / warm;
                   diff_nodes_read = node loads of a cold diff, target 10 x levels x 2
  depth, nodes, mean_node_size, bytes_per_entry: the shape of the tree and what it costs
"""

from __future__ import annotations

import os
import random
import statistics

from benchmarks.harness import Figure, median, timed
from gotkv import KV, Batch, Codec, MemoryStore
from gotkv.cache import NodeCache

SEED = 0x60716B76
VALUE_SIZE = 80
FILES_PER_MODULE = 100
WARM_CACHE_BYTES = 2 << 30  # holds every decoded node of a 1M-entry tree (~200 MiB)


def make_key(i: int, module: int | None = None) -> bytes:
    m = i // FILES_PER_MODULE if module is None else module
    return b"/src/module%05d/file%07d.py/" % (m, i)


def make_entries(n: int, rng: random.Random) -> list[tuple[bytes, bytes]]:
    blob = rng.randbytes(VALUE_SIZE * n)
    return [(make_key(i), blob[i * VALUE_SIZE:(i + 1) * VALUE_SIZE]) for i in range(n)]


def make_kv(store: MemoryStore, codec: Codec, cache_bytes: int | None = None) -> KV:
    """A KV whose node cache holds `cache_bytes` (None: the KV's default cache)."""
    if cache_bytes is None:
        return KV(store, codec=codec)
    cache = NodeCache(cache_bytes)
    kv = KV(store, codec=codec, cache=cache)
    # KV.__init__ takes `cache or NodeCache()`, and an empty LRU (it has __len__) is falsy,
    # so a fresh cache passed in is silently replaced by the 64 MiB default: install ours.
    kv.nodes.cache = cache
    return kv


def stored_bytes(store: MemoryStore) -> int:
    return sum(len(store.get(cid)) for cid in store.list())


def mutate_batch(rng: random.Random, keys: list[bytes], n: int, puts: int, adds: int) -> Batch:
    """`puts` new values at random existing keys plus `adds` new keys among them."""
    batch = Batch()
    for k in rng.sample(keys, puts):
        batch.put(k, rng.randbytes(VALUE_SIZE))
    for j in range(adds):
        batch.put(make_key(n + j, module=rng.randrange(n) // FILES_PER_MODULE), rng.randbytes(VALUE_SIZE))
    return batch


def run(quick: bool) -> list[Figure]:
    n = 50_000 if quick else 1_000_000
    n_gets = 20_000 if quick else 200_000
    build_runs = 3
    mutate_runs = 5
    diff_runs = 5
    rng = random.Random(SEED)
    codec = Codec(secret=os.urandom(32))
    entries = make_entries(n, rng)
    keys = [k for k, _ in entries]
    figs: list[Figure] = []

    # -- build: a fresh store each run; keep the last tree ----------------------------
    times = []
    for _ in range(build_runs):
        store = MemoryStore()
        kv = make_kv(store, codec, WARM_CACHE_BYTES)
        dt, root = timed(lambda: kv.build(entries))
        times.append(dt)
    t_build = statistics.median(times)
    figs.append(Figure("build", n / t_build, "entries/s", 300_000, "higher",
                       f"{n:,} entries in {t_build:.2f} s (median of {build_runs})"))

    levels = root.depth + 1
    node_count = len(store)
    total = stored_bytes(store)
    figs.append(Figure("depth", levels, "levels", note=f"root.depth={root.depth}"))
    figs.append(Figure("nodes", node_count, "nodes", note=f"{n / node_count:.1f} entries/node overall"))
    figs.append(Figure("mean_node_size", total / node_count, "B", note="stored: zstd + AEAD"))
    figs.append(Figure("bytes_per_entry", total / n, "B/entry",
                       note=f"{total / 2**20:.1f} MiB stored; raw key+value ~{len(keys[0]) + VALUE_SIZE} B"))

    # -- random gets with a warm cache (the build left every node in it) -----------------
    sample = [keys[i] for i in rng.choices(range(n), k=n_gets)]
    get = kv.get

    def gets() -> None:
        for k in sample:
            get(root, k)

    f0 = kv.nodes.fetches
    t_get = median(timed(gets)[0] for _ in range(3))
    misses = kv.nodes.fetches - f0
    figs.append(Figure("get_warm", n_gets / t_get, "gets/s", 100_000, "higher",
                       f"{n_gets:,} random keys, {misses} node fetches (cache holds the tree)"))

    # -- the same with the default node cache size ---------------------------------------
    kv_default = make_kv(store, codec)
    get_d = kv_default.get
    for k in sample:  # warm it as far as it can be
        get_d(root, k)
    f0 = kv_default.nodes.fetches
    l0 = kv_default.nodes.loads

    def gets_default() -> None:
        for k in sample:
            get_d(root, k)

    t_get_d = timed(gets_default)[0]
    fetched = kv_default.nodes.fetches - f0
    loaded = kv_default.nodes.loads - l0
    figs.append(Figure("get_default_cache", n_gets / t_get_d, "gets/s",
                       note=f"64 MiB NodeCache; {fetched / max(loaded, 1):.0%} of node loads missed"))
    del kv_default, get_d

    # -- a 1,000-key random mutate batch (warm cache) ----------------------------------
    times, saves = [], []
    for _ in range(mutate_runs):
        batch = mutate_batch(rng, keys, n, 990, 10)
        s0 = kv.nodes.saves
        dt, new_root = timed(lambda: kv.mutate(root, batch))
        times.append(dt)
        saves.append(kv.nodes.saves - s0)
    t_mut = statistics.median(times)
    figs.append(Figure("mutate_1000", t_mut, "s", 0.2, "lower",
                       f"990 puts + 10 new keys, median of {mutate_runs}; depth {levels} levels"))
    figs.append(Figure("mutate_nodes_written", statistics.median(saves), "nodes",
                       note=f"{statistics.median(saves) / 1000:.2f} per changed key"))

    # -- diff of two trees differing in 10 keys --------------------------------------
    other = kv.mutate(root, mutate_batch(rng, keys, n, 10, 0))
    cold, loads, fetches = [], [], []
    changes = 0
    for _ in range(diff_runs):
        kv.nodes.cache.clear()
        l0, f0 = kv.nodes.loads, kv.nodes.fetches
        dt, out = timed(lambda: list(kv.diff(root, other)))
        cold.append(dt)
        loads.append(kv.nodes.loads - l0)
        fetches.append(kv.nodes.fetches - f0)
        changes = len(out)
    if changes != 10:
        raise AssertionError(f"diff found {changes} changes, expected 10")
    warm = [timed(lambda: list(kv.diff(root, other)))[0] for _ in range(diff_runs)]
    nodes_read = statistics.median(loads)
    bound = 10 * levels * 2
    figs.append(Figure("diff_cold", statistics.median(cold) * 1000, "ms", 20, "lower",
                       f"10 changed keys, node cache cleared; {statistics.median(fetches):.0f} fetches"))
    figs.append(Figure("diff_warm", statistics.median(warm) * 1000, "ms", 20, "lower",
                       "same diff, nodes cached"))
    figs.append(Figure("diff_nodes_read", nodes_read, "nodes", bound, "lower",
                       f"cold diff; bound 10 changes x {levels} levels x 2 trees"))
    return figs
