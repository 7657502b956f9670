"""KV: the gotkv API — an immutable sorted map of bytes to bytes in a blob store.

A KV holds configuration only (store, codec, tree shape, node cache); every tree is a Root
value passed in and returned. Operations never modify a tree: `mutate` returns a new Root and
the old one stays readable and unchanged (invariant 2), and equal entry sets always have equal
roots, however they were reached (invariant 1).

    kv = KV(MemoryStore())
    t0 = kv.build([(b"a", b"1"), (b"b", b"2")])
    t1 = kv.mutate(t0, Batch().put(b"c", b"3").delete(b"a"))
    list(kv.diff(t0, t1))   # [Change(b'a', b'1', None), Change(b'c', None, b'3')]

Costs: get/seek O(depth) node loads; iterate O(depth + n); mutate and diff O(changes x depth)
node reads and writes; build O(n). Limits: keys up to 4 KiB, values up to 256 KiB.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from gotkv import check, diff as _diff, mutate as _mutate, read, sync as _sync
from gotkv.blobs.codec import Codec
from gotkv.blobs.store import Store
from gotkv.boundary import Boundary
from gotkv.builder import Builder
from gotkv.cache import LRU, NodeCache
from gotkv.diff import Change
from gotkv.edit import Batch, Span
from gotkv.errors import CorruptNode, KeyNotFound
from gotkv.nodestore import NodeStore
from gotkv.params import Params
from gotkv.root import Root
from gotkv.sync import ValueRefs, _no_refs

_MISSING = read._MISSING


class KV:
    """Operations on gotkv trees stored in one blob store."""

    def __init__(self, store: Store, params: Params = Params(), *, codec: Codec | None = None,
                 cache: LRU | None = None):
        self.params = params
        self.boundary = Boundary(params)
        self.nodes = NodeStore(store, codec if codec is not None else Codec(),
                               cache if cache is not None else NodeCache())

    @property
    def store(self) -> Store:
        return self.nodes.store

    # -- building and changing ---------------------------------------------------------

    def builder(self) -> Builder:
        """A Builder for streaming sorted entries into a new tree."""
        return Builder(self.nodes, self.boundary)

    def empty(self) -> Root:
        """The empty tree (an empty leaf; the same root in every store with these params)."""
        return self.builder().finish()

    def build(self, entries: Iterable[tuple[bytes, bytes]]) -> Root:
        """A tree of `entries`, which must come in strictly increasing key order. O(n)."""
        b = self.builder()
        b.extend(entries)
        return b.finish()

    def mutate(self, root: Root, batch: Batch) -> Root:
        """`root` with `batch` applied; O(changes x depth) nodes read and written."""
        return _mutate.mutate(self.nodes, self.builder(), root, batch)

    def put(self, root: Root, key: bytes, value: bytes) -> Root:
        return self.mutate(root, Batch().put(key, value))

    def delete(self, root: Root, key: bytes) -> Root:
        return self.mutate(root, Batch().delete(key))

    def delete_span(self, root: Root, span: Span) -> Root:
        return self.mutate(root, Batch().delete_span(span))

    # -- reading -----------------------------------------------------------------------

    def get(self, root: Root, key: bytes, default=_MISSING) -> bytes:
        """The value at `key`. Raises KeyNotFound unless a default is given."""
        value = read.get(self.nodes, root, key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyNotFound(key)
            return default
        return value

    def seek(self, root: Root, key: bytes) -> tuple[bytes, bytes] | None:
        """The first entry with a key >= `key`, or None."""
        return next(read.iterate(self.nodes, root, Span(key, None)), None)

    def iterate(self, root: Root, span: Span = Span(), *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Entries in `span` in key order (descending with reverse=True)."""
        return read.iterate(self.nodes, root, span, reverse)

    def count(self, root: Root, span: Span = Span()) -> int:
        return sum(1 for _ in self.iterate(root, span))

    def diff(self, a: Root, b: Root) -> Iterator[Change]:
        """Changes from `a` to `b` in key order, skipping shared subtrees."""
        return _diff.diff(self.nodes, a, b)

    # -- blobs -------------------------------------------------------------------------

    def sync(self, root: Root, dst: Store, value_refs: ValueRefs = _no_refs, *, flush: bool = True) -> int:
        """Copy the blobs of `root` that `dst` lacks; return how many. Cost: one exists() per
        node copied and one read per blob copied; subtrees `dst` holds are skipped unread."""
        return _sync.sync(self.nodes, root, dst, value_refs, flush=flush)

    def reachable(self, roots: Iterable[Root], value_refs: ValueRefs = _no_refs) -> set[bytes]:
        """Every content id the trees at `roots` depend on."""
        return _sync.reachable(self.nodes, roots, value_refs)

    def check(self, root: Root, *, rebuild: bool = False) -> int:
        """Verify every invariant of a tree (CorruptNode on failure); return its entry count."""
        n = check.check_tree(self.nodes, self.boundary, root)
        if rebuild and self.build(self.iterate(root)) != root:
            raise CorruptNode(f"root {root.ref.short()}", "a fresh build of its entries gives another root")
        return n
