"""sync and reachable: walking the blobs a tree depends on.

Trees refer to two kinds of blobs: their own nodes, and whatever the caller's values point at
(gotfs extents point at data blobs). A `value_refs(key, value)` callback names the latter; the
walks here know nothing about what values mean.

sync copies children before their parent, so a store that holds a node always holds its whole
subtree: finding a node in the destination lets the walk skip that subtree unread, and an
interrupted sync never leaves a node whose children are missing.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from gotkv.blobs.codec import Codec, content_id
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.errors import IntegrityError
from gotkv.node import decode
from gotkv.nodestore import NodeStore
from gotkv.root import Root

if TYPE_CHECKING:  # imported where used: commands that never sync do not pay for it
    from concurrent.futures import ThreadPoolExecutor

ValueRefs = Callable[[bytes, bytes], Iterable[Ref]]
Arrived = Callable[[Mapping[bytes, bytes], bool], None]
_READERS = 4  # threads reading data blobs for sync (reads and BLAKE3 release the GIL)
_READ_AHEAD = 8  # data blobs read ahead of the one being posted
_BATCHES_AHEAD = 3  # copy_missing's get_many batches in flight while it writes


def _no_refs(key: bytes, value: bytes) -> Iterable[Ref]:
    return ()


def copy_blob(src: Store, dst: Store, cid: bytes) -> None:
    """Copy one stored blob, verifying its hash on the way."""
    dst.post(_read_verified(src, cid), cid)


def sync(nodes: NodeStore, root: Root, dst: Store, value_refs: ValueRefs = _no_refs, *, flush: bool = True) -> int:
    """Copy into `dst` every blob of `root` it lacks; return how many were copied.
    flush=False leaves making them durable to the caller (a push flushes once, at its end).

    Data blobs are read (and re-hashed) a few at a time on threads, so reading a cold source
    overlaps with posting; they are posted in the tree's order all the same, so two syncs of
    one tree post alike (a rerun of an interrupted push builds the same packs)."""
    src = nodes.store
    copied = 0

    def visit(ref: Ref, pool: ThreadPoolExecutor) -> None:
        nonlocal copied
        node = nodes.load(ref)
        if node.level:
            children = [Ref.from_bytes(v) for v in node.values]
            have = dst.exists(r.cid for r in children)
            for child in children:
                if child.cid not in have:
                    visit(child, pool)
        else:
            # in the leaf's key order, which is the order a reader of the tree wants them in
            data = list(dict.fromkeys(r.cid for k, v in zip(node.keys, node.values) for r in value_refs(k, v)))
            have = dst.exists(data)
            for cid, blob in _read_ahead(pool, src, [c for c in data if c not in have]):
                dst.post(blob, cid)
                copied += 1
        copy_blob(src, dst, ref.cid)
        copied += 1

    if not dst.exists([root.ref.cid]):
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_READERS, thread_name_prefix="got-sync-read") as pool:
            visit(root.ref, pool)
    if flush:
        dst.flush()
    return copied


def _read_ahead(pool: ThreadPoolExecutor, src: Store, cids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """(cid, verified bytes) in the order of `cids`, with up to _READ_AHEAD reads in flight."""
    window: deque = deque()
    for cid in cids:
        window.append((cid, pool.submit(_read_verified, src, cid)))
        if len(window) >= _READ_AHEAD:
            cid0, future = window.popleft()
            yield cid0, future.result()
    while window:
        cid0, future = window.popleft()
        yield cid0, future.result()


def _read_verified(src: Store, cid: bytes) -> bytes:
    data = src.get(cid)
    if content_id(data) != cid:
        raise IntegrityError(f"blob {cid.hex()[:12]}", "content hash does not match its id")
    return data


def reachable(nodes: NodeStore, roots: Iterable[Root], value_refs: ValueRefs = _no_refs) -> set[bytes]:
    """Content ids of every node and value-referenced blob reachable from `roots`."""
    seen: set[bytes] = set()
    for root in roots:
        stack = [root.ref]
        while stack:
            ref = stack.pop()
            if ref.cid in seen:
                continue
            seen.add(ref.cid)
            node = nodes.load(ref)
            if node.level:
                stack.extend(Ref.from_bytes(v) for v in node.values)
            else:
                for k, v in zip(node.keys, node.values):
                    seen.update(r.cid for r in value_refs(k, v))
    return seen


def copy_missing(codec: Codec, src: Store, dst: Store, roots: Iterable[Root], value_refs: ValueRefs = _no_refs,
                 *, batch_bytes: int = 32 << 20, progress: Callable[[int, int, int], None] | None = None,
                 arrived: Arrived | None = None) -> int:
    """Copy into `dst` every blob of `roots` it lacks, reading `src` in bulk; return how many.

    For a store where every read is a request (a remote), `sync`'s one get per blob would
    cost one round trip each. Here the walk goes a tree level at a time: each level's
    missing nodes are one `get_many`, and data blobs go in `get_many` batches of about
    `batch_bytes` (so memory stays bounded), which a remote store turns into one coalesced
    request per pack. Subtrees whose root node `dst` holds are skipped unread.

    Children are posted before parents, as `sync` does: data blobs as they arrive, nodes by
    height (leaves first) once the walk ends, so an interrupted copy never leaves `dst` a node
    whose subtree is incomplete, and a rerun resumes where it stopped. `src` verifies what it
    returns (a remote store checks each blob's id; the codec checks each node's tag).
    `progress(blobs, bytes, expected)` is called as blobs are copied; `expected` is the bytes
    of everything found missing so far (data by the sizes `src` knows), which is the whole
    once the walk reaches the leaves, as data is copied last. `arrived(blobs, posted)` is
    called with what each bulk read brought, verified: a level's nodes as they are read
    (posted=False: they reach `dst` only at the end), then each data batch once it is posted
    to `dst` (posted=True), so a reader can work on the trees while their data still arrives.
    """
    nodes_by_height: dict[int, list[tuple[bytes, bytes]]] = {}
    counts = [0, 0, 0]  # blobs copied, their bytes, bytes expected

    def copied(n: int, nbytes: int) -> None:
        counts[0] += n
        counts[1] += nbytes
        counts[2] = max(counts[2], counts[1])
        if progress:
            progress(counts[0], counts[1], counts[2])

    wanted = {r.ref.cid: r.ref for r in roots}
    level = [wanted[c] for c in set(wanted) - dst.exists(wanted)]
    seen: set[bytes] = set(wanted)
    while level:
        stored = src.get_many(r.cid for r in level)
        children: dict[bytes, Ref] = {}
        data: dict[bytes, Ref] = {}
        level_nodes: dict[bytes, bytes] = {}
        for ref in level:
            node = decode(codec.decode(ref, stored[ref.cid]), f"node {ref.short()}")
            # kept until the end: a copy, so as not to pin the whole response a view is of
            level_nodes[ref.cid] = bytes(stored[ref.cid])
            nodes_by_height.setdefault(node.level, []).append((ref.cid, level_nodes[ref.cid]))
            if node.level:
                for v in node.values:
                    child = Ref.from_bytes(v)
                    children.setdefault(child.cid, child)
            else:
                for k, v in zip(node.keys, node.values):
                    for r in value_refs(k, v):
                        data.setdefault(r.cid, r)
        if arrived:
            arrived(level_nodes, False)
        counts[2] += sum(len(d) for d in level_nodes.values())
        data_todo = [c for c in data if c not in seen]
        seen.update(data_todo)
        present = dst.exists(data_todo)
        counts[2] += sum(src.stored_size(c) or 0 for c in data_todo if c not in present)
        _copy_batches(src, dst, [c for c in data_todo if c not in present], batch_bytes, copied, arrived)
        fresh = [c for c in children if c not in seen]
        seen.update(fresh)
        have = dst.exists(fresh)
        level = [children[c] for c in fresh if c not in have]
    for height in sorted(nodes_by_height):
        for cid, data in nodes_by_height[height]:
            dst.post(data, cid)
        copied(len(nodes_by_height[height]), sum(len(d) for _, d in nodes_by_height[height]))
    dst.flush()
    return counts[0]


def _copy_batches(src: Store, dst: Store, cids: list[bytes], batch_bytes: int,
                  copied: Callable[[int, int], None], arrived: Arrived | None) -> None:
    """get_many in batches of about `batch_bytes` (by the sizes the store knows) and post
    each; the next batches are fetched while the last one is written, so a remote source's
    network time and the destination's disk time overlap."""
    batches: list[list[bytes]] = [[]]
    size = 0
    for cid in cids:
        batches[-1].append(cid)
        size += src.stored_size(cid) or (1 << 20)
        if size >= batch_bytes:
            batches.append([])
            size = 0
    batches = [b for b in batches if b]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(_BATCHES_AHEAD, thread_name_prefix="got-copy-ahead") as ahead:
        pending = deque(ahead.submit(src.get_many, b) for b in batches[:_BATCHES_AHEAD])
        for i, batch in enumerate(batches):
            blobs = pending.popleft().result()
            if i + _BATCHES_AHEAD < len(batches):
                pending.append(ahead.submit(src.get_many, batches[i + _BATCHES_AHEAD]))
            for c in batch:
                dst.post(blobs[c], c)
            copied(len(batch), sum(len(blobs[c]) for c in batch))
            if arrived:
                arrived(blobs, True)
