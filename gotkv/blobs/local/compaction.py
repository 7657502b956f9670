"""Compaction: giving back the space of dead records.

Packs are append-only and `delete` drops only index rows, so the bytes of deleted blobs, and
the unindexed tail a crash can leave behind, stay in their pack until the whole pack goes. A
pack whose dead share reaches `min_dead_ratio` is rewritten: its live records are verified and
re-posted into the compacting process's own pack, that pack is synced, their rows are
repointed in one transaction, and only then do the old pack's row and file go. So a reader
never meets a row without bytes; a reader that looked up the old place just before, or holds
it from a hint, finds the file gone and looks the blob up again (LocalStore._read).

Packs held by a live writer (its flock) are skipped, and so is the compacting process's own.
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING, Callable

from gotkv.blobs.codec import content_id
from gotkv.blobs.local.index import PackIndex, Place
from gotkv.blobs.local.packwriter import HEADER, PackWriter
from gotkv.errors import IntegrityError

if TYPE_CHECKING:
    from pathlib import Path

Record = tuple[bytes, int, int]  # (cid, offset, length) of a live record in a pack


def compact(directory: Path, index: PackIndex, *, min_dead_ratio: float,
            move: Callable[[int, list[Record]], None], forget: Callable[[int], None],
            own: int | None) -> int:
    """Rewrite the packs of `directory` that are at least `min_dead_ratio` dead, except `own`;
    return the bytes freed. `move(fd, records)` makes the live records of the pack open at
    `fd` durable elsewhere and repoints their rows; `forget(pack_id)` lets go of a pack's
    read fd and map just before the file is deleted.

    Cost: a stat and two queries per pack; for each pack rewritten, a read of its live bytes,
    one sync and one transaction. Raises IntegrityError if a live record does not match its
    id (that pack is left as it was).
    """
    freed = 0
    for pack_path in sorted(directory.glob("*.pack")):
        pack_id = int(pack_path.stem)
        if pack_id == own:
            continue
        fd = os.open(pack_path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a writer owns it
            size = os.fstat(fd).st_size
            live = index.live_bytes(pack_id, HEADER.size)
            if size == 0 or (size - live) / size < min_dead_ratio:
                continue
            move(fd, index.records(pack_id))
            index.drop_pack(pack_id)
            forget(pack_id)
            pack_path.unlink()
            freed += size - live
        finally:
            os.close(fd)
    return freed


def copy_records(fd: int, records: list[Record], packs: PackWriter) -> list[tuple[int, int, bytes]]:
    """Append the records of the pack open at `fd` to `packs`, each verified against its id;
    return the rows' new places as (pack, offset, cid), for PackIndex.repoint once synced."""
    moves = []
    for cid, offset, length in records:
        data = os.pread(fd, length, offset)
        if content_id(data) != cid:
            raise IntegrityError(f"blob {cid.hex()[:12]}", "pack bytes do not match their id")
        place: Place = packs.append(cid, data)
        moves.append((place[0], place[1], cid))
    return moves
