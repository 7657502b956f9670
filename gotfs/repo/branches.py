"""Repo's branches-and-tags face: listing, creating and deleting them, and pointing HEAD.

A mixin of Repo (gotfs/repo/repo.py), which supplies the refs table and resolve(); these
methods are called as Repo's own. Each change is one compare-and-swap in the refs table.
"""

from __future__ import annotations

from gotfs.repo.errors import BranchExists, BranchMoved, RefNotFound
from gotfs.repo.refnames import check_ref_name
from gotkv.blobs.ref import Ref
from gotkv.errors import InvalidInput

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.repo.refs import Refs


class Branches:
    """Named commits: branches (heads/) and tags (tags/). See the module docstring."""

    refs: Refs

    def branches(self) -> dict[str, Ref]:
        """Every branch name and the commit it points at. Cost: one refs query."""
        return {k[len("heads/"):]: Ref.parse(v) for k, v in self.refs.list("heads/").items()}

    def tags(self) -> dict[str, Ref]:
        """Every tag name and the commit it points at. Cost: one refs query."""
        return {k[len("tags/"):]: Ref.parse(v) for k, v in self.refs.list("tags/").items()}

    def create_branch(self, name: str, at: str = "HEAD") -> Ref:
        """A new branch `name` at the commit `at` names; returns that commit. Cost: resolve(at)
        and one refs transaction (compare-and-swap from absent). Raises BranchExists,
        InvalidInput for a bad name, and what resolve raises."""
        return self._create_ref("heads", "branch", name, at)

    def delete_branch(self, name: str) -> None:
        """Delete branch `name` (its commits stay until gc finds them unreachable). Cost: one
        refs query and transaction. Raises InvalidInput for HEAD's branch, RefNotFound for
        a missing one, BranchMoved if it moved meanwhile."""
        if name == self.head_branch():
            raise InvalidInput(f"cannot delete branch {name!r}: HEAD is on it; switch first")
        self._delete_ref("heads", name)

    def create_tag(self, name: str, at: str = "HEAD") -> Ref:
        """A new tag `name` at the commit `at` names; as create_branch (BranchExists names
        the tag)."""
        return self._create_ref("tags", "tag", name, at)

    def delete_tag(self, name: str) -> None:
        """Delete tag `name`; as delete_branch (any tag may go)."""
        self._delete_ref("tags", name)

    def _create_ref(self, prefix: str, what: str, name: str, at: str) -> Ref:
        """Point the new `prefix/name` at the commit `at` names; BranchExists if it exists."""
        ref = self.resolve(at)
        try:
            self.refs.cas(f"{prefix}/{check_ref_name(name, what)}", None, str(ref))
        except BranchMoved:
            raise BranchExists(f"{what} {name!r}") from None
        return ref

    def _delete_ref(self, prefix: str, name: str) -> None:
        value = self.refs.get(f"{prefix}/{name}")
        if value is None:
            raise RefNotFound(name)
        self.refs.cas(f"{prefix}/{name}", value, None)

    def set_head(self, branch: str | None, detached: Ref | None = None) -> None:
        """Point HEAD at `branch` (which need not exist yet: an unborn branch), or, with
        branch=None, at the commit `detached`. Moves nothing in the working directory (see
        checkout). Cost: one refs transaction."""
        self.refs.set("HEAD", f"ref: heads/{branch}" if branch else str(detached))
