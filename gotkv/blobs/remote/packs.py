"""Packs: how blobs travel to and from a remote in few requests.

Requests, not bytes, are the cost on object storage (a few ms and a few hundred small PUTs a
second per connection), so a remote never holds one object per blob. Posted blobs are
appended to an open pack; a pack of PACK_TARGET bytes is uploaded as one create-only object
`packs/<id>` while the next one fills, UPLOADS_IN_FLIGHT at a time. Where each blob lies is
not in the pack: the push's journal entry records it (journal.py), sealed. A pack's id names
its blobs (`_pack_id`), so re-uploading the same pack after an interrupted push is a
harmless no-op.

PACK_TARGET and UPLOADS_IN_FLIGHT were chosen by timing pushes of 1 GiB to a Ceph RGW (the
engine's receive rate, not the client, is the limit: larger and more concurrent PUTs keep it
busy); the buffers in flight bound a push's memory at (UPLOADS_IN_FLIGHT + 1) x PACK_TARGET.

Reading groups the wanted blobs by pack and asks the engine for their byte ranges together
(`get_ranges`, which coalesces neighbours into one ranged GET), several packs in flight.
Every blob read back is checked against its content id: bytes from a remote are not trusted.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol
import blake3

from gotkv.blobs.remote.objects import ObjectExists, ObjectStore
from gotkv.errors import IntegrityError

PACK_TARGET = 32 << 20
UPLOADS_IN_FLIGHT = 4
READS_IN_FLIGHT = 8

Place = tuple[str, int, int]  # pack id, offset, length


class UploadLog(Protocol):
    """Where a writer notes packs it uploaded but has not recorded yet (state.RemoteState)."""

    def was_uploaded(self, pack: str) -> bool: ...

    def mark_uploaded(self, pack: str) -> None: ...


def _pack_id(places: dict[bytes, tuple[int, int]]) -> str:
    """A pack's id: BLAKE3 of its blobs' ids and places. The same blobs in the same order
    make the same pack, so it is as content-addressed as hashing its bytes (which each blob's
    id already covers), at a thousandth of the cost."""
    h = blake3.blake3()
    for cid, (off, n) in places.items():
        h.update(cid + off.to_bytes(8, "big") + n.to_bytes(8, "big"))
    return h.hexdigest()


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id}"


class PackWriter:
    """Fills packs from posted blobs and uploads full ones in the background.

    Memory is bounded by (UPLOADS_IN_FLIGHT + 1) packs: `add` blocks while that many are
    uploading. `finish` uploads the open pack and waits for every pack shipped before it,
    returning the places of blobs in uploaded packs that nobody has `settle`d yet. A failed
    upload surfaces at `finish`; its blobs are forgotten, so posting them again resends them.
    Safe from many threads: a pack's places are returned only once it is on the remote.
    """

    def __init__(self, objects: ObjectStore, target: int = PACK_TARGET, in_flight: int = UPLOADS_IN_FLIGHT,
                 uploads: UploadLog | None = None):
        self.objects = objects
        self.uploads = uploads
        self.target = target
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="got-pack-up")
        self._slots = threading.BoundedSemaphore(in_flight)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # an upload ended
        self._buf = bytearray()
        self._open: dict[bytes, tuple[int, int]] = {}  # cid -> (offset, length) in _buf
        self._uploading: dict[str, bytearray] = {}  # pack id -> bytes, until its upload ends
        self._failed: dict[str, BaseException] = {}
        self._done: dict[bytes, Place] = {}  # shipped, not yet settled
        self.sent_bytes = 0
        self.sent_packs = 0

    def add(self, cid: bytes, data: bytes | memoryview) -> None:
        with self._lock:
            start = len(self._buf)
            self._open[cid] = (start, len(data))
            self._buf[start:] = data  # (a bytearray grows in place, over-allocating)
            full = len(self._buf) >= self.target
        if full:
            self._ship()

    def read_pending(self, cid: bytes) -> bytes | None:
        """The bytes of a blob not yet settled, if this writer still holds them."""
        with self._lock:
            if cid in self._open:
                off, n = self._open[cid]
                return bytes(self._buf[off:off + n])
            place = self._done.get(cid)
            if place and place[0] in self._uploading:
                return bytes(self._uploading[place[0]][place[1]:place[1] + place[2]])
            return None

    def place_of(self, cid: bytes) -> Place | None:
        """Where a shipped, unsettled blob lies (its pack may still be uploading)."""
        with self._lock:
            return self._done.get(cid)

    def forget(self, cid: bytes) -> bool:
        """Drop a blob not yet settled (its bytes stay, unindexed, in its pack)."""
        with self._lock:
            return self._open.pop(cid, None) is not None or self._done.pop(cid, None) is not None

    def pending(self) -> set[bytes]:
        with self._lock:
            return set(self._open) | set(self._done)

    def _ship(self) -> None:
        with self._lock:
            if not self._open:
                return
            buf, places = self._buf, self._open
            self._buf, self._open = bytearray(), {}
            pack_id = _pack_id(places)
            self._uploading[pack_id] = buf
            for cid, (off, n) in places.items():
                self._done[cid] = (pack_id, off, n)
        self._slots.acquire()
        self._pool.submit(self._upload, pack_id, buf)

    def _upload(self, pack_id: str, buf: bytearray) -> None:
        failure = None
        try:
            if self.uploads is None or not self.uploads.was_uploaded(pack_id):
                try:
                    self.objects.put(pack_key(pack_id), buf)
                    with self._lock:
                        self.sent_bytes += len(buf)
                        self.sent_packs += 1
                except ObjectExists:
                    pass  # the same pack, sent by an interrupted earlier push
                if self.uploads is not None:
                    self.uploads.mark_uploaded(pack_id)
        except BaseException as e:  # noqa: BLE001 - handed to finish()
            failure = e
        finally:
            self._slots.release()
            with self._changed:
                self._uploading.pop(pack_id, None)
                if failure is not None:
                    self._failed[pack_id] = failure
                    for cid in [c for c, p in self._done.items() if p[0] == pack_id]:
                        del self._done[cid]
                self._changed.notify_all()

    def finish(self) -> dict[bytes, Place]:
        """Upload everything added so far; return the places of blobs not yet settled whose
        packs are on the remote. They stay pending (readable, and in `pending()`) until
        `settle`d: the caller settles them once their places are recorded."""
        self._ship()
        with self._changed:
            waiting = set(self._uploading)
            while waiting & set(self._uploading):
                self._changed.wait()
            if self._failed:  # blobs were lost: whoever publishes next must not record a ref
                failed = list(self._failed.values())
                self._failed.clear()
                raise failed[0]
            return {c: p for c, p in self._done.items() if p[0] not in self._uploading}

    def settle(self, places: dict[bytes, Place]) -> None:
        """These places are recorded: stop holding them as pending."""
        with self._lock:
            for cid, place in places.items():
                if self._done.get(cid) == place:
                    del self._done[cid]

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def fetch_blobs(objects: ObjectStore, places: dict[bytes, Place], pool: ThreadPoolExecutor) -> dict[bytes, bytes | memoryview]:
    """The blobs at `places`, each checked against its cid; one coalesced request per pack."""
    by_pack: dict[str, list[tuple[bytes, int, int]]] = defaultdict(list)
    for cid, (pack, off, n) in places.items():
        by_pack[pack].append((cid, off, n))

    def one_pack(pack: str, wanted: list[tuple[bytes, int, int]]) -> list[tuple[bytes, bytes]]:
        wanted.sort(key=lambda w: w[1])
        datas = objects.get_ranges(pack_key(pack), [(off, off + n) for _, off, n in wanted])
        return [(cid, verify(objects, cid, data)) for (cid, _, _), data in zip(wanted, datas)]

    out: dict[bytes, bytes] = {}
    for pairs in pool.map(lambda item: one_pack(*item), list(by_pack.items())):
        out.update(pairs)
    return out


def verify(objects: ObjectStore, cid: bytes, data: bytes | memoryview) -> bytes | memoryview:
    if blake3.blake3(data).digest() != cid:
        raise IntegrityError(f"blob {cid.hex()[:12]} from {objects.url}", "content hash does not match its id")
    return data
