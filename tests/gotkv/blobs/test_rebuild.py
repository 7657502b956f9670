"""Rebuilding a LocalStore's index from its packs (`got fsck --repair`)."""

from __future__ import annotations

import os

from gotkv.blobs.local import LocalStore
from gotkv.blobs.local.rebuild import rebuild_index
from gotkv.dbfile import remove


def test_rebuilt_index_finds_every_flushed_blob_and_stops_at_a_torn_tail(tmp_path):
    blobs = [os.urandom(n) for n in (10, 5000, 200_000, 1, 70_000)]
    with LocalStore(tmp_path) as store:
        cids = [store.post(b) for b in blobs]
        store.flush()
    with LocalStore(tmp_path) as store:  # a second process's pack
        late = store.post(b"in another pack")
        store.flush()
    packs = sorted((tmp_path / "packs").glob("*.pack"), key=lambda p: int(p.stem))
    with open(packs[-1], "ab") as f:
        f.write(os.urandom(30) + b"torn")  # a crash's leftover: not a whole record
    remove(tmp_path / "index.sqlite")
    counts = rebuild_index(tmp_path)
    assert counts == {"packs": 2, "blobs": 6, "unreadable_bytes": 34}
    with LocalStore(tmp_path) as store:
        assert [store.get(c) for c in cids] == blobs
        assert store.get(late) == b"in another pack"
        new = store.post(b"after the rebuild")  # new packs get fresh ids
        store.flush()
        assert store.get(new) == b"after the rebuild"
    assert len(list((tmp_path / "packs").glob("*.pack"))) == 3
