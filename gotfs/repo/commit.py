"""Commit: a snapshot — a filesystem root, its parents, author, time and message.

Stored as a blob (canonical JSON through the repo's codec, so encrypted like everything else);
its Ref is its identity. The text id users see is the content id's hex (64 digits, shortened
to 12 in listings); the full ref (with the data key) stays in the repo's ref database.
"""

from __future__ import annotations

import json

from gotkv.blobs.ref import Ref
from gotkv.errors import CorruptNode
from gotkv.root import Root
from gotkv.value import Value

FORMAT = 1


class Commit(Value):
    __slots__ = ("root", "parents", "author", "time_ns", "message")
    root: Root
    parents: tuple[Ref, ...]
    author: str
    time_ns: int
    message: str

    def __init__(self, root: Root, parents: tuple[Ref, ...], author: str, time_ns: int, message: str) -> None:
        for name, value in (("root", root), ("parents", parents), ("author", author), ("time_ns", time_ns),
                            ("message", message)):
            object.__setattr__(self, name, value)

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "root": str(self.root),
            "parents": [str(p) for p in self.parents],
            "author": self.author,
            "time_ns": self.time_ns,
            "message": self.message,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Commit:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise CorruptNode("commit", f"unknown format {doc.get('format')!r}")
            return cls(Root.parse(doc["root"]), tuple(Ref.parse(p) for p in doc["parents"]),
                       doc["author"], int(doc["time_ns"]), doc["message"])
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptNode("commit", f"malformed ({e})") from None


def commit_id(ref: Ref) -> str:
    """The id users see: the commit blob's content id in hex."""
    return ref.cid.hex()
