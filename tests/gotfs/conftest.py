"""Shared helpers for the gotfs tests: small trees and small chunks so that a few hundred KiB
of data make multi-level gotkv trees and many extents."""

from __future__ import annotations

import random

from gotfs import FS
from gotfs import keys
from gotfs.chunking import ChunkParams
from gotfs.extent import Extent
from gotkv import MemoryStore, Params, Span

SMALL_CHUNKS = ChunkParams(avg_size=4096, min_size=1024, max_size=16384)
SMALL_TREE = Params(salt=bytes(range(32)), target_node_size=512, max_node_size=2048)
SECRET = b"gotfs test secret..............."[:32]


def make_fs(store=None, *, secret: bytes | None = SECRET, chunks: ChunkParams | None = SMALL_CHUNKS,
            params: Params = SMALL_TREE) -> FS:
    return FS(store if store is not None else MemoryStore(), secret=secret, params=params,
              chunk_params=chunks)


def rand_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def extents_of(fs: FS, root, path) -> list[tuple[int, int, Extent]]:
    """(start, end, Extent) of a file, straight from the gotkv entries."""
    p = keys.parse_path(path)
    out = []
    for k, v in fs.kv.iterate(root, keys.extents_span(p)):
        e = Extent.from_bytes(v)
        end = keys.extent_end(k)
        out.append((end - e.length, end, e))
    return out


def data_cids(fs: FS, root) -> set[bytes]:
    """The content ids of every data blob any extent of the tree points at."""
    return {Extent.from_bytes(v).ref.cid for k, v in fs.kv.iterate(root, Span())
            if keys.is_extent_key(k)}
