"""File operations: create, write (whole or at an offset), truncate, read, symlinks, attributes.

A file is its Info (size is authoritative) plus extents keyed by their end offset. Bytes not
covered by any extent below the size are a hole and read as zeros, so sparse files cost
nothing. A write at an offset rewrites only the extents it touches, by the region rule of
regions.py (the one rule every writer uses): their bytes and the new bytes are re-chunked
together, extents that end where the write starts or start where it ends included, so that
a file written in pieces still gets content-defined chunks rather than one blob per piece.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO, Iterable

from gotfs import keys, regions
from gotfs.chunking import Source
from gotfs.errors import AlreadyExists, NotAFile
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.pieces import DirtyFile
from gotfs.tx import Tx
from gotkv.errors import InvalidInput


def check_new(tx: Tx, path: Path, overwrite: bool) -> Info | None:
    """The parent must be a directory; an existing target must be a replaceable file.
    Returns the existing target's Info, if any."""
    if not path:
        raise AlreadyExists("/")
    tx.require_dir(path[:-1])
    old = tx.info(path)
    if old is not None:
        if not overwrite:
            raise AlreadyExists(keys.show(path))
        if not old.is_file:
            tx.require_file(path)  # raises IsADirectory / NotAFile
    return old


def check_count(value, what: str) -> int:
    """`value` as an offset or size: InvalidInput unless a non-negative int below 2**63."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise InvalidInput(f"{what} must be a non-negative integer below 2**63, not {value!r}")
    return value


def check_write(offset, data) -> None:
    """InvalidInput unless `data` is bytes and [offset, offset + len(data)) a valid range."""
    check_count(offset, "offset")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"file data must be bytes, not {type(data).__name__}")
    check_count(offset + len(data), "offset + size")


def opener(data: bytes | BinaryIO | Source) -> Source:
    """A Source for file data given as bytes (copied if mutable), a binary stream, or a
    Source; InvalidInput for anything else (a text file, a str)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        frozen = bytes(data)
        return lambda: io.BytesIO(frozen)
    if isinstance(data, io.TextIOBase):
        raise InvalidInput("file data must be bytes or a binary file object, not a text file")
    if callable(getattr(data, "read", None)):
        return lambda: data
    if callable(data):
        return data
    raise InvalidInput(f"file data must be bytes or a binary file object, not {type(data).__name__}")


def write_file(tx: Tx, path: Path, data: bytes | BinaryIO, *, mode: int = 0o644,
               mtime_ns: int | None = None, overwrite: bool = True) -> Info:
    """Create or replace a regular file with the contents of `data` (bytes or a binary stream)."""
    if callable(data) and not callable(getattr(data, "read", None)):
        raise InvalidInput(f"file data must be bytes or a binary file object, not {type(data).__name__}")
    return next(iter(write_files(tx, [(path, opener(data), mode, mtime_ns)], overwrite=overwrite)))


def write_files(tx: Tx, files: Iterable[tuple[Path, Source, int, int | None]], *,
                overwrite: bool = True) -> list[Info]:
    """Write many files' contents as ONE chunk stream (small files share blobs); return
    their Infos in order. A replaced file keeps its xattrs.

    `files` yields (path, opener, mode, mtime_ns); each is checked as it comes (as
    write_file), and the openers are called one at a time, in order, at chunking, so only
    one file is open at once. The files are whole-file plans of the one rule (regions.py):
    chunked together, then applied. Unlike a Staging, which packs in content-defined groups
    so that versions of a tree dedup, this packs the whole batch, so the root depends on it.
    Cost: blob writes for the chunks not yet stored; O(d) node reads per file to check.
    """
    plans = []
    for path, source, mode, mtime_ns in files:
        old = check_new(tx, path, overwrite)
        info = Info.file(mode, 0, xattrs=old.xattrs if old is not None else (), mtime_ns=mtime_ns)
        tx.put_info(path, info)
        # a replaced file's extents (or a path's earlier in this batch) go at apply
        plans.append(regions.Plan(path, mtime_ns, whole=source, clear=old is not None, info=info))
    regions.chunk(tx.fs.data, plans)
    return [regions.apply(tx, p.path, p) for p in plans]


def create(tx: Tx, path: Path, mode: int = 0o644, *, exclusive: bool = True, mtime_ns: int | None = None) -> Info:
    """An empty regular file (O_CREAT; with exclusive=False an existing file is kept as is)."""
    if not exclusive and tx.info(path) is not None:
        return tx.require_file(path)
    check_new(tx, path, overwrite=False)
    info = Info.file(mode, 0, mtime_ns=mtime_ns)
    tx.put_info(path, info)
    return info


def write_at(tx: Tx, path: Path, offset: int, data: bytes) -> Info:
    """Write `data` at `offset` (past the end leaves a hole); rewrites only the extents the
    write touches, by the region rule (regions.py), at once."""
    check_write(offset, data)
    info = tx.require_file(path)
    if not data:
        return info
    buffered = DirtyFile()
    buffered.write(offset, bytes(data))
    plan = regions.plan(tx, path, buffered)
    regions.chunk(tx.fs.data, [plan])
    return regions.apply(tx, path, plan)


def truncate(tx: Tx, path: Path, size: int) -> Info:
    """Cut the file to `size` bytes, or extend it with a hole."""
    check_count(size, "size")
    info = tx.require_file(path)
    if size < info.size:
        for start, e_end, extent in list(tx.extents(path, size)):
            tx.delete_key(keys.extent_key(path, e_end))
            if start < size:
                tx.put_extent(path, size, extent.trimmed(0, size - start))
    info = info.with_(size=size)
    tx.put_info(path, info)
    return info


def read(tx: Tx, path: Path, offset: int = 0, size: int = -1) -> bytes | memoryview:
    """Up to `size` bytes from `offset` (all the rest with size < 0); holes read as zeros.

    A range inside one extent comes back as a memoryview of the cached chunk (no copy).
    """
    check_count(offset, "offset")
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidInput(f"size must be an integer, not {size!r}")
    info = tx.require_file(path)
    stop = info.size if size < 0 else min(info.size, offset + size)
    if offset >= stop:
        return b""
    out = None
    for start, e_end, extent in tx.extents(path, offset):
        if start >= stop:
            break
        lo, hi = max(start, offset), min(e_end, stop)
        piece = tx.fs.data.read_extent(extent)[lo - start:hi - start]
        if out is None and lo == offset and hi == stop:
            return piece
        if out is None:
            out = bytearray(stop - offset)
        out[lo - offset:hi - offset] = piece
    return bytes(out) if out is not None else bytes(stop - offset)


def symlink(tx: Tx, path: Path, target: bytes | str, *, mtime_ns: int | None = None) -> Info:
    """Create a symbolic link at `path` pointing at `target` (stored as is, never followed)."""
    raw = os.fsencode(target)
    check_new(tx, path, overwrite=False)
    info = Info.symlink(raw, mtime_ns=mtime_ns)
    tx.put_info(path, info)
    return info


def mknod(tx: Tx, path: Path, st_mode: int, rdev: int = 0, *, mtime_ns: int | None = None) -> Info:
    """Create a FIFO, socket or device node at `path` from an st_mode: an Info, no data."""
    info = Info.special(st_mode, rdev, mtime_ns=mtime_ns)
    check_new(tx, path, overwrite=False)
    tx.put_info(path, info)
    return info


def readlink(tx: Tx, path: Path) -> bytes:
    info = tx.require(path)
    if not info.is_symlink:
        raise NotAFile(keys.show(path), info.kind.name.lower())
    return info.target


def set_attrs(tx: Tx, path: Path, *, mode: int | None = None, mtime_ns: int | None = None,
              set_xattrs: dict[bytes, bytes] | None = None, remove_xattrs: Iterable[bytes] = ()) -> Info:
    """chmod, touch, setxattr and removexattr in one: only the given changes apply."""
    info = tx.require(path)
    changes = {}
    if mode is not None:
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o177777:
            raise InvalidInput(f"mode must be an st_mode or permission bits (0..0o177777), not {mode!r}")
        changes["mode"] = mode & 0o7777
    if mtime_ns is not None:
        changes["mtime_ns"] = mtime_ns
    if set_xattrs or remove_xattrs:
        xattrs = dict(info.xattrs)
        xattrs.update(set_xattrs or {})
        for name in remove_xattrs:
            xattrs.pop(name, None)
        changes["xattrs"] = tuple(sorted(xattrs.items()))
    if changes:
        info = info.with_(**changes)
        tx.put_info(path, info)
    return info
