"""Directory operations: mkdir, listdir, walk, remove, rename, copy — each on a Tx.

A directory's subtree is one key span, so remove is one span delete whatever its size, and
listdir skips each child's subtree with a seek (O(children x depth), not O(descendants)).
Rename and copy rewrite the keys of the subtree (values, and so data blobs, are shared).
"""

from __future__ import annotations

import errno
from typing import Iterator

from gotfs import keys
from gotfs.errors import AlreadyExists, DirectoryNotEmpty, InvalidPath, IsADirectory, NotADirectory
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.tx import Tx
from gotkv.keyspan import Span, prefix_end
from gotkv.params import MAX_KEY_SIZE


def mkdir(tx: Tx, path: Path, mode: int = 0o755, *, parents: bool = False, exist_ok: bool = False,
          mtime_ns: int | None = None) -> None:
    """Create a directory (and, with parents=True, its missing ancestors)."""
    existing = tx.info(path)
    if existing is not None:
        if existing.is_dir and (exist_ok or parents):
            return
        raise AlreadyExists(keys.show(path))
    if path:
        if parents:
            up = tx.info(path[:-1])
            if up is None:
                mkdir(tx, path[:-1], 0o755, parents=True)
            elif not up.is_dir:
                raise NotADirectory(keys.show(path[:-1]))  # an existing ancestor is a file: ENOTDIR
        else:
            tx.require_dir(path[:-1])
    tx.put_info(path, Info.dir(mode, mtime_ns=mtime_ns))


def listdir(tx: Tx, path: Path) -> Iterator[tuple[bytes, Info]]:
    """(name, Info) of each child of a directory, without visiting grandchildren.

    In key order, i.e. sorted by name + b'/' (git's tree order): "a-b" and "a.txt" come
    before "a", since '-' and '.' sort before '/'."""
    tx.require_dir(path)
    span = keys.children_span(path)
    prefix_len = len(keys.info_key(path))
    lo = span.lo
    while True:
        entry = next(tx.entries(Span(lo, span.hi)), None)
        if entry is None:
            return
        k, v = entry
        yield k[prefix_len:-1], Info.from_bytes(v)
        lo = prefix_end(k)
        if lo is None or (span.hi is not None and lo >= span.hi):
            return


def walk(tx: Tx, path: Path = ()) -> Iterator[tuple[Path, Info]]:
    """Every path at or below `path` with its Info, in key order (parents before children)."""
    tx.require(path)
    for k, v in tx.entries(keys.subtree_span(path)):
        if not keys.is_extent_key(k):
            yield keys.path_of(k), Info.from_bytes(v)


def is_empty_dir(tx: Tx, path: Path) -> bool:
    return next(tx.entries(keys.children_span(path)), None) is None


def remove(tx: Tx, path: Path, *, recursive: bool = False) -> None:
    """Remove a file, symlink or directory (a non-empty one only with recursive=True)."""
    if not path:
        raise InvalidPath("/", "the root directory cannot be removed", errno.EBUSY)
    info = tx.require(path)
    if info.is_dir and not recursive and not is_empty_dir(tx, path):
        raise DirectoryNotEmpty(keys.show(path))
    tx.delete_span(keys.subtree_span(path))


def rmdir(tx: Tx, path: Path) -> None:
    """Remove an empty directory (POSIX rmdir)."""
    if not tx.require(path).is_dir:
        raise NotADirectory(keys.show(path))
    remove(tx, path)


def _subtree(tx: Tx, path: Path) -> list[tuple[bytes, bytes]]:
    return list(tx.entries(keys.subtree_span(path)))


def _relocate(tx: Tx, entries: list[tuple[bytes, bytes]], src: Path, dst: Path) -> None:
    old, new = keys.info_key(src), keys.info_key(dst)
    for k, v in entries:
        tx.put(new + k[len(old):], v)


def _check_fits(entries: list[tuple[bytes, bytes]], src: Path, dst: Path) -> None:
    """Refuse (before any edit) a move or copy that would make a path below `dst` too long."""
    grow = len(keys.info_key(dst)) - len(keys.info_key(src))
    if grow > 0 and max(len(k) for k, _ in entries) + grow > MAX_KEY_SIZE:
        raise InvalidPath(keys.show(dst), f"a path below it would exceed {keys.MAX_PATH} bytes",
                          errno.ENAMETOOLONG)


def _check_target(tx: Tx, src: Path, dst: Path, src_info: Info) -> bool:
    """POSIX rename rules for an existing target; True if there is one to replace.

    Only checks: callers delete the target once every check has passed, so that a refused
    rename or copy leaves the transaction untouched."""
    if src_info.is_dir and dst[:len(src)] == src and len(dst) > len(src):
        raise InvalidPath(keys.show(dst), "cannot move a directory into itself")
    tx.require_dir(dst[:-1])
    dst_info = tx.info(dst)
    if dst_info is None:
        return False
    if src_info.is_dir:
        if not dst_info.is_dir:
            raise NotADirectory(keys.show(dst))
        if not is_empty_dir(tx, dst):
            raise DirectoryNotEmpty(keys.show(dst))
    elif dst_info.is_dir:
        raise IsADirectory(keys.show(dst))
    return True


def rename(tx: Tx, src: Path, dst: Path) -> None:
    """Move a file or directory, replacing a target as POSIX rename(2) allows."""
    if not src or not dst:
        raise InvalidPath("/", "cannot rename the root directory", errno.EBUSY)
    info = tx.require(src)
    if src == dst:
        return
    replace = _check_target(tx, src, dst, info)
    entries = _subtree(tx, src)
    _check_fits(entries, src, dst)
    if replace:
        tx.delete_span(keys.subtree_span(dst))
    tx.delete_span(keys.subtree_span(src))
    _relocate(tx, entries, src, dst)


def copy(tx: Tx, src: Path, dst: Path, *, overwrite: bool = False) -> None:
    """Copy a file or directory tree. Data blobs are shared, not rewritten."""
    if not dst:
        raise AlreadyExists("/")
    info = tx.require(src)
    if dst == src:
        raise InvalidPath(keys.show(dst), "cannot copy a path onto itself")
    if info.is_dir and dst[:len(src)] == src:
        raise InvalidPath(keys.show(dst), "cannot copy a directory into itself")
    if tx.info(dst) is not None and not overwrite:
        raise AlreadyExists(keys.show(dst))
    replace = _check_target(tx, src, dst, info)
    entries = _subtree(tx, src)
    _check_fits(entries, src, dst)
    if replace:
        tx.delete_span(keys.subtree_span(dst))
    _relocate(tx, entries, src, dst)
