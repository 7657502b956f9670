"""What `got commit` commits, decided in the library so that any caller commits the same way.

A working copy (mounting.working_copy) is held by one of three things, and each commits
differently:

- a merge stopped by conflicts (and no mount): committing concludes it, as
  merging.continue_merge does, with the working directory's resolutions;
- a read-write mount of the branch: its latest published working root is committed
  (History.commit_working_root; the mount was made to publish when the working copy was
  looked up, so its last writes are in);
- otherwise the working directory (WorkingDirectory.commit_workdir).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gotfs.repo import mergestate
from gotfs.repo.errors import NothingToCommit

if TYPE_CHECKING:
    from gotfs.repo.mounting import WorkingCopy
    from gotfs.repo.repo import Repo
    from gotkv.blobs.ref import Ref
    from gotkv.root import Root


def commit_working_copy(repo: Repo, wc: WorkingCopy, message: str, *, author: str = "got",
                        allow_empty: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> tuple[Ref, Root]:
    """Commit what `wc` holds on its branch (see the module docstring); return the commit
    and its root. `progress(files, bytes)` follows a working-directory snapshot.

    Cost: that of the road taken: a working-directory snapshot and commit (commit_workdir),
    a merge's conclusion (continue_merge), or for a mount a few ref reads and one commit.
    Raises NothingToCommit when the working copy holds what the branch's head holds, unless
    allow_empty (then a mount's unchanged root is committed all the same), and what each
    road raises (WorkdirBehind, UnresolvedConflicts, BranchMoved ...)."""
    mount = wc.mounted
    if mount is None and mergestate.state(repo) is not None:
        from gotfs.repo import merging  # (the merge machinery: only when a merge is concluded)

        ref = merging.continue_merge(repo, message=message, author=author)
        return ref, repo.read_commit(ref).root
    if mount is not None:
        ref = repo.commit_working_root(wc.branch, message, author=author)
        if ref is None:
            if not allow_empty:
                raise NothingToCommit()
            ref = repo.commit(mount.root, message, author=author, branch=wc.branch)
        return ref, mount.root
    return repo.commit_workdir(message, author=author, allow_empty=allow_empty, progress=progress)
