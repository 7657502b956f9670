"""gotkv: an immutable copy-on-write prolly tree over content-addressed, encrypted blobs.

Layering, bottom up:
- foundations, used by every layer and importing nothing of got's but each other: `errors`
  (GotError, the one error root of the project), `osio` (whole writes), `connections` and
  `dbfile` (SQLite per thread, damaged and full files), `lazy` (package exports on first use);
- `gotkv.blobs` (refs, codec, stores): knows nothing of trees, uses only the foundations;
- the tree modules (params, root, node, boundary, builder, edit, overlay, mutate, read, diff,
  sync, check, cache, nodestore) use blobs and the foundations; `KV` ties them together.
Nothing here knows about files: that is gotfs, one layer up.
"""

from gotkv.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Codec": "gotkv.blobs.codec",
    "LocalStore": "gotkv.blobs.local",
    "MemoryStore": "gotkv.blobs.memory",
    "Ref": "gotkv.blobs.ref",
    "Store": "gotkv.blobs.store",
    "Change": "gotkv.diff",
    "Batch": "gotkv.edit",
    "Span": "gotkv.edit",
    "GotError": "gotkv.errors",
    "KV": "gotkv.kv",
    "MAX_KEY_SIZE": "gotkv.params",
    "MAX_VALUE_SIZE": "gotkv.params",
    "Params": "gotkv.params",
    "Root": "gotkv.root",
})

__all__ = ["KV", "Batch", "Span", "Change", "Root", "Ref", "Params", "Codec", "Store",
           "MemoryStore", "LocalStore", "GotError", "MAX_KEY_SIZE", "MAX_VALUE_SIZE"]
