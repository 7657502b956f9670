"""Journal checkpoints: a remote's whole state at one journal position, in one object.

The journal (journal.py) grows one entry per push, and a reader with no mirror yet would
replay them all. Every EVERY entries, the pusher whose entry brings the journal to position
`p` (a multiple of EVERY) also creates `checkpoint/<p>`: one sealed object holding what
entries 0..p-1 amount to, every blob's place and time and every branch. A fresh reader finds
the latest checkpoint, loads it, and reads only the entries after it.

Checkpoints change nothing about who wins a compare-and-swap: that is still decided by the
create-only write of the next journal entry. A checkpoint is only a summary of entries
already in the journal, written create-only once its entries are, sealed like them (the
object key is the AAD, so one cannot be passed off as another position), and optional: a
pusher that dies before writing one, or an older got that never writes any, leaves a reader
replaying entries from an earlier checkpoint or from 0, as before. No format change: a
remote without checkpoints reads as it always did, and an older got ignores them.

Finding the latest takes no LIST: checkpoints sit at multiples of EVERY, so a reader probes
positions EVERY, 2 EVERY, 4 EVERY ... until one is missing and bisects the gap: about
2 log2(entries / EVERY) existence checks, then one GET. A missing checkpoint in the middle
(a pusher killed at the wrong moment) may make the search settle on an earlier one, which
costs more entries read, never a wrong state.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Callable

from gotkv.blobs.remote.objects import ObjectExists, ObjectNotFound, ObjectStore
from gotkv.blobs.remote.seal import Sealer
from gotkv.errors import IntegrityError

PREFIX = "checkpoint/"
EVERY = 128  # journal entries between checkpoints
_ROW = struct.Struct(">32sIQId")  # cid, pack number, offset, length, time


def checkpoint_key(position: int) -> str:
    return f"{PREFIX}{position:016x}"


def encode(position: int, refs: dict[str, str], blobs: list[tuple[bytes, str, int, int, float]]) -> bytes:
    """The plaintext of a checkpoint: the position, the branches, and every blob's place and
    time (zlib-packed rows, pack names listed once)."""
    packs: dict[str, int] = {}
    rows = b"".join(_ROW.pack(cid, packs.setdefault(pack, len(packs)), off, n, t) for cid, pack, off, n, t in blobs)
    return json.dumps({"position": position, "refs": refs, "packs": list(packs),
                       "blobs": base64.b64encode(zlib.compress(rows, 1)).decode()}).encode()


def decode(plain: bytes, what: str) -> tuple[int, dict[str, str], list[tuple[bytes, str, int, int, float]]]:
    """(position, refs, blob rows) of a checkpoint's plaintext; IntegrityError if malformed."""
    try:
        doc = json.loads(plain)
        packs = doc["packs"]
        rows = zlib.decompress(base64.b64decode(doc["blobs"]))
        if len(rows) % _ROW.size:
            raise ValueError
        blobs = [(c, packs[i], o, n, t) for c, i, o, n, t in _ROW.iter_unpack(rows)]
        return int(doc["position"]), dict(doc["refs"]), blobs
    except (ValueError, KeyError, TypeError, IndexError, zlib.error):
        raise IntegrityError(what, "not a journal checkpoint") from None


class Checkpoints:
    """Writes and finds a remote's checkpoints."""

    def __init__(self, objects: ObjectStore, sealer: Sealer, every: int = EVERY):
        self.objects = objects
        self.sealer = sealer
        self.every = every

    def due(self, position: int) -> bool:
        """Whether the entry that brought the journal to `position` should leave a checkpoint."""
        return position > 0 and position % self.every == 0

    def write(self, position: int, plain: bytes) -> None:
        """Create checkpoint `position` (one PUT); nothing if it exists already."""
        key = checkpoint_key(position)
        try:
            self.objects.put(key, self.sealer.seal(plain, aad=key.encode()))
        except ObjectExists:
            pass

    def latest(self) -> int:
        """The position of the latest checkpoint the search finds, 0 if none (see the module
        docstring: existence checks only, about 2 log2(positions / every))."""
        present: Callable[[int], bool] = lambda n: self.objects.exists(checkpoint_key(n * self.every))
        lo, hi = 0, 1  # lo: a multiple known present (0: none); hi: the first known absent
        while present(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if present(mid):
                lo = mid
            else:
                hi = mid
        return lo * self.every

    def read(self, position: int) -> tuple[int, dict[str, str], list[tuple[bytes, str, int, int, float]]] | None:
        """Checkpoint `position` opened and decoded (None if it is gone); IntegrityError if it
        does not open with this key or is not one."""
        key = checkpoint_key(position)
        try:
            sealed = self.objects.get(key)
        except ObjectNotFound:
            return None
        what = f"{self.objects.url}/{key}"
        found = decode(self.sealer.open(sealed, what=what, aad=key.encode()), what)
        if found[0] != position:
            raise IntegrityError(what, f"holds position {found[0]}, not {position}")
        return found
