"""diff: which paths differ between two filesystem roots, with their old and new Info.

Built on gotkv's diff, which skips every shared subtree, so the cost follows the size of the
change, not of the trees. A path's Info key and its extent keys are adjacent in key order, so
the changed keys group by path in one pass.

Packing makes one more step necessary: small files share chunks, so re-storing a file's
neighbour can give an unchanged file new extents with the same bytes. When only a file's
extents changed, its content is compared — extent runs naming the same blob bytes are equal
without reading, and only the rest is read — and a file whose bytes and Info are unchanged is
not reported at all.
"""

from __future__ import annotations

from itertools import groupby

from gotfs import keys
from gotfs.info import Info
from gotkv.root import Root
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from typing import Iterator

    from gotfs.fs import FS
    from gotkv.diff import Change

ADDED, REMOVED, MODIFIED = "added", "removed", "modified"


class PathChange(Value):
    """One changed path. `old` is None when added, `new` is None when removed.

    content_changed is False when only metadata (mode, mtime, xattrs) changed.
    """

    __slots__ = ("path", "kind", "old", "new", "content_changed")
    path: str
    kind: str
    old: Info | None
    new: Info | None
    content_changed: bool

    def __init__(self, path: str, kind: str, old: Info | None, new: Info | None, content_changed: bool = True) -> None:
        for name, value in (("path", path), ("kind", kind), ("old", old), ("new", new),
                            ("content_changed", content_changed)):
            object.__setattr__(self, name, value)


def diff(fs: FS, a: Root, b: Root, prefix: str = "") -> Iterator[PathChange]:
    """Changes from root `a` to root `b`, in path (key) order, optionally under `prefix`."""
    under = keys.info_key(keys.parse_path(prefix)) if prefix else b"/"
    changes = (c for c in fs.kv.diff(a, b) if c.key.startswith(under))
    for path, group in groupby(changes, key=lambda c: keys.path_of(c.key)):
        change = _path_change(fs, a, b, path, list(group))
        if change is not None:
            yield change


def _path_change(fs: FS, a: Root, b: Root, path: keys.Path, group: list[Change]) -> PathChange | None:
    info_key = keys.info_key(path)
    head = group[0] if group[0].key == info_key else None
    if head is not None:
        old = None if head.old is None else Info.from_bytes(head.old)
        new = None if head.new is None else Info.from_bytes(head.new)
    else:
        old = Info.from_bytes(fs.kv.get(a, info_key))
        new = Info.from_bytes(fs.kv.get(b, info_key))
    if old is None:
        return PathChange(keys.show(path), ADDED, None, new)
    if new is None:
        return PathChange(keys.show(path), REMOVED, old, None)
    if old.kind != new.kind or old.size != new.size or old.target != new.target:
        return PathChange(keys.show(path), MODIFIED, old, new)
    extents_moved = any(keys.is_extent_key(c.key) for c in group)
    content = extents_moved and not same_content(fs, a, b, path)
    if not content and old == new:
        return None
    return PathChange(keys.show(path), MODIFIED, old, new, content)


def only_times(c: PathChange) -> bool:
    """True for a directory whose Info changed only in its times: the trace of entries made
    or removed in it, which listings of changes leave out (as git, which has no directories)."""
    if c.kind != MODIFIED or not (c.old.is_dir and c.new.is_dir):
        return False
    untimed = {"mtime_ns": None, "atime_ns": None, "ctime_ns": None}
    return c.old.replace(**untimed) == c.new.replace(**untimed)


def same_content(fs: FS, a: Root, b: Root, path: keys.Path) -> bool:
    """True if the file at `path` holds the same bytes in both roots (sizes already equal).

    Walks both extent lists in step; a stretch where both name the same blob at the same
    offset is equal unread, holes compare as zeros, and only the rest is read.
    """
    from gotfs.tx import Tx  # here: `got status` imports this module for its kinds, not the tree reads

    return same_extent_bytes(fs, list(Tx(fs, a).extents(path)), list(Tx(fs, b).extents(path)))


def same_extent_bytes(fs: FS, xa: list, xb: list) -> bool:
    """Whether two files' extent lists, (start, end, Extent) each, hold the same bytes (their
    sizes already equal): the walk of same_content, for any two files (merge uses it)."""
    cuts = sorted({0, *(s for s, _, _ in xa), *(e for _, e, _ in xa), *(s for s, _, _ in xb), *(e for _, e, _ in xb)})
    ia = ib = 0
    for lo, hi in zip(cuts, cuts[1:]):
        while ia < len(xa) and xa[ia][1] <= lo:
            ia += 1
        while ib < len(xb) and xb[ib][1] <= lo:
            ib += 1
        pa = _piece(xa, ia, lo)
        pb = _piece(xb, ib, lo)
        if pa[0] == pb[0] and pa[0] is not None:
            continue  # the same blob bytes on both sides
        if _read_piece(fs, pa, hi - lo) != _read_piece(fs, pb, hi - lo):
            return False
    return True


def _piece(extents: list, i: int, lo: int):
    """(blob identity, extent, skip) of the piece starting at `lo` on one side; None identity for a hole."""
    if i < len(extents) and extents[i][0] <= lo:
        start, _, e = extents[i]
        skip = lo - start
        return (e.ref.cid, e.offset + skip), e, skip
    return None, None, 0


def _read_piece(fs: FS, piece, length: int) -> bytes:
    ident, extent, skip = piece
    if extent is None:
        return bytes(length)
    return bytes(fs.data.read_extent(extent)[skip:skip + length])
