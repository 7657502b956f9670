"""The stat cache's rows: a host file's stat signature, the entries it was stored as, and
the records a snapshot keeps of the files it must store.

A row is (path, sig, hash, entries): `sig` is signature() of the file's stat when it was
stored or checked (None while "racily clean": modified less than RACY_NS before, when a later
write in the same timestamp tick could go unnoticed), `hash` the BLAKE3 of its content, and
`entries` its Info and extents in encode_entries' format.
"""

from __future__ import annotations

import os

from gotfs.extent import Extent
from gotfs.info import Info
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO, Callable

    from gotfs.repo.hostread import HashingReader

RACY_NS = 2_000_000_000


def row_path(raw: bytes) -> tuple[bytes, ...]:
    """A row's path (its components joined by '/') as a parsed path, keys.Path."""
    return tuple(raw.split(b"/"))


def signature(s: os.stat_result) -> bytes:
    return b"%d:%d:%d:%d:%d" % (s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_mode)


def encode_entries(info: Info, extents: list[tuple[int, Extent]]) -> bytes:
    parts = [len(extents).to_bytes(4, "little")]
    for end, e in extents:
        raw = e.to_bytes()
        parts += [end.to_bytes(8, "little"), len(raw).to_bytes(1, "little"), raw]
    return b"".join(parts) + info.to_bytes()


def decode_entries(blob: bytes) -> tuple[Info, list[tuple[int, Extent]]]:
    n = int.from_bytes(blob[:4], "little")
    o = 4
    extents = []
    for _ in range(n):
        end = int.from_bytes(blob[o:o + 8], "little")
        size = blob[o + 8]
        extents.append((end, Extent.from_bytes(blob[o + 9:o + 9 + size])))
        o += 9 + size
    return Info.from_bytes(blob[o:]), extents


class Pending(Value):
    """A file a snapshot must store: what the write needs of its stat (sig: None if racy).
    Calling it opens the file with `opener` (one function shared by a snapshot's files)."""

    __slots__ = ("raw", "size", "mode", "sig", "opener")
    raw: bytes
    size: int
    mode: int
    sig: bytes | None
    opener: Callable[[bytes], BinaryIO]

    def __init__(self, raw: bytes, size: int, mode: int, sig: bytes | None, opener: Callable[[bytes], BinaryIO]):
        setattr_ = object.__setattr__
        setattr_(self, "raw", raw)
        setattr_(self, "size", size)
        setattr_(self, "mode", mode)
        setattr_(self, "sig", sig)
        setattr_(self, "opener", opener)

    def __call__(self) -> BinaryIO:
        return self.opener(self.raw)


class FileInfos:
    """Regular files' Infos, one object per (mode, size): a snapshot's many files share them,
    so it neither holds one per file nor builds one twice (for the tree and for the row)."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, int], Info] = {}

    def __call__(self, mode: int, size: int) -> Info:
        info = self._made.get((mode, size))
        if info is None:
            info = self._made[mode, size] = Info.file(mode, size)
        return info


class RowBatches:
    """The rows of the files a snapshot stores, handed to the cache every `batch` files and
    at the end, each time after `durable()` (the store's flush): an interrupted commit keeps
    the rows of what it stored, and the cache never names a blob that is not durable.
    `readers` maps each file being read to its HashingReader (its content hash)."""

    def __init__(self, readers: dict[bytes, HashingReader], infos: FileInfos, remember: Callable[[list], None],
                 durable: Callable[[], None], batch: int, progress: Callable[[int, int], None] | None):
        self.readers = readers
        self.infos = infos
        self.remember = remember
        self.durable = durable
        self.batch = batch
        self.progress = progress
        self.rows: list[tuple[bytes, bytes | None, bytes, bytes]] = []
        self.files = self.bytes = 0

    def add(self, p: Pending, size: int, extents: list[tuple[int, Extent]]) -> None:
        """A file of the snapshot is stored (its chunks posted): its row, and progress."""
        digest = self.readers.pop(p.raw).hash.digest()
        self.rows.append((p.raw, p.sig, digest, encode_entries(self.infos(p.mode, size), extents)))
        if len(self.rows) >= self.batch:
            self.flush()
        self.files += 1
        self.bytes += size
        if self.progress:
            self.progress(self.files, self.bytes)

    def take(self) -> list[tuple[bytes, bytes | None, bytes, bytes]]:
        """The rows not yet remembered, for a caller that makes the data durable and
        remembers them itself (with more in the same transaction)."""
        rows, self.rows = self.rows, []
        return rows

    def flush(self) -> None:
        """Make the stored data durable and remember the rows so far."""
        if self.rows:
            self.durable()
            self.remember(self.rows)
            self.rows = []


def file_hash(path: Path) -> bytes:
    """The BLAKE3 of a host file's content, as HashingReader gives it. Cost: a read of the file."""
    import blake3  # here: a status that finds no changed signature hashes nothing

    h = blake3.blake3()
    with open(path, "rb", buffering=0) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def extents_hash(fs, extents: list[tuple[int, Extent]]) -> bytes:
    """The BLAKE3 of the bytes a file's (end, Extent) list holds in `fs` (holes as zeros), as
    file_hash gives it of the host file. Cost: a read of every extent."""
    import blake3

    h = blake3.blake3()
    pos = 0
    for end, extent in extents:
        start = end - extent.length
        if start > pos:
            h.update(bytes(start - pos))
        h.update(fs.data.read_extent(extent))
        pos = end
    return h.digest()
