"""Keys: paths to gotkv keys and back, in the layout of the GotFS README.

    /                                  -> Info (the root directory)
    /a/                                -> Info (dir)
    /a/f.txt/                          -> Info (file)
    /a/f.txt/<NUL><BE64 end offset>    -> Extent

Info keys end in '/' and contain no NUL; an extent key is its file's Info key, a NUL, and the
big-endian 64-bit offset where the extent *ends*, so the extent holding byte `off` is the first
key >= extent_key(path, off + 1). A directory and everything under it is the one key span
prefixed by its Info key. Paths here are normalised tuples of byte components; `parse_path`
turns user text into one and is the only place paths are validated.
"""

from __future__ import annotations

import errno
import os
import struct

from gotfs.errors import InvalidPath
from gotkv.keyspan import Span, prefix_end
from gotkv.params import MAX_KEY_SIZE

MAX_NAME = 255
MAX_PATH = MAX_KEY_SIZE - 2 - 9  # leading '/', trailing '/', and the extent suffix
_END = struct.Struct(">Q")


Path = tuple[bytes, ...]


def parse_path(path: str | bytes | Path) -> Path:
    """Validate and normalise a path ('a/b', '/a/b/', b'a/b' -> (b'a', b'b')); '' or '/' is the root."""
    if isinstance(path, tuple):
        return path
    raw = os.fsencode(path) if isinstance(path, str) else path
    if not isinstance(raw, bytes):
        raise InvalidPath(path, "a path must be str or bytes")
    if b"\x00" in raw:
        raise InvalidPath(path, "contains a NUL byte")
    body = raw.strip(b"/")
    if not body:
        return ()
    parts = tuple(body.split(b"/"))
    for part in parts:
        if part in (b"", b".", b".."):
            raise InvalidPath(path, "empty, '.' or '..' component")
        if len(part) > MAX_NAME:
            raise InvalidPath(path, f"a name is at most {MAX_NAME} bytes", errno.ENAMETOOLONG)
    if len(body) > MAX_PATH:
        raise InvalidPath(path, f"a path is at most {MAX_PATH} bytes", errno.ENAMETOOLONG)
    return parts


def show(path: Path) -> str:
    """Text form of a path, for messages and listings ('' for the root)."""
    return os.fsdecode(b"/".join(path))


def show_bytes(path: str | bytes) -> bytes:
    """A path prefix as bytes, without validation (for prefix matching only)."""
    return (os.fsencode(path) if isinstance(path, str) else path).lstrip(b"/")


def info_key(path: Path) -> bytes:
    return b"/" + b"/".join(path) + b"/" if path else b"/"


def extent_key(path: Path, end: int) -> bytes:
    return info_key(path) + b"\x00" + _END.pack(end)


def extent_end(key: bytes) -> int:
    """The end offset in an extent key."""
    return _END.unpack_from(key, len(key) - 8)[0]


def is_extent_key(key: bytes) -> bool:
    return len(key) >= 10 and key[-9] == 0


def path_of(key: bytes) -> Path:
    """The path a key (Info or extent) belongs to."""
    if is_extent_key(key):
        key = key[:-9]
    body = key[1:-1]
    return tuple(body.split(b"/")) if body else ()


def subtree_span(path: Path) -> Span:
    """Every key at or under `path`: its Info, its extents, and (for a directory) all below."""
    k = info_key(path)
    return Span(k, prefix_end(k))


def extents_span(path: Path, start: int = 0) -> Span:
    """The extent keys of one file whose extents end after `start`."""
    k = info_key(path) + b"\x00"
    return Span(k + _END.pack(start + 1) if start else k, prefix_end(k))


def children_span(path: Path) -> Span:
    """Keys strictly below a directory (its own Info excluded)."""
    k = info_key(path)
    return Span(k + b"\x01", prefix_end(k))


def parent(path: Path) -> Path:
    return path[:-1]
