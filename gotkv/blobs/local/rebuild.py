"""Rebuilding a LocalStore's index from its packs (as `restic repair index` does).

Packs are self-describing: each record is `cid | length | stored bytes`, and a cid is the hash
of its bytes, so a scan of every pack finds every blob with its place, verified. A record
whose bytes do not match its id, or that runs past the end of its pack (a crash's torn tail,
a truncated file), ends the scan of that pack: nothing after it can be located safely. Blobs
deleted by gc but not yet compacted away come back as unreferenced garbage that the next gc
deletes again; nothing referenced is lost.

The caller must keep every writer out (got holds the repository's lock exclusively).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gotkv.blobs.codec import content_id
from gotkv.blobs.local.index import PackIndex, Place
from gotkv.blobs.local.packwriter import HEADER

_READ = 64 << 20  # bytes read from a pack at a time


def scan_pack(path: Path) -> tuple[dict[bytes, tuple[int, int]], int]:
    """The verified records of one pack (cid -> (offset, length)), and the number of bytes at
    its end that could not be read as records. Cost: one sequential read and one hash of the
    whole pack."""
    found: dict[bytes, tuple[int, int]] = {}
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos + HEADER.size <= size:
            f.seek(pos)
            cid, length = HEADER.unpack(f.read(HEADER.size))
            start = pos + HEADER.size
            if start + length > size:
                break
            data = f.read(length)
            if content_id(data) != cid:
                break
            found.setdefault(cid, (start, length))
            pos = start + length
    return found, size - pos


def rebuild_index(store_dir: str | os.PathLike) -> dict[str, int]:
    """Write a fresh index.sqlite for the store at `store_dir` from its packs; the old one, if
    any, must have been moved away. Returns counts: packs, blobs, and unreadable bytes left at
    packs' ends. Cost: a read and hash of every pack, one transaction; the places of every
    blob in memory (~100 bytes each)."""
    store_dir = Path(store_dir)
    index = PackIndex(store_dir / "index.sqlite")
    packs: list[int] = []
    places: dict[bytes, Place] = {}
    torn = 0
    for path in sorted((store_dir / "packs").glob("*.pack"), key=lambda p: int(p.stem)):
        records, left = scan_pack(path)
        packs.append(int(path.stem))
        for cid, (offset, length) in records.items():
            places.setdefault(cid, (int(path.stem), offset, length))
        torn += left
    try:
        index.load(packs, places, time.time())
    finally:
        index.close()
    return {"packs": len(packs), "blobs": len(places), "unreadable_bytes": torn}
