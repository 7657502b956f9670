"""Mount policy: which root a mount of a repository serves, where a writable mount
publishes, and how a commit reaches a live mount. The FUSE work is gotfs.mount's; this
module is what the CLI calls, so a library user can do what `got mount` and `got commit` do:

    with Repo.open(".") as repo:
        mount_branch(repo, "main", "/mnt/work", writable=True)   # blocks until unmounted

- A read-only mount serves one commit's root.
- A writable mount of a branch serves the branch's working root if a mount published one,
  else its head commit's root; each flush publishes a new working root durably (store
  flushed, then the ref `work/<branch>`), under the repo's writer lock, so gc never sweeps
  what it posted. While it serves, `mount/<branch>` records where, so `flush_mount` (which
  `got commit` calls) can make it publish first. At unmount what is left is committed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Callable, Iterator

from gotfs.repo.commit import commit_id
from gotfs.repo.repo import Repo
from gotkv.blobs.ref import Ref
from gotkv.errors import GotError, InvalidInput
from gotkv.root import Root


class RepoRootSource:
    """What a mount serves: a fixed commit's root (read-only), or a branch's latest root.

    For a branch, current() is its working root when a writable mount has published one, else
    its head commit's root; publish(root) durably records a new working root (the store is
    flushed first), under the repo's writer lock so gc never sweeps its blobs. Implements
    gotfs.mount's RootSource.
    """

    def __init__(self, repo: Repo, *, branch: str | None = None, root: Root | None = None):
        if (branch is None) == (root is None):
            raise InvalidInput("RepoRootSource serves either a branch or a fixed root")
        self.repo = repo
        self.branch = branch
        self.root = root
        self.writable = branch is not None
        self._hold = None  # the repo's writer lock while posted blobs await a publish

    def current(self) -> Root:
        if self.branch is None:
            return self.root
        work = self.repo.working_root(self.branch)
        if work is not None:
            return work
        head = self.repo.branches().get(self.branch)
        return self.repo.read_commit(head).root if head else self.repo.fs.new()

    def hold(self) -> None:
        if self._hold is None:
            hold = self.repo.writing()
            hold.__enter__()  # blocks while gc runs
            self._hold = hold

    def publish(self, root: Root) -> None:
        if self.branch is None:
            raise InvalidInput("this mount is read-only")
        with self.repo.writing():
            self.repo.publish_working_root(self.branch, root)

    def release(self) -> None:
        """End a hold (the mount does once everything it posted is published; so does its end)."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.__exit__(None, None, None)


def source_for(repo: Repo, rev: str, *, writable: bool = False) -> tuple[RepoRootSource, str]:
    """The source a mount of `rev` serves and how to name it ("main", "v1 (3f2a...)").
    Writable needs a branch (InvalidInput otherwise). Costs one commit read."""
    if writable:
        if rev not in repo.branches() and rev != repo.head_branch():
            raise InvalidInput(f"--rw needs a branch; {rev!r} is not one (see `got branch`)")
        return RepoRootSource(repo, branch=rev), rev
    ref = repo.resolve(rev)
    return RepoRootSource(repo, root=repo.read_commit(ref).root), f"{rev} ({commit_id(ref)[:12]})"


@contextlib.contextmanager
def recorded(repo: Repo, branch: str, mountpoint: str) -> Iterator[None]:
    """While a writable mount of `branch` serves, the repo knows where (for flush_mount)."""
    repo.record_mount(branch, mountpoint)
    try:
        yield
    finally:
        if repo.mount_point(branch) == mountpoint:  # not taken over by a newer mount
            repo.record_mount(branch, None)


def commit_at_unmount(repo: Repo, branch: str, mountpoint: str, *, author: str) -> Ref | None:
    """Commit what a writable mount of `branch` left when it was unmounted (None if nothing)."""
    return repo.commit_working_root(branch, f"changes made in the mount at {mountpoint}",
                                    author=author, clear=True)


def mount_branch(repo: Repo, rev: str, mountpoint: str, *, writable: bool = False, author: str = "got",
                 ready: Callable[[], None] | None = None, debug: bool = False,
                 allow_other: bool = False) -> Ref | None:
    """Serve `rev` at `mountpoint` until unmounted (blocking); writable mounts need a branch,
    publish every flush as its working root, and commit what is left at unmount (the commit
    is returned). `ready` is called once the kernel has the mount."""
    from gotfs.mount import mount

    source, _ = source_for(repo, rev, writable=writable)
    if not writable:
        mount(repo.fs, source, mountpoint, writable=False, foreground=True, debug=debug, ready=ready,
              allow_other=allow_other)
        return None
    with recorded(repo, rev, mountpoint):
        mount(repo.fs, source, mountpoint, writable=True, foreground=True, debug=debug, ready=ready,
              allow_other=allow_other)
    return commit_at_unmount(repo, rev, mountpoint, author=author)


def flush_mount(repo: Repo, branch: str) -> str | None:
    """Make a live writable mount of `branch` publish what it has buffered, so that a commit
    right after a `cp` into it includes the copy. Returns a warning to show, or None.

    fsync of the mount's root directory is a FUSE fsyncdir, which the mount answers only once
    its latest root is durable and recorded. A record left by a mount that ended is harmless
    (the path is no longer a mount point). A mount whose process was killed leaves a dead
    mount behind: the warning says so, since the commit then holds only what it had published.
    GotError if a live mount fails to publish.
    """
    path = repo.mount_point(branch)
    if path is None:
        return None
    try:
        os.stat(path)
    except OSError as e:
        if e.errno in (errno.ENOTCONN, errno.EACCES, errno.EPERM):
            return (f"the read-write mount of {branch} at {path} does not answer ({os.strerror(e.errno)}); "
                    f"committing what it last published" + ("; `got umount` it" if e.errno == errno.ENOTCONN else ""))
        return None
    if not os.path.ismount(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        os.fsync(fd)
    except OSError as e:
        raise GotError(f"the read-write mount of {branch} at {path} could not publish its changes: "
                       f"{os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    return None
