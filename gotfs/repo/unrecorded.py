"""What a commit of the working directory records, and what it keeps from the commit before.

The working directory records a path's type, permission bits, bytes and symlink target, as
git does. A tree can hold more: a read-write mount and the library also store mtimes and
xattrs. A snapshot of the working directory cannot see those, so for every path whose type,
mode, bytes and target it leaves unchanged, the commit keeps the previous tree's Info as it
was, and status (which compares only what is recorded) and commit agree: a checkout followed
by a commit records nothing, and a mount's mtimes survive a later commit of other files.
A path the working directory did change is recorded as it finds it (no mtime, no xattrs).
"""

from __future__ import annotations

from gotfs import keys
from gotfs.diff import MODIFIED, PathChange, diff
from gotfs.fs import FS
from gotfs.tx import Tx
from gotkv.root import Root


def unrecorded_only(c: PathChange) -> bool:
    """True when `c` changes nothing the working directory records (only mtime or xattrs)."""
    return (c.kind == MODIFIED and not c.content_changed and c.old.kind == c.new.kind
            and c.old.mode == c.new.mode and c.old.target == c.new.target)


def keep_unrecorded(fs: FS, base: Root, snapshot: Root) -> Root:
    """`snapshot` (of the working directory) with `base`'s Info restored at every path where
    the two differ only in what the working directory does not record. Cost: a diff of the
    two roots, O(changes · depth), plus one put per restored path; `snapshot` itself when
    there is none."""
    tx = None
    for c in diff(fs, base, snapshot):
        if unrecorded_only(c):
            tx = tx or Tx(fs, snapshot)
            tx.put_info(keys.parse_path(c.path), c.old)
    return tx.commit() if tx is not None else snapshot
