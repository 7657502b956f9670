"""WorkCopy: the working directory against the repo — snapshot and status; its checkouts are
the Checkouts mixin (gotfs/repo/workcheckout.py).

The stat cache (SQLite, `.got/workcopy.sqlite`) remembers, per path, the file's stat
signature (size, mtime, ctime, inode, mode), the BLAKE3 of its content, and the gotfs entries
(Info + extents) it was stored as. A file whose signature is unchanged is neither read nor
re-chunked, and while the rows describe HEAD's tree exactly (the base tree, see basetree),
a commit edits only the changed paths into it: a no-change commit of 100k files is a
directory scan and a read of the rows' signatures.
Signatures of files modified in the last two seconds are not trusted ("racily clean", as in
git): a later write within the same timestamp tick could otherwise go unnoticed.

Commits do not record mtimes or xattrs (like git), so checking out a tree and committing it
again gives the same root.
"""

from __future__ import annotations

import os
import stat as st
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from gotfs import keys
from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.packing import ALONE
from gotfs.repo import basetree
from gotfs.repo.ignore import Ignore
from gotfs.repo.workcheckout import Change, Checkouts
from gotfs.repo.statrows import (RACY_NS, FileInfos as _FileInfos, HashingReader as _HashingReader,
                                 Pending as _Pending, RowBatches as _RowBatches, decode_entries as _decode_entries,
                                 encode_entries as _encode_entries, extents_hash as _extents_hash,
                                 file_hash as _file_hash, row_path as _row_path, signature)
from gotfs.treebuild import TreeBuild
from gotfs.tx import Tx
from gotkv.dbfile import open_cache
from gotkv.root import Root

ROW_BATCH = 8192  # written files between flushes that hand their rows to the cache
_SCHEMA = "CREATE TABLE IF NOT EXISTS files(path BLOB PRIMARY KEY, sig BLOB, hash BLOB, entries BLOB)"


@dataclass(slots=True)
class HostEntry:
    """One path found in the working directory."""

    path: keys.Path
    stat: os.stat_result
    target: bytes = b""

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


def _never(*_) -> bool:
    return False


_ABSENT = object()


class WorkCopy(Checkouts):
    """The working directory of a Repo."""

    def __init__(self, repo, fs=None):
        self.repo = repo
        self.fs = fs or repo.fs
        self.root = repo.workdir
        self.db = open_cache(repo.dot / "workcopy.sqlite", ["PRAGMA journal_mode=WAL", _SCHEMA, basetree.SCHEMA],
                             timeout=60, isolation_level=None)

    def close(self) -> None:
        self.db.close()

    # -- scanning ----------------------------------------------------------------------

    def scan(self) -> Iterator[tuple[bytes, os.stat_result]]:
        """Every path below the working directory that a commit would record, unordered, as
        (its components joined by b"/", its lstat). Cost: one readdir per directory and one
        fstatat per path, relative to the open directory (no walk of the whole path again);
        names are matched against .gotignore only when it has patterns. A tuple per path: a
        no-change status of 100k files makes nothing else per unchanged file."""
        ignore = Ignore.load(self.root)
        enc, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        top = os.fsencode(self.root)
        is_dir = st.S_ISDIR
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
                        if is_dir(s.st_mode):
                            stack.append(raw)
                        yield raw, s
            finally:
                os.close(fd)

    def entry(self, raw: bytes, s: os.stat_result) -> HostEntry:
        """The HostEntry of a path scan() yielded (reads a symlink's target)."""
        target = os.readlink(os.fsencode(self.root) + b"/" + raw) if st.S_ISLNK(s.st_mode) else b""
        return HostEntry(_row_path(raw), s, target)

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

    # -- snapshot ----------------------------------------------------------------------

    def snapshot(self, progress: Callable[[int, int], None] | None = None, *, live: Root | None = None,
                 becomes_base: bool = True) -> Root:
        """The working directory as a filesystem root (data of changed files is stored).

        A file whose stat signature matches its row is not read. When `live` (a root kept
        alive, such as HEAD's tree) is the recorded base tree (see basetree) and less than
        half the files changed, the changed paths are staged on that root (basetree.stage_changes):
        one lstat per path, O(changes x depth) nodes. Otherwise the whole tree is staged for
        a streaming build (gotfs.treebuild), the unchanged files' entries loaded from their
        rows as the build reaches them: O(paths) nodes. Either way the changed files are
        chunked in path order, in packing groups, so both give the same root. Memory: a few
        small records per path; the written files' rows go to the cache every ROW_BATCH
        files, each batch after a store flush.

        becomes_base=False is for a snapshot that is looked at, not committed (a diff): when it
        is staged on the recorded base, the cache is left as it is, so the base stays `live`
        and the next status or commit still works from the rows instead of reading or
        rebuilding every entry; the changed files are read again then, as git's diff does.
        """
        now = time.time_ns()
        base = basetree.load(self.db, live)
        sigs = dict(self.db.execute("SELECT path, sig FROM files"))
        others: dict[keys.Path, Info] = {(): Info.dir(0o755)}
        to_write: list[_Pending] = []
        files: set[bytes] = set()
        readers: dict[bytes, _HashingReader] = {}

        def opener(raw: bytes) -> _HashingReader:
            reader = readers[raw] = _HashingReader(self.root / os.fsdecode(raw))
            return reader

        files = 0
        rewritten: set[bytes] = set()  # files to write that have a row (the base's, if recorded)
        is_reg, pop = st.S_ISREG, sigs.pop
        for raw, s in self.scan():
            if not is_reg(s.st_mode):
                others[_row_path(raw)] = self.entry(raw, s).info()
                continue
            files += 1
            sig = signature(s)
            had = pop(raw, _ABSENT)  # what stays in sigs: rows of paths that are no longer files
            if had != sig:
                if had is not _ABSENT:
                    rewritten.add(raw)
                to_write.append(_Pending(raw, s.st_size, st.S_IMODE(s.st_mode),
                                         None if now - s.st_mtime_ns < RACY_NS else sig, opener))
        gone = set(sigs)
        del sigs
        known = self._known(to_write, rewritten)
        infos = _FileInfos()
        rows = _RowBatches(readers, infos, self._remember, self.fs.store.flush, ROW_BATCH, progress)
        if base is not None and 2 * (len(to_write) + len(gone)) < files:
            staging = basetree.stage_changes(self.fs, base, others, to_write, gone, infos, rewritten=rewritten)
            if not becomes_base:  # the rows and the base stay HEAD's
                return staging.flush(lambda *_: None, known=known)
            root = staging.flush(rows.add, known=known)
        else:
            build = self._stage_tree(others, to_write, gone | {p.raw for p in to_write}, infos)
            del to_write  # (the build holds what it needs)
            root = build.flush(rows.add, known=known)
        rows.flush()
        # The cache must never name blobs that are not durable: a process killed after
        # remembering but before the store's flush would hand lost extents to the next commit.
        self.fs.store.flush()
        self._remember([], forget=gone, base=basetree.BaseTree.of(root, others))
        return root

    def _known(self, to_write: list[_Pending], rewritten: set[bytes]) -> dict:
        """The stored chunks of the previous versions of the large files to write (those
        chunked alone, packing.ALONE bytes or more), for DataStore.write_many's `known`: an
        edit inside a big file then seals and posts only the chunks it changed. The rows
        (of `rewritten`: the files to write that have one) name durable blobs of the base
        tree. Cost: one row read per such file, one exists()."""
        refs = []
        for p in to_write:
            if p.size >= ALONE and p.raw in rewritten:
                row = self.db.execute("SELECT entries FROM files WHERE path=?", (p.raw,)).fetchone()
                if row is not None:
                    refs += [extent.ref for _, extent in _decode_entries(row[0])[1]]
        return self.fs.data.known(refs)

    def _stage_tree(self, others: dict[keys.Path, Info], to_write: list[_Pending], skip: set[bytes],
                    infos: _FileInfos) -> TreeBuild:
        """The whole tree staged for a streaming build: the files of `to_write` to be read,
        every other row's file (not in `skip`: written, or no longer a file) from its row,
        kept encoded until the build reaches it."""
        build = TreeBuild(self.fs)
        for path, info in others.items():
            build.put_info(path, info)
        for p in to_write:
            build.put_file(_row_path(p.raw), infos(p.mode, p.size), source=p, size_hint=p.size, tag=p)
        for raw, blob in self.db.execute("SELECT path, entries FROM files"):
            if raw not in skip:
                build.put_stored(_row_path(raw), partial(_decode_entries, blob))
        return build

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
        now = time.time_ns()
        recorded = basetree.load(self.db, base)
        if recorded is not None:
            view = basetree.RecordedTree(self.db, recorded, _decode_entries)
            unchanged, lookup, paths = view.unchanged, view.get, view.paths
        else:
            tracked, cache = self.tracked(base), self._cached()
            unchanged = _never

            def lookup(raw: bytes):
                old = tracked.get(raw)
                return None if old is None else (*old, cache.get(raw))

            paths = tracked.keys
        changes: list[Change] = []
        refreshed = []
        seen = set()  # the paths found that are not unchanged files
        is_reg = st.S_ISREG
        for raw, s in self.scan():
            if is_reg(s.st_mode) and unchanged(raw, signature(s)):
                continue
            seen.add(raw)
            e = self.entry(raw, s)
            old = lookup(raw)
            if old is None:
                changes.append(Change(os.fsdecode(raw), ADDED))
                continue
            info, extents, row = old
            if not self._same(e, info, extents, row, now, refreshed):
                changes.append(Change(os.fsdecode(raw), MODIFIED))
        for raw in paths() - seen:  # (paths() holds no file found unchanged)
            changes.append(Change(os.fsdecode(raw), REMOVED))
        if refreshed:
            self._remember(refreshed, keeps=base)
        return sorted(changes, key=lambda c: keys.info_key(keys.parse_path(c.path)))

    def dirty(self, base: Root, paths: list[str]) -> list[str]:
        """Those of `paths` that status(base) would list, looking at those paths only: one
        lstat each (plus a read of a file whose stat signature changed), not a scan of the
        whole directory, so a merge touching 20 paths of a 100k-file tree checks 20."""
        now = time.time_ns()
        ignore = Ignore.load(self.root)
        tx = Tx(self.fs, base)
        out, refreshed = [], []
        for text in paths:
            p = keys.parse_path(text)
            if not p:
                continue
            info = tx.info(p)
            e = self._host_entry(p, ignore)
            if e is None or info is None:
                if (e is None) != (info is None):
                    out.append(text)
                continue
            extents = [(end, x) for _, end, x in tx.extents(p)]
            row = self.db.execute("SELECT sig, hash, entries FROM files WHERE path=?", (b"/".join(p),)).fetchone()
            if not self._same(e, info, extents, row, now, refreshed):
                out.append(text)
        if refreshed:
            self._remember(refreshed, keeps=base)
        return out

    def _host_entry(self, path: keys.Path, ignore: Ignore) -> HostEntry | None:
        """The host path as scan() would yield it, or None (missing, or hidden by .gotignore)."""
        try:
            s = os.lstat(self.host_path(path))
            if not all(st.S_ISDIR(os.lstat(self.host_path(path[:i])).st_mode) for i in range(1, len(path))):
                return None  # below a symlink or a file: scan() never gets there
        except (FileNotFoundError, NotADirectoryError):
            return None
        for i in range(1, len(path) + 1):
            is_dir = i < len(path) or st.S_ISDIR(s.st_mode)
            if ignore.ignored(os.fsdecode(b"/".join(path[:i])), is_dir):
                return None
        target = os.fsencode(os.readlink(self.host_path(path))) if st.S_ISLNK(s.st_mode) else b""
        return HostEntry(path, s, target)

    def _same(self, e: HostEntry, info: Info, extents, row, now: int, refreshed: list) -> bool:
        """Does the host path hold what the tree records? Reads content only when it must."""
        if e.is_dir or not e.is_file:  # what a commit records of it (gotfs.repo.unrecorded)
            mine = e.info()
            return mine.kind == info.kind and mine.mode == info.mode and mine.target == info.target
        if not info.is_file or st.S_IMODE(e.stat.st_mode) != info.mode or e.stat.st_size != info.size:
            return False
        stored = _encode_entries(Info.file(info.mode, info.size), extents)
        if row is not None and row[0] == signature(e.stat) and row[2] == stored:
            return True
        tree_hash = row[1] if row is not None and row[2] == stored else _extents_hash(self.fs, extents)
        host_hash = _file_hash(self.host_path(e.path))
        if host_hash != tree_hash:
            return False
        refreshed.append((b"/".join(e.path), self._trusted_sig(e.stat, now), host_hash, stored))
        return True

    def referenced_cids(self) -> set[bytes]:
        """Data blobs the stat cache may hand to the next commit; gc keeps them."""
        out = set()
        for (blob,) in self.db.execute("SELECT entries FROM files"):
            out.update(e.ref.cid for _, e in _decode_entries(blob)[1])
        return out
