"""WorkStatus: the working directory compared with a tree through the stat cache — the scan,
the cache's connection and status. WorkCopy (gotfs/repo/workcopy.py) adds snapshot and
checkout on top of it.

Apart from WorkCopy because `got status` runs this alone: while the cache's rows describe
the tree asked about (the base tree, see basetree) and every file's stat signature matches
its row, a status is a directory scan, one query of the rows' signatures and a dict lookup
per path. A changed file is then hashed and compared with its row's hash. The filesystem
layer (FS, Tx, gotkv's edit batch, the chunker) and the blob store load (`fs`) only when the
rows cannot answer: no recorded base for the tree asked about, or a row that is not the
base's entry for its path.
"""

from __future__ import annotations

import functools
import os
import stat as st
import sys
import time

from gotfs import keys
from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.repo import basetree
from gotfs.repo.ignore import Ignore
from gotfs.repo.statrows import (RACY_NS, decode_entries, encode_entries, extents_hash, file_hash, row_path,
                                 signature)
from gotkv.dbfile import close_keeping_wal, open_cache
from gotkv.root import Root
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Iterator

    from gotfs.fs import FS

SCHEMA = "CREATE TABLE IF NOT EXISTS files(path BLOB PRIMARY KEY, sig BLOB, hash BLOB, entries BLOB)"


class Change(Value):
    """One path a checkout, a merge or a status names."""

    __slots__ = ("path", "kind")
    path: str
    kind: str  # added / removed / modified

    def __init__(self, path: str, kind: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "kind", kind)


class HostEntry:
    """One path found in the working directory: its parsed path, lstat and symlink target."""

    __slots__ = ("path", "stat", "target")

    def __init__(self, path: keys.Path, stat: os.stat_result, target: bytes = b"") -> None:
        self.path = path
        self.stat = stat
        self.target = target

    @property
    def is_dir(self) -> bool:
        return st.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return st.S_ISREG(self.stat.st_mode)

    def info(self, size: int | None = None) -> Info:
        mode = st.S_IMODE(self.stat.st_mode)
        if self.is_dir:
            return Info.dir(mode)
        if self.is_file:
            return Info.file(mode, self.stat.st_size if size is None else size)
        if not st.S_ISLNK(self.stat.st_mode):  # a FIFO, socket or device node
            return Info.special(self.stat.st_mode, self.stat.st_rdev)
        return Info.symlink(self.target)


class WorkChange(Value):
    """A path where the working directory differs from a tree, with what a patch needs of it:
    the tree's Info and extents (`old`, `extents`; None and [] when added) and the host's
    entry (`host`; None when removed)."""

    __slots__ = ("path", "kind", "old", "extents", "host")
    path: str
    kind: str  # added / removed / modified
    old: Info | None
    extents: list[tuple[int, Extent]]
    host: HostEntry | None

    def __init__(self, path: str, kind: str, old: Info | None, extents: list, host: HostEntry | None) -> None:
        for name, value in (("path", path), ("kind", kind), ("old", old), ("extents", extents), ("host", host)):
            object.__setattr__(self, name, value)


_FMT, _REG = 0o170000, st.S_IFREG  # (st_mode & _FMT == _REG: S_ISREG without a call)
_ABSENT = object()


class WorkStatus:
    """The working directory of a Repo, as status sees it. See the module docstring."""

    def __init__(self, repo, fs: FS | None = None):
        self.repo = repo
        self._fs = fs
        self.top = repo.top
        self._db_path = repo.dot_file("workcopy.sqlite")
        self.db = open_cache(self._db_path, ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", SCHEMA, basetree.SCHEMA],
                             timeout=60, isolation_level=None)

    @functools.cached_property
    def root(self) -> Path:
        """The working directory as a Path, made on first use: the scan and a status that
        finds no change go by `top` (a string) and never import pathlib."""
        return self.repo.workdir

    @property
    def fs(self) -> FS:
        """The filesystem trees are read from (the repo's unless given): opened on first use,
        so that a status that reads no tree never loads the filesystem layer."""
        if self._fs is None:
            self._fs = self.repo.fs
        return self._fs

    def close(self) -> None:
        """Close the cache, leaving its write-ahead log for the next command (no checkpoint:
        gotkv.dbfile.close_keeping_wal)."""
        close_keeping_wal([self.db], self._db_path)

    # -- scanning ----------------------------------------------------------------------

    def scan(self, rows: dict[bytes, bytes | None] | None = None,
             differ: set[bytes] | None = None) -> Iterator[tuple[bytes, os.stat_result]]:
        """Every path below the working directory that a commit would record, unordered, as
        (its components joined by b"/", its lstat). Cost: one readdir per directory and one
        fstatat per path, relative to the open directory (no walk of the whole path again);
        names are matched against .gotignore only when it has patterns. A tuple per path: a
        no-change status of 100k files makes nothing else per unchanged file.

        With `rows` (path -> stat signature, a dict this consumes): every regular file found
        is popped from it, one whose signature equals its row is not yielded (the status's
        unchanged file, met in the loop that found it), and one whose row differs is added to
        `differ`. What stays in `rows` is then the rows of paths that are not files here."""
        ignore = Ignore.load(self.top)
        enc, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        top = os.fsencode(self.top)
        is_dir = st.S_ISDIR
        pop = rows.pop if rows is not None else None
        stack = [b""]
        while stack:
            rel = stack.pop()
            prefix = rel + b"/" if rel else b""
            shown = os.fsdecode(prefix)
            fd = os.open(top + b"/" + rel if rel else top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                with os.scandir(fd) as it:
                    for d in it:
                        name = d.name.encode(enc, errors)
                        s = d.stat(follow_symlinks=False)
                        if ignore.ignored_name(shown, name, is_dir(s.st_mode)):
                            continue
                        raw = prefix + name
                        if pop is not None and s.st_mode & _FMT == _REG:
                            row = pop(raw, _ABSENT)
                            if row == b"%d:%d:%d:%d:%d" % (s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_mode):
                                continue  # (statrows.signature, inlined: once per file of the tree)
                            if row is not _ABSENT:
                                differ.add(raw)
                        elif is_dir(s.st_mode):
                            stack.append(raw)
                        yield raw, s
            finally:
                os.close(fd)

    def entry(self, raw: bytes, s: os.stat_result) -> HostEntry:
        """The HostEntry of a path scan() yielded (reads a symlink's target)."""
        target = os.readlink(os.fsencode(self.top) + b"/" + raw) if st.S_ISLNK(s.st_mode) else b""
        return HostEntry(row_path(raw), s, target)

    def host_path(self, path: keys.Path) -> Path:
        return self.root.joinpath(*[os.fsdecode(p) for p in path])

    def _cached(self) -> dict[bytes, tuple[bytes | None, bytes, bytes]]:
        return {row[0]: row[1:] for row in self.db.execute("SELECT path, sig, hash, entries FROM files")}

    def _remember(self, rows: list[tuple[bytes, bytes | None, bytes, bytes]], forget=(), *,
                  base: basetree.BaseTree | None = None, keeps: Root | None = None) -> None:
        """Store rows; drop the rows of `forget` (paths no longer files here), so that gc does
        not keep the data of files that left the working directory alive forever.

        The recorded base tree becomes `base`; it is kept as it is when the rows copy their
        entries from the tree `keeps` and that tree is the base; otherwise it is cleared."""
        self.db.execute("BEGIN")
        self.db.executemany("DELETE FROM files WHERE path=?", [(p,) for p in forget])
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", rows)
        if base is not None or keeps is None or basetree.load(self.db, keeps) is None:
            basetree.record(self.db, base)
        self.db.execute("COMMIT")

    def _trusted_sig(self, s: os.stat_result, now_ns: int) -> bytes | None:
        return None if now_ns - s.st_mtime_ns < RACY_NS else signature(s)

    # -- status ------------------------------------------------------------------------

    def tracked(self, root: Root) -> dict[bytes, tuple[Info, list[tuple[int, Extent]]]]:
        """Every path of a root (root dir excluded) with its Info and extents."""
        out: dict[bytes, tuple[Info, list]] = {}
        for k, v in self.fs.kv.iterate(root):
            if keys.is_extent_key(k):
                path = b"/".join(keys.path_of(k))
                out[path][1].append((keys.extent_end(k), Extent.from_bytes(v)))
            elif k != b"/":
                out[b"/".join(keys.path_of(k))] = (Info.from_bytes(v), [])
        return out

    def status(self, base: Root) -> list[Change]:
        """Paths where the working directory differs from `base`, in path order.

        When `base` is the recorded base tree (see basetree), the rows stand for it: one lstat
        per path, and a row read (and a content read) only for a file whose stat signature
        changed. Otherwise every entry of `base` is read (tracked)."""
        return [Change(c.path, c.kind) for c in self.changes(base)]

    def changes(self, base: Root, *, detail: bool = False) -> list[WorkChange]:
        """status(base) with, when `detail`, each path's Info and extents in `base` (a row read
        per removed path too) and its host entry: what `got diff` shows without storing a
        snapshot of the working directory. Cost: status's."""
        now = time.time_ns()
        recorded = basetree.load(self.db, base)
        if recorded is not None:
            view = basetree.RecordedTree(self.db, recorded, decode_entries)
            found = self.scan(view.sigs, view.changed)  # (unchanged files are left out)
            lookup, paths = view.get, view.paths
        else:
            tracked, cache = self.tracked(base), self._cached()
            found = self.scan()

            def lookup(raw: bytes):
                old = tracked.get(raw)
                return None if old is None else (*old, cache.get(raw))

            paths = tracked.keys
        changes: list[WorkChange] = []
        refreshed = []
        seen = set()  # the paths found that are not unchanged files
        fsdecode = os.fsdecode
        for raw, s in found:
            seen.add(raw)
            e = self.entry(raw, s)
            old = lookup(raw)
            if old is None:
                changes.append(WorkChange(fsdecode(raw), ADDED, None, [], e))
                continue
            info, extents, row = old
            if not self._same(e, info, extents, row, now, refreshed):
                changes.append(WorkChange(fsdecode(raw), MODIFIED, info, extents, e))
        for raw in paths() - seen:  # (paths() holds no file found unchanged)
            info, extents = lookup(raw)[:2] if detail else (None, [])
            changes.append(WorkChange(fsdecode(raw), REMOVED, info, extents, None))
        if refreshed:
            self._remember(refreshed, keeps=base)
        return sorted(changes, key=lambda c: keys.info_key(keys.parse_path(c.path)))

    def _same(self, e: HostEntry, info: Info, extents, row, now: int, refreshed: list) -> bool:
        """Does the host path hold what the tree records? Reads content only when it must."""
        if e.is_dir or not e.is_file:  # what a commit records of it (gotfs.repo.unrecorded)
            mine = e.info()
            return mine.kind == info.kind and mine.mode == info.mode and mine.target == info.target
        if not info.is_file or st.S_IMODE(e.stat.st_mode) != info.mode or e.stat.st_size != info.size:
            return False
        stored = encode_entries(Info.file(info.mode, info.size), extents)
        if row is not None and row[0] == signature(e.stat) and row[2] == stored:
            return True
        tree_hash = row[1] if row is not None and row[2] == stored else extents_hash(self.fs, extents)
        host_hash = file_hash(self.host_path(e.path))
        if host_hash != tree_hash:
            return False
        sig = self._trusted_sig(e.stat, now)
        if row is None or (row[0], row[1], row[2]) != (sig, host_hash, stored):  # (a racy file's row stays as it is)
            refreshed.append((b"/".join(e.path), sig, host_hash, stored))
        return True

    def referenced_cids(self) -> set[bytes]:
        """Data blobs the stat cache may hand to the next commit; gc keeps them.

        The cache commits with synchronous=NORMAL, so a power cut may roll it back to older
        rows, naming older blobs. Those must not be ones gc deleted: so the rows read here
        are made durable (`_sync`) before gc deletes anything, and from then on a power cut
        can roll the cache back no further than to them. Cost: a read of every row, then
        an fsync of the cache's log, its database and its directory."""
        out = set()
        for (blob,) in self.db.execute("SELECT entries FROM files"):
            out.update(e.ref.cid for _, e in decode_entries(blob)[1])
        self._sync()
        return out

    def _sync(self) -> None:
        """Make every committed transaction of the cache durable: fsync its write-ahead log
        (synchronous=NORMAL commits write it without syncing), the database file (which a
        checkpoint may have written) and the directory that names them."""
        path = os.fspath(self._db_path)
        for name in (path + "-wal", path, os.path.dirname(path)):
            try:
                fd = os.open(name, os.O_RDONLY)
            except FileNotFoundError:
                continue  # no log: everything is in the database file
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
