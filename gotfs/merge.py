"""merge: three-way merge of filesystem roots, in time proportional to the change.

    root, conflicts = merge(fs, base, ours, theirs)

Why it is cheap: gotkv's diff skips every subtree two trees share, so the diffs base→ours and
base→theirs read O(changes x depth) nodes, and their keys group by path (a path's Info key
and its extent keys are adjacent). A path changed on one side only takes that side's entries
verbatim: the same keys and values, no data read or rewritten. Only paths changed on both
sides are looked at closely. The outcome is one batch applied to `ours` (O(changes x depth)
nodes more). gotkv trees are history independent, so the root depends only on the merged
entries: without conflicts it is the same whichever side is "ours", and merging with an
ancestor (base == ours) returns the other root as it is, a fast-forward.

Rules for a path changed on both sides (x == y below means same Info and same bytes, where
runs of extents naming the same blob bytes are equal unread — packing may re-point extents):

- ours == theirs, or one side equals base: no conflict, take the other (or either);
- one side deleted it, the other changed it: DELETE_MODIFY, or RENAME_EDIT when the deleting
  side added a file with base's exact bytes (found among that side's added paths: cheap);
- a directory on one side, not on the other: FILE_DIRECTORY; file vs symlink: TYPE;
- both files: bytes and metadata merge separately. Bytes: equal, or one side unchanged, or a
  line merge (gotfs.mergetext) when all three are text; else CONTENT (text) or BINARY.
  Mode: three-way on the number, else MODE. Xattrs merge name by name; mtime takes the later;
- both directories: metadata as above; symlinks: the target three-way, else CONTENT.

A path kept in the merge (or conflicted) below a directory that the merge removes or turns
into a non-directory is a conflict at that directory (DELETE_MODIFY / FILE_DIRECTORY), e.g.
one side deleted `d` and the other added `d/new`.

What the returned root holds at a conflict: with favor=OURS or THEIRS, that side's version
(for MODE: its mode; for CONTENT/BINARY: its bytes); otherwise a working state as git leaves
it — text with conflict markers, ours' bytes for a binary, the modified side for a delete,
the directory at the path and the other version beside it at `path~label`. Every version
stays retrievable from the three roots the caller holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, NamedTuple

from gotfs import keys
from gotfs.diff import same_extent_bytes
from gotfs.extent import Extent
from gotfs.info import Info, Kind
from gotfs.mergetext import TEXT_LIMIT, is_text, merge_text
from gotfs.tx import Tx
from gotkv.diff import Change
from gotkv.errors import InvalidInput
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS

OURS, THEIRS = "ours", "theirs"
CONTENT, BINARY, MODE = "content", "binary", "mode"
DELETE_MODIFY, RENAME_EDIT = "delete-vs-modify", "rename-vs-edit"
FILE_DIRECTORY, TYPE = "file-vs-directory", "type"


@dataclass(frozen=True, slots=True)
class Conflict:
    """One path the merge could not decide. `base`/`ours`/`theirs` are its Info on each side
    (None: absent); `note` says more (where a moved-aside version went, a rename target)."""

    path: str
    kind: str
    base: Info | None
    ours: Info | None
    theirs: Info | None
    note: str = ""


class Merged(NamedTuple):
    root: Root
    conflicts: list[Conflict]


@dataclass(slots=True)
class Version:
    """A path as stored in one root: its Info and its own entries (Info key first, extents)."""

    info: Info
    entries: list[tuple[bytes, bytes]]

    def extents(self) -> list[tuple[int, int, Extent]]:
        out = []
        for k, v in self.entries[1:]:
            e = Extent.from_bytes(v)
            end = keys.extent_end(k)
            out.append((end - e.length, end, e))
        return out


def merge(fs: FS, base: Root, ours: Root, theirs: Root, *, favor: str | None = None,
          labels: tuple[str, str] = (OURS, THEIRS)) -> Merged:
    """Merge the changes base→ours and base→theirs. Returns the merged root and the conflicts
    (none: the root is the clean merge; some: see the module docstring for what it holds).

    favor=OURS/THEIRS takes that side at every conflict; `labels` name the sides in conflict
    markers and in `path~label` names. Cost: O(changed paths x depth) nodes read and written,
    plus the bytes of files whose contents both sides changed."""
    if favor not in (None, OURS, THEIRS):
        raise InvalidInput(f"favor must be {OURS!r}, {THEIRS!r} or None, got {favor!r}")
    if ours == theirs or theirs == base:
        return Merged(ours, [])
    if ours == base:
        return Merged(theirs, [])
    return _Merge(fs, base, ours, theirs, favor, labels).run()


def changes_by_path(fs: FS, a: Root, b: Root) -> dict[keys.Path, list[Change]]:
    """gotkv's diff a→b grouped by path, in key order. O(changes x depth) nodes read."""
    return {p: list(g) for p, g in groupby(fs.kv.diff(a, b), key=lambda c: keys.path_of(c.key))}


def _info_after(group: list[Change]) -> Info | None:
    """A path's Info after its changes (only extents changed: it is a file, still there)."""
    head = group[0]
    if keys.is_extent_key(head.key):
        return _SOME_FILE
    return None if head.new is None else Info.from_bytes(head.new)


_SOME_FILE = Info.file()


class _Merge:
    def __init__(self, fs: FS, base: Root, ours: Root, theirs: Root, favor: str | None,
                 labels: tuple[str, str]):
        self.fs = fs
        self.roots = {None: base, OURS: ours, THEIRS: theirs}
        self.favor = favor
        self.labels = {OURS: labels[0], THEIRS: labels[1]}
        self.tx = Tx(fs, ours)
        self.after: dict[keys.Path, Info | None] = {}  # every changed path's Info in the result
        self.origin: dict[keys.Path, str | Version | None] = {}  # the side it came from, or itself
        self.conflicts: dict[keys.Path, Conflict] = {}
        self.added: dict[str, dict[int, list[keys.Path]]] = {}

    def run(self) -> Merged:
        mine = changes_by_path(self.fs, self.roots[None], self.roots[OURS])
        other = changes_by_path(self.fs, self.roots[None], self.roots[THEIRS])
        self.added = {OURS: _added_files(mine), THEIRS: _added_files(other)}
        for path, group in mine.items():
            if path not in other:
                self.after[path] = _info_after(group)  # already in `ours`: nothing to write
                self.origin[path] = OURS
        for path, group in other.items():
            if path not in mine:
                self.after[path] = _info_after(group)
                self.origin[path] = THEIRS
                for c in group:
                    if c.new is None:
                        self.tx.delete_key(c.key)
                    else:
                        self.tx.put(c.key, c.new)
        for path, group in mine.items():
            if path in other:
                if group == other[path]:
                    self.after[path] = _info_after(group)  # the very same edit on both sides
                    self.origin[path] = OURS
                else:
                    self._both(path)
        self._structure()
        root = self.tx.commit() if len(self.tx.batch) else self.roots[OURS]
        ordered = sorted(self.conflicts.items(), key=lambda kv: keys.info_key(kv[0]))
        return Merged(root, [c for _, c in ordered])

    # -- reading versions --------------------------------------------------------------

    def version(self, side: str | None, path: keys.Path) -> Version | None:
        """`path` in one root: an Info get and a scan of its extent span, O(depth + extents)."""
        root = self.roots[side]
        raw = self.fs.kv.get(root, keys.info_key(path), None)
        if raw is None:
            return None
        entries = [(keys.info_key(path), raw)]
        entries.extend(self.fs.kv.iterate(root, keys.extents_span(path)))
        return Version(Info.from_bytes(raw), entries)

    def same(self, x: Version | None, y: Version | None) -> bool:
        if x is None or y is None:
            return x is y
        return x.info == y.info and self.same_bytes(x, y)

    def same_bytes(self, x: Version, y: Version) -> bool:
        """Equal contents: sizes, then piece by piece, reading only pieces on different blobs."""
        if x.info.kind != y.info.kind or x.info.size != y.info.size or x.info.target != y.info.target:
            return False
        if x.entries[1:] == y.entries[1:]:
            return True
        return same_extent_bytes(self.fs, x.extents(), y.extents())

    def read(self, v: Version) -> bytes:
        data = bytearray(v.info.size)
        for start, end, e in v.extents():
            data[start:end] = self.fs.data.read_extent(e)
        return bytes(data)

    # -- one path changed on both sides --------------------------------------------------

    def _both(self, path: keys.Path) -> None:
        b, o, t = self.version(None, path), self.version(OURS, path), self.version(THEIRS, path)
        if self.same(o, t):
            return self._set(path, o, _canonical(o, t))
        if self.same(o, b):
            return self._set(path, o, t)
        if self.same(t, b):
            return self._set(path, o, o)
        if o is None or t is None:
            deleter = OURS if o is None else THEIRS
            renamed = self._renamed(b, deleter) if b is not None and b.info.is_file else None
            kind = DELETE_MODIFY if renamed is None else RENAME_EDIT
            note = f"renamed to {keys.show(renamed)} on {deleter}" if renamed else f"deleted on {deleter}"
            return self._conflict(path, kind, b, o, t, t if o is None else o, note)
        if o.info.kind != t.info.kind:
            if Kind.DIR in (o.info.kind, t.info.kind):
                return self._file_vs_dir(path, b, o, t)
            return self._conflict(path, TYPE, b, o, t, o)
        kind = o.info.kind
        info, meta_ok = _merge_meta(b.info if b is not None and b.info.kind == kind else None, o.info, t.info,
                                    self.favor)
        if kind == Kind.DIR:
            res = Version(info, [(keys.info_key(path), info.to_bytes())])
            return self._set(path, o, res) if meta_ok else self._conflict(path, MODE, b, o, t, res)
        if kind == Kind.SYMLINK:
            bt = b.info.target if b is not None and b.info.kind == kind else None
            target, ok = _three(bt, o.info.target, t.info.target)
            if not ok:
                target = (t if self.favor == THEIRS else o).info.target
            info = info.with_(target=target, size=len(target))
            res = Version(info, [(keys.info_key(path), info.to_bytes())])
            if ok and meta_ok:
                return self._set(path, o, res)
            return self._conflict(path, MODE if ok else CONTENT, b, o, t, res)
        self._merge_file(path, b if b is not None and b.info.is_file else None, o, t, info, meta_ok)

    def _merge_file(self, path, b: Version | None, o: Version, t: Version, info: Info, meta_ok: bool) -> None:
        """Bytes three-way (unread where extents say equal), then line merge, then a conflict.

        A side's version is taken as its entries, verbatim (a tree copy: no bytes become
        extents). Only line-merged text is new data: it is chunked alone, as one stream, as
        FS.write_file chunks a whole file, so its extents are those a write_file of the
        merged text would make."""
        kind = None
        if self.same_bytes(o, t):
            content = _canonical(o, t)
        elif b is not None and self.same_bytes(o, b):
            content = t
        elif b is not None and self.same_bytes(t, b):
            content = o
        else:
            sides = [(side, v) for side, v in ((OURS, o), (THEIRS, t), (None, b)) if v is not None]
            small = all(v.info.size <= TEXT_LIMIT for _, v in sides)  # larger: binary, unread
            data = {side: self.read(v) for side, v in sides} if small else {}
            if small and all(is_text(d) for d in data.values()):
                merged, clean = merge_text(data.get(None), data[OURS], data[THEIRS],
                                           (self.labels[OURS], self.labels[THEIRS]))
                kind = None if clean else CONTENT
            else:
                merged, kind = None, BINARY
            if kind is not None and self.favor is not None:
                merged = None
            content = merged if merged is not None else (t if self.favor == THEIRS else o)
        if isinstance(content, bytes):
            extents = self.fs.data.write_bytes(content)
            info = info.with_(size=len(content))
            res = Version(info, [(keys.info_key(path), info.to_bytes())]
                          + [(keys.extent_key(path, end), e.to_bytes()) for end, e in extents])
        else:
            info = info.with_(size=content.info.size)
            res = Version(info, [(keys.info_key(path), info.to_bytes())] + content.entries[1:])
        if kind is None and meta_ok:
            return self._set(path, o, res)
        note = "" if meta_ok or kind is None else "the mode differs too"
        self._conflict(path, kind or MODE, b, o, t, res, note)

    def _renamed(self, b: Version, deleter: str) -> keys.Path | None:
        """A file the deleting side added with exactly base's bytes (its rename target)."""
        for q in self.added[deleter].get(b.info.size, ()):
            v = self.version(deleter, q)
            if v is not None and v.info.is_file and self.same_bytes(v, b):
                return q
        return None

    def _file_vs_dir(self, path, b, o: Version, t: Version) -> None:
        """The directory stays at `path`; the other version goes beside it at `path~label`."""
        dir_side = OURS if o.info.is_dir else THEIRS
        other_side = THEIRS if dir_side == OURS else OURS
        vs = {OURS: o, THEIRS: t}
        if self.favor is not None:
            return self._conflict(path, FILE_DIRECTORY, b, o, t, vs[self.favor])
        aside = self._aside(path, vs[other_side], other_side)
        self._conflict(path, FILE_DIRECTORY, b, o, t, vs[dir_side],
                       f"the {vs[other_side].info.kind.name.lower()} from {self.labels[other_side]} "
                       f"is at {keys.show(aside)}")

    # -- recording outcomes --------------------------------------------------------------

    def _set(self, path: keys.Path, current: Version | None, res: Version | None) -> None:
        """Make `path` hold `res` in the result, where it holds `current` so far."""
        self.after[path] = None if res is None else res.info
        self.origin[path] = res
        if current is not None and res is not None and current.entries == res.entries:
            return
        self.tx.delete_key(keys.info_key(path))
        self.tx.delete_span(keys.extents_span(path))
        if res is not None:
            for k, v in res.entries:
                self.tx.put(k, v)

    def _conflict(self, path, kind: str, b, o, t, default: Version | None, note: str = "") -> None:
        """Record a conflict; the path holds the favored side, or else `default`."""
        res = default if self.favor is None or kind in (MODE, CONTENT, BINARY) else {OURS: o, THEIRS: t}[self.favor]
        self._set(path, o, res)
        self.conflicts[path] = Conflict(keys.show(path), kind, *(v.info if v else None for v in (b, o, t)), note)

    def _aside(self, path: keys.Path, v: Version, side: str) -> keys.Path:
        """Put `v` (a path's entries) at an unused sibling `name~label`; return that path."""
        label = self.labels[side].replace("/", "_").encode()
        name = path[-1] + b"~" + label
        while self._exists(path[:-1] + (name,)):
            name += b"~"
        aside = path[:-1] + (name,)
        old, new = keys.info_key(path), keys.info_key(aside)
        self._set(aside, None, Version(v.info, [(new + k[len(old):], val) for k, val in v.entries]))
        return aside

    def _exists(self, path: keys.Path) -> bool:
        if path in self.after:
            return self.after[path] is not None
        return self.fs.kv.get(self.roots[OURS], keys.info_key(path), None) is not None

    # -- directory structure -------------------------------------------------------------

    def _structure(self) -> None:
        """A kept (or conflicted) path below a directory the merge removed or replaced is a
        conflict at that directory. Only changed paths can be such ancestors: one unchanged
        on both sides is the same directory in all three roots. O(changed paths x depth)."""
        broken: set[keys.Path] = set()
        for path, info in list(self.after.items()):
            if info is None and path not in self.conflicts:
                continue
            for i in range(1, len(path)):
                up = path[:i]
                if up in self.after and up not in broken and (self.after[up] is None or not self.after[up].is_dir):
                    if up not in self.conflicts or self.favor is not None:
                        broken.add(up)
        dropped: list[keys.Path] = []
        for up in sorted(broken, key=len):
            if any(up[:len(d)] == d for d in dropped):
                continue  # below a directory this merge already emptied
            b, o, t = self.version(None, up), self.version(OURS, up), self.version(THEIRS, up)
            if up not in self.conflicts:
                kind = DELETE_MODIFY if self.after[up] is None else FILE_DIRECTORY
                self.conflicts[up] = Conflict(keys.show(up), kind, *(v.info if v else None for v in (b, o, t)),
                                              "changed below it on one side, removed or replaced on the other")
            now = self._now(up)
            if self.favor is not None:
                keep = {OURS: o, THEIRS: t}[self.favor]
                if keep is None or not keep.info.is_dir:
                    self.tx.delete_span(keys.children_span(up))
                    dropped.append(up)
                self._set(up, now, keep)
                continue
            dir_side = OURS if o is not None and o.info.is_dir else THEIRS
            if now is not None:  # the file or symlink there moves aside
                self._aside(up, now, THEIRS if dir_side == OURS else OURS)
            self._set(up, now, {OURS: o, THEIRS: t}[dir_side])

    def _now(self, path: keys.Path) -> Version | None:
        """What the result holds at `path` so far."""
        origin = self.origin.get(path, OURS)
        return self.version(origin, path) if isinstance(origin, str) else origin


def _added_files(changes: dict[keys.Path, list[Change]]) -> dict[int, list[keys.Path]]:
    """Files a side added (absent in base), by size: the candidates for a rename target."""
    out: dict[int, list[keys.Path]] = {}
    for path, group in changes.items():
        head = group[0]
        if not keys.is_extent_key(head.key) and head.old is None and head.new is not None:
            info = Info.from_bytes(head.new)
            if info.is_file:
                out.setdefault(info.size, []).append(path)
    return out


def _canonical(x: Version | None, y: Version | None) -> Version | None:
    """One of two equal versions, chosen by their entries: the same whichever side is ours."""
    if x is None or y is None:
        return x if y is None else y
    return x if x.entries <= y.entries else y


def _three(b, o, t):
    """(value, clean) of a three-way merge of plain values; not clean: (ours, False)."""
    if o == t or t == b:
        return o, True
    if o == b:
        return t, True
    return o, False


def _merge_meta(b: Info | None, o: Info, t: Info, favor: str | None) -> tuple[Info, bool]:
    """Mode, owner and device number three-way, xattrs name by name, the later mtime.
    Returns (Info, clean); on a conflict each field holds the favored side's value (ours' by
    default)."""
    pick = t if favor == THEIRS else o
    mode, ok = _three(b.mode if b else None, o.mode, t.mode)
    if not ok:
        mode = pick.mode
    owner, clean = _three((b.uid, b.gid) if b else None, (o.uid, o.gid), (t.uid, t.gid))
    rdev, clean_rdev = _three(b.rdev if b else None, o.rdev, t.rdev)
    if not (clean and clean_rdev):
        ok = False
        owner = owner if clean else (pick.uid, pick.gid)
        rdev = rdev if clean_rdev else pick.rdev
    bx, ox, tx = dict(b.xattrs) if b else {}, dict(o.xattrs), dict(t.xattrs)
    xattrs = {}
    for name in sorted(set(bx) | set(ox) | set(tx)):
        value, clean = _three(bx.get(name), ox.get(name), tx.get(name))
        if not clean:
            ok = False
            value = dict(pick.xattrs).get(name)
        if value is not None:
            xattrs[name] = value
    mtimes = [m for m in (o.mtime_ns, t.mtime_ns) if m is not None]
    mtime, clean = _three(b.mtime_ns if b else None, o.mtime_ns, t.mtime_ns)
    if not clean:
        mtime = max(mtimes)
    return o.with_(mode=mode, xattrs=tuple(xattrs.items()), mtime_ns=mtime, uid=owner[0], gid=owner[1],
                   rdev=rdev), ok
