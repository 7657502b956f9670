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

Costs are counted in nodes (~8-16 KiB blobs) read from or written to the store; a node read
is often served by the node cache instead. depth is the tree's height, logarithmic in its
number of entries. Every method that reads a tree may raise BlobNotFound (a node is missing
from the store), IntegrityError (a node fails its hash or tag) or CorruptNode (it verifies but
is malformed); all are GotError subclasses from gotkv.errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from gotkv import read
from gotkv.blobs.codec import Codec
from gotkv.blobs.store import Store
from gotkv.boundary import Boundary
from gotkv.cache import LRU, NodeCache
from gotkv.edit import Batch, Span
from gotkv.errors import CorruptNode, KeyNotFound
from gotkv.nodestore import NodeStore
from gotkv.params import Params
from gotkv.root import Root

if TYPE_CHECKING:
    from gotkv.builder import Builder
    from gotkv.diff import Change
    from gotkv.sync import ValueRefs

# The modules that build, diff, copy and check trees are imported by the methods that use
# them: a process that only reads (`got cat`) never loads them.

_MISSING = read._MISSING


class KV:
    """Operations on gotkv trees stored in one blob store.

    Holds configuration and the node cache, never a tree, and is safe to share between
    threads. Invariants every method keeps: a tree is never modified (writes return a new
    Root, and the old one stays readable and unchanged); the same entries under the same
    params and codec give the same Root, whatever the edits that led to them.
    """

    def __init__(self, store: Store, params: Params = Params(), *, codec: Codec | None = None,
                 cache: LRU | None = None):
        self.params = params
        self.boundary = Boundary(params)
        self.nodes = NodeStore(store, codec if codec is not None else Codec(),
                               cache if cache is not None else NodeCache())

    @property
    def store(self) -> Store:
        """The blob store holding the nodes."""
        return self.nodes.store

    # -- building and changing ---------------------------------------------------------

    def builder(self) -> Builder:
        """A Builder for streaming sorted entries into a new tree (see build)."""
        from gotkv.builder import Builder

        return Builder(self.nodes, self.boundary)

    def empty(self) -> Root:
        """The empty tree (an empty leaf; the same root in every store with these params).
        Cost: one node write."""
        return self.builder().finish()

    def build(self, entries: Iterable[tuple[bytes, bytes]]) -> Root:
        """A new tree of `entries`, which must come in strictly increasing key order.

        Cost: O(n) node writes (n / entries per node), streaming: memory holds one node per
        level. Raises InvalidInput for entries out of order, InvalidKey / InvalidValue for
        keys or values that are not bytes or are over the limits.
        """
        b = self.builder()
        b.extend(entries)
        return b.finish()

    def mutate(self, root: Root, batch: Batch) -> Root:
        """`root` with `batch` applied, as a new Root; `root` itself is unchanged.

        Cost: O(changes x depth) nodes read and written: only the paths to the edits, plus a
        short run where node boundaries fall back into step; a span delete drops the nodes
        wholly inside the span unread. An empty batch returns `root` at no cost. (Bad keys
        and values are refused by the Batch as they are added: InvalidKey, InvalidValue.)
        """
        from gotkv import mutate

        return mutate.mutate(self.nodes, self.builder(), root, batch)

    def put(self, root: Root, key: bytes, value: bytes) -> Root:
        """`root` with `key` set to `value`. Cost: O(depth) nodes read and written. Raises
        InvalidKey / InvalidValue for bad input. For many edits, one mutate of a Batch."""
        return self.mutate(root, Batch().put(key, value))

    def delete(self, root: Root, key: bytes) -> Root:
        """`root` without `key` (absent is no error; the result is then an equal root).
        Cost: O(depth) nodes read and written. Raises InvalidKey for a bad key."""
        return self.mutate(root, Batch().delete(key))

    def delete_span(self, root: Root, span: Span) -> Root:
        """`root` without the keys in `span`. Cost: O(depth) nodes read and written at the
        span's two edges, whatever the number of keys removed."""
        return self.mutate(root, Batch().delete_span(span))

    # -- reading -----------------------------------------------------------------------

    def get(self, root: Root, key: bytes, default=_MISSING) -> bytes:
        """The value at `key`, or `default` if given. Cost: O(depth) node reads. Raises
        KeyNotFound if the key is absent and no default is given."""
        value = read.get(self.nodes, root, key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyNotFound(key)
            return default
        return value

    def seek(self, root: Root, key: bytes) -> tuple[bytes, bytes] | None:
        """The first entry with a key >= `key`, or None. Cost: O(depth) node reads."""
        return next(read.iterate(self.nodes, root, Span(key, None)), None)

    def iterate(self, root: Root, span: Span = Span(), *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Entries in `span` in key order (descending with reverse=True), lazily.
        Cost: O(depth + entries yielded) node reads, spread over the iteration."""
        return read.iterate(self.nodes, root, span, reverse)

    def count(self, root: Root, span: Span = Span()) -> int:
        """How many entries `span` holds. Cost: O(depth + count) node reads (it iterates)."""
        return sum(1 for _ in self.iterate(root, span))

    def diff(self, a: Root, b: Root) -> Iterator[Change]:
        """Changes from `a` to `b` in key order, lazily, skipping shared subtrees.
        Cost: O(changes x depth) node reads, never O(size): a subtree with the same ref on
        both sides is skipped unread."""
        from gotkv import diff

        return diff.diff(self.nodes, a, b)

    # -- blobs -------------------------------------------------------------------------

    def sync(self, root: Root, dst: Store, value_refs: ValueRefs | None = None, *, flush: bool = True) -> int:
        """Copy the blobs of `root` that `dst` lacks; return how many. Cost: one exists() per
        node copied and one read per blob copied; subtrees `dst` holds are skipped unread.

        `value_refs(key, value)` names the blobs a value points at (gotfs: data chunks; None:
        values point at none).
        Children are copied before their parent, so `dst` never holds a node without its
        subtree, even after an interrupted sync. flush=False leaves making the copies durable
        to the caller. Raises IntegrityError for a source blob that fails its hash, and what
        `dst` raises.
        """
        from gotkv import sync

        return sync.sync(self.nodes, root, dst, value_refs or sync._no_refs, flush=flush)

    def reachable(self, roots: Iterable[Root], value_refs: ValueRefs | None = None) -> set[bytes]:
        """Every content id the trees at `roots` depend on (nodes, and the blobs
        `value_refs` names), for gc and fsck. Cost: one read of every node of every tree,
        each shared subtree once: O(total nodes)."""
        from gotkv import sync

        return sync.reachable(self.nodes, roots, value_refs or sync._no_refs)

    def check(self, root: Root, *, rebuild: bool = False) -> int:
        """Verify every invariant of a tree (CorruptNode on failure); return its entry count.

        Cost: one read of every node, O(size). rebuild=True also rebuilds the tree from its
        entries and compares roots (O(size) node writes), which proves history independence
        for this tree outright.
        """
        from gotkv import check

        n = check.check_tree(self.nodes, self.boundary, root)
        if rebuild and self.build(self.iterate(root)) != root:
            raise CorruptNode(f"root {root.ref.short()}", "a fresh build of its entries gives another root")
        return n
