"""Repo's face for read-write mounts: each mounted branch's working root (the latest root the
mount published, not yet committed) and where the mount sits.

A mixin of Repo (gotfs/repo/repo.py), which supplies the store, the refs table, commit() and
the writer's lock; these methods are called as Repo's own. The records are refs
(`work/<branch>`, `mount/<branch>`); mount policy built on them is gotfs/repo/mounting.py.
"""

from __future__ import annotations

from gotfs.repo.errors import BranchMoved
from gotkv.blobs.ref import Ref
from gotkv.root import Root

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotfs.repo.refs import Refs
    from gotkv.blobs.local import LocalStore


class WorkingRoots:
    """Working roots and mount records of branches. See the module docstring."""

    store: LocalStore
    refs: Refs
    fs: FS

    def commit_working_root(self, branch: str, message: str, *, author: str = "got",
                            clear: bool = False) -> Ref | None:
        """Commit a read-write mount's latest working root on `branch` if it differs from the
        branch head; with clear=True (at unmount) also drop the working root. None if there
        was nothing to commit. Cost: a few refs queries, one commit blob read, and when it
        commits, what History.commit costs. Raises what commit raises."""
        with self.writing():
            work = self.working_root(branch)
            if work is None:
                return None
            head = self.refs.get(f"heads/{branch}")
            head_root = self.read_commit(Ref.parse(head)).root if head else self.fs.new()
            ref = self.commit(work, message, author=author, branch=branch) if work != head_root else None
            if clear:
                try:
                    self.refs.cas(f"work/{branch}", str(work), None)
                except BranchMoved:
                    pass  # a mount published again meanwhile: keep its newer root
            return ref

    def working_root(self, branch: str) -> Root | None:
        """The latest root a read-write mount of `branch` published and nobody committed and
        cleared yet, or None. Cost: one refs query."""
        value = self.refs.get(f"work/{branch}")
        return Root.parse(value) if value else None

    def publish_working_root(self, branch: str, root: Root) -> None:
        """Durably record a mount's latest root: flush the store first, then the ref, so the
        ref never names a blob a crash could lose. Cost: a store flush and one refs
        transaction."""
        self.store.flush()
        self.refs.set(f"work/{branch}", str(root))

    def clear_working_root(self, branch: str) -> None:
        """Forget `branch`'s working root (its blobs are gc's once nothing else names them).
        Cost: one refs transaction."""
        self.refs.set(f"work/{branch}", None)

    def mount_point(self, branch: str) -> str | None:
        """Where `branch` is mounted read-write, as recorded by that mount (None if nowhere).

        A record, not a lock: a mount that was killed leaves it behind, so callers check
        that the path is still a mount point before they rely on it. Cost: one refs query.
        """
        return self.refs.get(f"mount/{branch}")

    def record_mount(self, branch: str, path: str | None) -> None:
        """Note (or, with None, forget) the path of a read-write mount of `branch`. Cost: one
        refs transaction."""
        self.refs.set(f"mount/{branch}", path)
