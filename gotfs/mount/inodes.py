"""InodeTable: stable inode numbers for the paths of a mounted tree.

The kernel names files by inode number; gotfs names them by path. The table is a tree of
(parent inode, name) entries, so a path is found by walking up (O(depth)) and a rename moves
one entry whatever the size of the subtree below it: the children follow their parent.

Lifetime rules (the FUSE lookup protocol):

- Every reply that hands the kernel an inode (lookup, create, mkdir, symlink, each accepted
  readdirplus entry) adds one to its lookup count; `forget` takes them away.
- An inode keeps its number for the mount's lifetime while its path exists. Once the kernel
  has forgotten it (count 0) and it has no known children, it is *idle*: kept, so that a later
  lookup returns the same number, but evictable (oldest first) once more than `max_idle` are
  held. The kernel never uses a forgotten number, so eviction is invisible to it.
- unlink/rmdir and a rename that replaces its target *detach* the old inode: it has no path
  any more (path() raises StaleInode) but keeps its number until forgotten, as POSIX wants for
  a file still open after unlink.

Not thread-safe: the caller serialises access (the mount holds one lock around the table
and the transaction it describes). Costs: lookup O(1), path O(1) when kept, else
O(depth), rename O(1).
"""

from __future__ import annotations

import errno
from collections import OrderedDict
from dataclasses import dataclass

from gotfs.keys import Path
from gotkv.errors import GotError

ROOT_INODE = 1  # pyfuse3.ROOT_INODE; kept here so the table does not import pyfuse3
PATHS_KEPT = 1 << 16  # paths remembered (see InodeTable.path)


class StaleInode(GotError):
    """The kernel named an inode whose path was removed (or that was never handed out)."""

    errno = errno.ENOENT

    def __init__(self, ino: int):
        super().__init__(f"inode {ino} no longer has a path (it was removed or renamed over)")
        self.ino = ino


@dataclass(slots=True, eq=False)
class _Entry:
    parent: int | None  # None once detached (or for the root)
    name: bytes
    lookups: int = 0
    children: int = 0  # how many entries name this one as parent
    pins: int = 0  # open handles: a pinned inode is never evicted


class InodeTable:
    """path <-> inode map with FUSE lookup counts. See the module docstring."""

    def __init__(self, *, max_idle: int = 1 << 20):
        self.max_idle = max_idle
        self._entries: dict[int, _Entry] = {ROOT_INODE: _Entry(None, b"", lookups=1)}
        self._by_name: dict[tuple[int, bytes], int] = {}
        self._idle: OrderedDict[int, None] = OrderedDict()
        self._next = ROOT_INODE + 1
        self._paths: dict[int, Path] = {}  # inode -> its path, as path() last walked it

    def __len__(self) -> int:
        return len(self._entries)

    # -- resolving ---------------------------------------------------------------------

    def path(self, ino: int) -> Path:
        """The current path of `ino`. Raises StaleInode if it has none.

        Kept once walked, until a name changes (detach, rename: then all are dropped, since
        a directory's move changes every path below it) or the inode is dropped; at most
        PATHS_KEPT. A writable mount asks for the same few paths at every request (tar -x:
        ~8 requests a file, each naming the file or its directory)."""
        path = self._paths.get(ino)
        if path is not None:
            return path
        path = self._walk(ino)
        if len(self._paths) >= PATHS_KEPT:
            self._paths.clear()
        self._paths[ino] = path
        return path

    def _walk(self, ino: int) -> Path:
        parts = []
        while ino != ROOT_INODE:
            e = self._entries.get(ino)
            if e is None or e.parent is None:
                raise StaleInode(ino)
            parts.append(e.name)
            ino = e.parent
        parts.reverse()
        return tuple(parts)

    def parent(self, ino: int) -> int:
        """The directory holding `ino` (the root is its own parent). Raises StaleInode."""
        if ino == ROOT_INODE:
            return ROOT_INODE
        e = self._entries.get(ino)
        if e is None or e.parent is None:
            raise StaleInode(ino)
        return e.parent

    def find(self, parent: int, name: bytes) -> int | None:
        """The inode already numbered for `name` in `parent`, if any (no new number)."""
        return self._by_name.get((parent, name))

    def child(self, parent: int, name: bytes) -> int:
        """The inode of `name` in directory `parent`, numbering it on first sight."""
        ino = self._by_name.get((parent, name))
        if ino is not None:
            return ino
        if parent not in self._entries:
            raise StaleInode(parent)
        ino = self._next
        self._next += 1
        self._entries[ino] = _Entry(parent, name)
        self._by_name[(parent, name)] = ino
        self._entries[parent].children += 1
        self._idle[ino] = None
        self._evict()
        return ino

    # -- lookup counts -----------------------------------------------------------------

    def ref(self, ino: int, n: int = 1) -> None:
        """The kernel was handed `ino` n more times.

        An inode dropped meanwhile (a readdir listing is a snapshot; its entry may have been
        removed since) is ignored: the kernel's requests for it get StaleInode, its forget
        is ignored too.
        """
        e = self._entries.get(ino)
        if e is None:
            return
        e.lookups += n
        self._idle.pop(ino, None)

    def forget(self, ino: int, n: int) -> None:
        """The kernel dropped n references; a detached inode is then gone for good."""
        e = self._entries.get(ino)
        if e is None or ino == ROOT_INODE:
            return
        e.lookups = max(0, e.lookups - n)
        self._settle(ino, e)

    def pin(self, ino: int) -> None:
        """An open handle refers to `ino`: never evict or drop it until unpin."""
        self._entries[ino].pins += 1
        self._idle.pop(ino, None)

    def unpin(self, ino: int) -> None:
        e = self._entries.get(ino)
        if e is None:
            return
        e.pins -= 1
        self._settle(ino, e)

    def pinned(self, ino: int) -> bool:
        e = self._entries.get(ino)
        return e is not None and e.pins > 0

    def _settle(self, ino: int, e: _Entry) -> None:
        if e.lookups or e.pins or ino == ROOT_INODE:
            return
        if e.parent is None:
            self._drop(ino, e)
        else:
            self._idle[ino] = None
            self._idle.move_to_end(ino)
            self._evict()

    # -- changes (mirror what the transaction did) --------------------------------------

    def detach(self, parent: int, name: bytes) -> int | None:
        """`name` left `parent` (unlink, rmdir, replaced by rename). Returns its inode, if numbered."""
        ino = self._by_name.pop((parent, name), None)
        if ino is None:
            return None
        self._paths.clear()
        e = self._entries[ino]
        self._entries[parent].children -= 1
        e.parent = None
        self._idle.pop(ino, None)
        if not e.lookups and not e.pins:
            self._drop(ino, e)
        return ino

    def rename(self, parent: int, name: bytes, new_parent: int, new_name: bytes) -> None:
        """Move an entry (and so its whole subtree); a replaced target is detached first."""
        if (parent, name) == (new_parent, new_name):
            return
        self.detach(new_parent, new_name)
        ino = self._by_name.pop((parent, name), None)
        if ino is None:
            return
        if new_parent not in self._entries:
            raise StaleInode(new_parent)
        self._paths.clear()
        e = self._entries[ino]
        self._entries[parent].children -= 1
        self._entries[new_parent].children += 1
        e.parent, e.name = new_parent, new_name
        self._by_name[(new_parent, new_name)] = ino

    # -- eviction ----------------------------------------------------------------------

    def _drop(self, ino: int, e: _Entry) -> None:
        del self._entries[ino]
        self._paths.pop(ino, None)  # (a leaf: no path below it was kept)
        self._idle.pop(ino, None)
        if e.parent is not None:
            self._by_name.pop((e.parent, e.name), None)
            parent = self._entries.get(e.parent)
            if parent is not None:
                parent.children -= 1

    def _evict(self) -> None:
        """Drop the oldest idle leaves while more than max_idle inodes are idle."""
        if len(self._idle) <= self.max_idle:
            return
        for ino in list(self._idle):
            if len(self._idle) <= self.max_idle:
                return
            e = self._entries[ino]
            if e.children:
                continue  # a directory whose children are still known keeps its number
            self._drop(ino, e)
