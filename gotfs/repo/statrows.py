"""The stat cache's rows: a host file's stat signature, the entries it was stored as, and
the records a snapshot keeps of the files it must store.

A row is (path, sig, hash, entries): `sig` is signature() of the file's stat when it was
stored or checked (None while "racily clean": modified less than RACY_NS before, when a later
write in the same timestamp tick could go unnoticed), `hash` the BLAKE3 of its content, and
`entries` its Info and extents in encode_entries' format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import blake3

from gotfs.extent import Extent
from gotfs.info import Info

RACY_NS = 2_000_000_000


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


@dataclass(frozen=True, slots=True)
class Pending:
    """A file a snapshot must store: what the write needs of its stat (sig: None if racy)."""

    raw: bytes
    size: int
    mode: int
    sig: bytes | None

    def key(self) -> bytes:
        return b"/" + self.raw + b"/"

    def path(self) -> bytes:
        return self.raw

    def length(self) -> int:
        return self.size


class HashingReader:
    """A file reader that hashes what passes through, so content is read only once."""

    def __init__(self, path: Path):
        self.f = open(path, "rb", buffering=0)
        self.hash = blake3.blake3()

    def readinto(self, buf) -> int:
        n = self.f.readinto(buf)
        if n:
            self.hash.update(memoryview(buf)[:n])
        return n

    def close(self) -> None:
        self.f.close()
