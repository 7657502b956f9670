"""diff: which paths differ between two filesystem roots, with their old and new Info.

Built on gotkv's diff, which skips every shared subtree, so the cost follows the size of the
change, not of the trees. A path's Info key and its extent keys are adjacent in key order, so
the changed keys group by path in one pass.

Packing makes one more step necessary: small files share chunks, so re-storing a file's
neighbour can give an unchanged file new extents with the same bytes. When a file's extents
changed and its size did not, its content is compared from the changed extent entries alone,
which the gotkv diff already yields with both values: an extent entry equal on both sides
(same end, same blob slice) holds the same bytes there, and extents never overlap, so the
bytes can differ only where a changed entry lies. Those stretches are compared piece by
piece: two pieces naming the same blob bytes, or two holes, are equal unread, and the rest is
read through the chunk cache (each chunk decoded once). A path whose Info did not change is
thus settled without a lookup, and one whose bytes and Info are unchanged is not reported.
"""

from __future__ import annotations

from itertools import groupby

from gotfs import keys
from gotfs.extent import Extent
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
    """Changes from root `a` to root `b`, in path (key) order, optionally under `prefix`.

    Cost: the gotkv diff (O(changes · depth) node reads), one Info lookup per file whose
    bytes moved without its Info changing and whose bytes turn out to differ (none when a
    neighbour's re-store only moved them), and a read of each chunk that a changed extent
    names on blob bytes the other side does not share.
    """
    under = keys.info_key(keys.parse_path(prefix)) if prefix else b"/"
    changes = (c for c in fs.kv.diff(a, b) if c.key.startswith(under))
    for path, group in groupby(changes, key=lambda c: keys.path_of(c.key)):
        change = _path_change(fs, b, path, list(group))
        if change is not None:
            yield change


def _path_change(fs: FS, b: Root, path: keys.Path, group: list[Change]) -> PathChange | None:
    info_key = keys.info_key(path)
    if group[0].key != info_key:  # the Info is the same bytes on both sides: only extents moved
        if same_changed_extents(fs, group):
            return None
        info = Info.from_bytes(fs.kv.get(b, info_key))
        return PathChange(keys.show(path), MODIFIED, info, info)
    head, moved = group[0], group[1:]
    old = None if head.old is None else Info.from_bytes(head.old)
    new = None if head.new is None else Info.from_bytes(head.new)
    if old is None:
        return PathChange(keys.show(path), ADDED, None, new)
    if new is None:
        return PathChange(keys.show(path), REMOVED, old, None)
    if old.kind != new.kind or old.size != new.size or old.target != new.target:
        return PathChange(keys.show(path), MODIFIED, old, new)
    content = bool(moved) and not same_changed_extents(fs, moved)
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


def same_changed_extents(fs: FS, changes: list[Change]) -> bool:
    """True if one file's changed extent entries (gotkv changes of its extent keys; the
    file's size equal on both sides) leave its bytes the same.

    An extent entry that is not among `changes` is equal on both sides: the same range with
    the same bytes. Extents do not overlap, so no changed entry covers such a range, and
    elsewhere a side's bytes are its changed entries' or a hole's zeros: comparing the two
    sides' changed entries alone (same_extent_bytes) decides the whole file. Cost: no tree
    read; a read of each chunk the changed entries name on bytes the other side lacks.
    """
    xa, xb = [], []
    for c in changes:
        end = keys.extent_end(c.key)
        for raw, side in ((c.old, xa), (c.new, xb)):
            if raw is not None:
                e = Extent.from_bytes(raw)
                side.append((end - e.length, end, e))
    if len(xa) == len(xb) and all(pa[:2] == pb[:2] for pa, pb in zip(xa, xb)):
        # Each entry replaced by one over the same range (a moved neighbour): pair by pair.
        read = fs.data.read_extent
        return all(ea.ref.cid == eb.ref.cid and ea.offset == eb.offset or bytes(read(ea)) == bytes(read(eb))
                   for (_, _, ea), (_, _, eb) in zip(xa, xb))
    return same_extent_bytes(fs, xa, xb)


def same_extent_bytes(fs: FS, xa: list, xb: list) -> bool:
    """Whether two extent lists, (start, end, Extent) each in order, hold the same bytes over
    the range they span (a gap in a list reads as zeros, as a hole does).

    Walks both lists in step; a stretch where both name the same blob at the same offset is
    equal unread, holes compare as zeros, and only the rest is read (through the chunk
    cache). For two whole files of equal size this is their equality (merge uses it)."""
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
