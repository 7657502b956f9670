"""diff: which paths differ between two filesystem roots, with their old and new Info.

Built on gotkv's diff, which skips every shared subtree, so the cost follows the size of the
change, not of the trees. A path's Info key and its extent keys are adjacent in key order, so
the changed keys group by path in one pass; a path whose Info did not change but whose
extents did (same size, new bytes) is reported as modified with its Info read from each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Iterator

from gotfs import keys
from gotfs.info import Info
from gotkv.diff import Change
from gotkv.kv import KV
from gotkv.root import Root

ADDED, REMOVED, MODIFIED = "added", "removed", "modified"


@dataclass(frozen=True, slots=True)
class PathChange:
    """One changed path. `old` is None when added, `new` is None when removed."""

    path: str
    kind: str
    old: Info | None
    new: Info | None

    @property
    def content_changed(self) -> bool:
        """True unless only metadata (mode, mtime, xattrs) changed."""
        return self.kind != MODIFIED or self._data_changed

    _data_changed: bool = True


def diff(kv: KV, a: Root, b: Root, prefix: str = "") -> Iterator[PathChange]:
    """Changes from root `a` to root `b`, in path (key) order, optionally under `prefix`."""
    under = keys.info_key(keys.parse_path(prefix)) if prefix else b"/"
    changes = (c for c in kv.diff(a, b) if c.key.startswith(under))
    for path, group in groupby(changes, key=lambda c: keys.path_of(c.key)):
        yield _path_change(kv, a, b, path, list(group))


def _path_change(kv: KV, a: Root, b: Root, path: keys.Path, group: list[Change]) -> PathChange:
    info_key = keys.info_key(path)
    head = group[0] if group[0].key == info_key else None
    if head is not None:
        old = None if head.old is None else Info.from_bytes(head.old)
        new = None if head.new is None else Info.from_bytes(head.new)
    else:
        old = Info.from_bytes(kv.get(a, info_key))
        new = Info.from_bytes(kv.get(b, info_key))
    data_changed = any(keys.is_extent_key(c.key) for c in group)
    if old is None:
        kind = ADDED
    elif new is None:
        kind = REMOVED
    else:
        kind = MODIFIED
        data_changed = data_changed or old.kind != new.kind or old.size != new.size or old.target != new.target
    return PathChange(keys.show(path), kind, old, new, data_changed)
