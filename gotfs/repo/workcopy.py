"""WorkCopy: the working directory against the repo — snapshot; its scan and status are
WorkStatus's (gotfs/repo/workstatus.py), its checkouts the Checkouts mixin's
(gotfs/repo/workcheckout.py).

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
import time
from functools import partial

from gotfs import keys
from gotfs.info import Info
from gotfs.packing import ALONE
from gotfs.repo import basetree
from gotfs.repo.hostread import HashingReader as _HashingReader
from gotfs.repo.ignore import Ignore
from gotfs.repo.statrows import (RACY_NS, FileInfos as _FileInfos, Pending as _Pending, RowBatches as _RowBatches,
                                 decode_entries as _decode_entries, row_path as _row_path, signature)
from gotfs.repo.workcheckout import Checkouts
from gotfs.repo.workstatus import Change, HostEntry, WorkStatus
from gotfs.treebuild import TreeBuild
from gotfs.tx import Tx
from gotkv.root import Root

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from typing import Callable

ROW_BATCH = 8192  # written files between flushes that hand their rows to the cache

__all__ = ["WorkCopy", "Change", "HostEntry", "ROW_BATCH"]


def _settled() -> None:
    """settle() of a snapshot that leaves the cache as it is."""


class WorkCopy(WorkStatus, Checkouts):
    """The working directory of a Repo: WorkStatus's scan and status, with snapshot and checkout."""

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
        root, settle = self.snapshot_unsettled(progress, live=live, becomes_base=becomes_base)
        settle()
        return root

    def snapshot_unsettled(self, progress: Callable[[int, int], None] | None = None, *, live: Root | None = None,
                           becomes_base: bool = True) -> tuple[Root, Callable[[], None]]:
        """snapshot(), but its last step is left to the caller: `settle()` flushes the store,
        then remembers the last rows and the new base in one transaction of the cache. A
        commit calls it after its own flush (History.commit's, which makes the tree's blobs
        durable with the commit blob): one fdatasync of the pack and one index transaction
        less, and settle's flush then has nothing left to do. Until settle, the cache keeps
        what it held (its base, the rows of earlier batches), which a crash leaves consistent:
        rows only ever name durable blobs, and a base that is not HEAD's tree is not used."""
        now = time.time_ns()
        base = basetree.load(self.db, live)
        sigs = dict(self.db.execute("SELECT path, sig FROM files"))
        others: dict[keys.Path, Info] = {(): Info.dir(0o755)}
        to_write: list[_Pending] = []
        readers: dict[bytes, _HashingReader] = {}

        def opener(raw: bytes) -> _HashingReader:
            reader = readers[raw] = _HashingReader(os.path.join(self.top, os.fsdecode(raw)))
            return reader

        rows = len(sigs)
        rewritten: set[bytes] = set()  # files to write that have a row (the base's, if recorded)
        is_reg = st.S_ISREG
        # The scan pops every file it finds from sigs and yields only those whose signature
        # is not their row's (rewritten: those with a row): what stays in sigs is the rows of
        # paths that are no longer files.
        for raw, s in self.scan(sigs, rewritten):
            if not is_reg(s.st_mode):
                others[_row_path(raw)] = self.entry(raw, s).info()
                continue
            to_write.append(_Pending(raw, s.st_size, st.S_IMODE(s.st_mode),
                                     None if now - s.st_mtime_ns < RACY_NS else signature(s), opener))
        files = rows - len(sigs) - len(rewritten) + len(to_write)  # unchanged ones, and the rest
        gone = set(sigs)
        del sigs
        known = self._known(to_write, rewritten)
        infos = _FileInfos()
        rows = _RowBatches(readers, infos, self._remember, self.fs.store.flush, ROW_BATCH, progress)
        if base is not None and 2 * (len(to_write) + len(gone)) < files:
            staging = basetree.stage_changes(self.fs, base, others, to_write, gone, infos, rewritten=rewritten)
            if not becomes_base:  # the rows and the base stay HEAD's
                return staging.flush(lambda *_: None, known=known), _settled
            root = staging.flush(rows.add, known=known)
        else:
            build = self._stage_tree(others, to_write, gone | {p.raw for p in to_write}, infos)
            del to_write  # (the build holds what it needs)
            root = build.flush(rows.add, known=known)
        # The cache must never name blobs that are not durable: a process killed after
        # remembering but before the store's flush would hand lost extents to the next commit.
        # So the store is flushed, then the last rows, the rows of paths gone and the new base
        # are remembered in one transaction (one commit of the cache, and no moment between
        # them when the base is cleared).
        def settle() -> None:
            self.fs.store.flush()
            self._remember(rows.take(), forget=gone, base=basetree.BaseTree.of(root, others))

        return root, settle

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
