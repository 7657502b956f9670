"""Repo's working-directory face: status, snapshot, commit and checkout of the directory the
repository sits in, and the commit that directory is based on (the WORKDIR ref).

A mixin of Repo (gotfs/repo/repo.py), which supplies the store, the refs table, the FS, the
locks and the history (commit, resolve, read_commit); these methods are called as Repo's own.
The file-level work (stat cache, hashing, writing files) is WorkCopy's (gotfs/repo/workcopy.py).
"""

from __future__ import annotations

import fcntl

from gotfs.repo.errors import DamagedData, MergeInProgress, NothingToCommit, WorkdirBehind
from gotfs.repo.refnames import DEFAULT_BRANCH
from gotkv.blobs.ref import Ref
from gotkv.root import Root

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotfs.repo.refs import Refs
    from gotkv.blobs.codec import Codec
    from gotkv.blobs.local import LocalStore


class WorkingDirectory:
    """The working directory against its base commit. See the module docstring."""

    store: LocalStore
    refs: Refs
    fs: FS
    _commit_codec: Codec

    def workcopy(self, fs: FS | None = None):
        """The working directory; `fs` (default: the repo's) is where a checkout reads from.
        Opens the stat cache (one SQLite connection): close it when done."""
        from gotfs.repo.workcopy import WorkCopy
        return WorkCopy(self, fs)

    def status(self):
        """Changes in the working directory against the commit it holds (workdir_root).
        Cost: WorkStatus.status's: one lstat per path, and a file read only where its stat
        signature changed; no node of the tree is read while the stat cache's base is that
        commit's tree (see basetree), and then neither the filesystem layer nor WorkCopy's
        snapshot and checkout machinery is imported."""
        from gotfs.repo.workstatus import WorkStatus

        wc = WorkStatus(self)
        try:
            return wc.status(self.workdir_root())
        finally:
            wc.close()

    def workdir_changes(self):
        """status() with each path's Info and extents in the commit the working directory
        holds and its host entry (WorkStatus.changes, detail=True): what a diff of the working
        directory shows, found without storing a snapshot. Cost: status's, and a row read per
        removed path."""
        from gotfs.repo.workstatus import WorkStatus

        wc = WorkStatus(self)
        try:
            return wc.changes(self.workdir_root(), detail=True)
        finally:
            wc.close()

    def stored_bytes(self, size: int, extents: list) -> bytes:
        """The `size` bytes of a file whose data is `extents` ((end, Extent) pairs, as a stat
        cache row or WorkChange names them), holes as zeros, read straight from the store with
        the repository's codec (decoding is the same at any compression level): a diff of the
        working directory builds no filesystem layer (trees, the chunker) to show one file.
        Cost: one blob read and decode per distinct chunk."""
        codec, store = self._commit_codec, self.store
        blobs: dict[bytes, bytes] = {}
        data = bytearray(size)
        for end, extent in extents:
            ref = extent.ref
            plain = blobs.get(ref.cid)
            if plain is None:
                plain = blobs[ref.cid] = codec.decode(ref, store.get(ref.cid))
            data[end - extent.length:end] = plain[extent.offset:extent.offset + extent.length]
        return bytes(data)

    def workdir_root(self) -> Root:
        """The root of the commit the working directory holds: HEAD's, unless a read-write
        mount committed to the branch since (then the directory is behind until checked out).
        Cost: a refs query or two and one commit blob read."""
        base = self.workdir_base()
        return self.read_commit(base).root if base is not None else self.head_root()

    def _workdir_lock(self):
        """Serialises commits and checkouts of this working directory between processes."""
        return self._flock("workdir.lock", fcntl.LOCK_EX)

    def workdir_base(self) -> Ref | None:
        """The commit the working directory was last committed as or checked out from (None
        before the first). Cost: one refs query."""
        value = self.refs.get("WORKDIR")
        return Ref.parse(value) if value else None

    def commit_workdir(self, message: str, *, author: str = "got", allow_empty: bool = False,
                       progress=None) -> tuple[Ref, Root]:
        """Snapshot the working directory and commit it on HEAD's branch.

        Refuses (WorkdirBehind) when the branch has moved past the commit the working
        directory is based on — a read-write mount committed to it — because committing the
        stale directory would silently revert those changes. NothingToCommit when the
        snapshot holds what HEAD's tree holds, unless allow_empty: the same root, or one that
        differs only in how unchanged bytes are laid out in blobs (a re-packed file after a
        checkout), which no status, diff or show could name. Metadata the working directory
        does not record (mtimes, xattrs) is kept from HEAD's tree (gotfs.repo.unrecorded).

        Cost: a snapshot (WorkCopy.snapshot: one lstat per path, changed files read and
        chunked, O(changes x depth) node I/O when the stat cache's base is HEAD's tree), a
        diff against HEAD's tree (O(changes x depth)), then History.commit. Holds the working
        directory's lock and the writer lock. A full disk discards what this commit posted.
        """
        from gotfs.diff import diff as fs_diff  # here, not at the top: read commands never load the FS layer
        from gotfs.repo.unrecorded import keep_unrecorded

        with self._workdir_lock(), self.writing(), self.store.discarding_on_full_disk():
            head, base = self.head(), self.workdir_base()
            if head is not None and base is not None and head != base:
                raise WorkdirBehind(self.head_branch() or "HEAD")
            head_root = self.head_root()
            wc = self.workcopy()
            try:
                # The stat cache's last rows are remembered after the commit's flush, which
                # makes the snapshot's blobs durable with the commit blob (one sync for both).
                root, settle = wc.snapshot_unsettled(progress, live=head_root)
                root = keep_unrecorded(self.fs, head_root, root)
                if not allow_empty and (root == head_root or next(fs_diff(self.fs, head_root, root), None) is None):
                    settle()
                    raise NothingToCommit()
                ref = self.commit(root, message, author=author, workdir=True)
                settle()
            finally:
                wc.close()
            return ref, root

    def snapshot(self, progress=None) -> Root:
        """The working directory as a root, as a commit would record it against the commit the
        directory holds (changed files' data is stored, nothing published). The stat cache
        keeps describing that commit's tree (WorkCopy.snapshot's becomes_base=False), so a
        diff does not make the next status or commit read or rebuild the whole tree. Cost: as
        commit_workdir's snapshot; the root's blobs are not flushed."""
        from gotfs.repo.unrecorded import keep_unrecorded

        wc = self.workcopy()
        try:
            with self.writing():
                base = self.workdir_root()
                return keep_unrecorded(self.fs, base, wc.snapshot(progress, live=base, becomes_base=False))
        finally:
            wc.close()

    def checkout(self, spec: str, *, force: bool = False, paths: list[str] | None = None):
        """Switch the working directory (and HEAD) to `spec`, or restore `paths` from it.

        A branch name puts HEAD on that branch; anything else detaches HEAD. Refuses to
        overwrite uncommitted changes unless force. Returns the list of changed paths.

        Cost: a diff of the two trees (O(changes x depth) node reads), a status of the
        working directory, and for each changed path its host write (file data streamed
        from its blobs). Raises what resolve raises, MergeInProgress during a merge,
        DirtyWorkingCopy for paths with local edits, UnsafeExport (gotfs.validate) for a
        target tree holding an entry a host cannot hold safely (checked before anything is
        written), DamagedData for missing or damaged blobs.
        """
        target_ref = self.resolve(spec)
        target = self.read_commit(target_ref).root
        if not paths and self.refs.get("MERGE_STATE"):
            raise MergeInProgress()  # switching away would strand the merge's working state
        with self._workdir_lock():
            from gotfs.validate import refuse_unsafe  # here: only a checkout loads it

            base_root = self.workdir_root()
            refuse_unsafe(self.fs, base_root if self.workdir_base() is not None else None, target,
                          f"commit {target_ref.short()}")
            wc = self.workcopy()
            try:
                changes = wc.checkout(base_root, target, force=force, paths=paths)
            except DamagedData as e:
                raise e.at(f"commit {target_ref.short()}") from e
            finally:
                wc.close()
            if not paths:  # HEAD and the working directory's base move together
                self.refs.set_many({"WORKDIR": str(target_ref), "HEAD": self._head_value(spec, target_ref)})
        return changes

    def _head_value(self, spec: str, target: Ref) -> str:
        """What HEAD holds after checking out `spec`: the same (for HEAD itself), the branch
        `spec` names, or else the commit (detached)."""
        if spec in ("HEAD", "@"):
            return self.refs.get("HEAD") or f"ref: heads/{DEFAULT_BRANCH}"
        branch = spec[len("heads/"):] if spec.startswith("heads/") else spec
        if branch in self.branches():
            return f"ref: heads/{branch}"
        return str(target)
