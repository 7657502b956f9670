"""The journal: a remote's history of pushes, and its compare-and-swap, with no lock server.

Entries are objects `journal/<seq>` (16 hex digits), each created with a create-only write,
each one sealed record (seal.py) of what a push did: the packs it added, with the place of
every blob in them, and the branches it moved (name, old value, new value). There are no
holes: a writer creates entry `n` only after reading entries `0..n-1`.

That makes the journal a linearizable log. To move a branch, a writer reads to the end,
checks the branch's current value is the `old` it expects, and creates the next entry; if
another writer created that entry first, the create fails, and the writer reads it and
checks again. Exactly one of two racing pushers wins; the loser learns what moved. Nothing
is locked, so a crashed pusher leaves nothing stale behind, and a half-done push (packs
uploaded, no entry) is just unreferenced bytes that a rerun reuses.

Readers keep their position (state.py) and read only new entries: catching up costs one
GET per new entry plus one that finds the end, several in flight at once. Nothing lists.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from gotkv.blobs.remote.objects import ObjectExists, ObjectNotFound, ObjectStore
from gotkv.blobs.remote.seal import Sealer
from gotkv.errors import IntegrityError

PREFIX = "journal/"
_READ_AHEAD = 8  # entries fetched at once while catching up


def entry_key(seq: int) -> str:
    return f"{PREFIX}{seq:016x}"


class Journal:
    """Reads and appends a remote's sealed journal entries."""

    def __init__(self, objects: ObjectStore, sealer: Sealer):
        self.objects = objects
        self.sealer = sealer

    def read_from(self, seq: int) -> Iterator[tuple[int, dict]]:
        """Entries seq, seq+1, ... up to the end, in order. Finding there is nothing new costs
        one GET; a backlog is read 1, 2, 4 ... up to _READ_AHEAD entries at a time."""
        with ThreadPoolExecutor(_READ_AHEAD) as pool:
            width = 1
            while True:
                batch = list(pool.map(self._try_get, range(seq, seq + width)))
                for data in batch:
                    if data is None:
                        return
                    yield seq, self._open(seq, data)
                    seq += 1
                width = min(width * 2, _READ_AHEAD)

    def read(self, seq: int) -> dict | None:
        """Entry `seq`, or None if there is none yet. One GET."""
        data = self._try_get(seq)
        return None if data is None else self._open(seq, data)

    def _try_get(self, seq: int) -> bytes | None:
        try:
            return self.objects.get(entry_key(seq))
        except ObjectNotFound:
            return None

    def _open(self, seq: int, data: bytes) -> dict:
        key = entry_key(seq)
        plain = self.sealer.open(data, what=f"{self.objects.url}/{key}", aad=key.encode())
        try:
            record = json.loads(plain)
        except ValueError:
            raise IntegrityError(f"{self.objects.url}/{key}", "not a journal record") from None
        if not isinstance(record, dict):
            raise IntegrityError(f"{self.objects.url}/{key}", "not a journal record")
        return record

    def try_append(self, seq: int, record: dict) -> bool:
        """Create entry `seq`; False if another writer created it first. One PUT."""
        key = entry_key(seq)
        data = self.sealer.seal(json.dumps(record, separators=(",", ":")).encode(), aad=key.encode())
        try:
            self.objects.put(key, data)
        except ObjectExists:
            return False
        return True
