"""LocalStore: append-only pack files indexed by SQLite — the embedded default store.

Why this shape: one file per small blob costs an fsync per blob (a millisecond) and millions of
inodes; appending to a pack file and indexing it in SQLite costs one fdatasync and one
transaction per flush, whatever the number of blobs.

Layout under the store directory:

    index.sqlite          blobs(cid -> pack, offset, length, touched), WAL mode   (index.py)
    packs/<id>.pack       records: cid (32) | length (u32 LE) | stored bytes      (packwriter.py)

Durability protocol (what makes `kill -9` at any instant safe):

1. `post` appends a record to this process's own pack (no fsync) and remembers its location
   in memory, so the process reads its own writes at once. Writeout requests and background
   syncs along the way keep the disk busy while the writer goes on (packwriter.py).
2. `flush` fdatasyncs every pack written since the last flush, *then* inserts the index rows
   in one SQLite transaction (synchronous=FULL). An index row therefore never points at bytes
   that are not on disk; a crash before the commit leaves only unindexed garbage at a pack's
   tail, which nothing reads and compaction reclaims (compaction.py).

Concurrency: each writing process appends to a pack it holds an exclusive flock on, so writers
never interleave; SQLite serialises index updates across processes. Within a process one lock
guards the map of posts not yet indexed, and the pack writer's own lock the pack tail (taken
in that order, never the other); reads use pread, or for `get_with` a view of the mapped pack
(no copy, which matters for megabyte chunks read through a mount), and need no lock
(packreader.py). Each thread gets its own SQLite connection.

Garbage collection support: every row has a `touched` time, renewed at flush for blobs a post
found already stored (dedup hits), so `delete(..., older_than=T)` spares blobs a writer has
just (re)used. The renewals are batched into flush's one transaction — a no-change commit of
100k files must not cost 100k synced transactions — and flush checks that every one of them
still had its row: a blob deleted between the post and the flush is reported (BlobNotFound),
never silently lost. (got's gc also excludes writers with a lock, so this is a second line.)

Modules: store (LocalStore, which ties the rest together), index (the SQLite index), packwriter
(appending and syncing this process's pack), packreader (reading records back), compaction
(reclaiming dead records).
"""

from gotkv.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "PACK_LIMIT": "gotkv.blobs.local.packwriter",
    "LocalStore": "gotkv.blobs.local.store",
})

__all__ = ["LocalStore", "PACK_LIMIT"]
