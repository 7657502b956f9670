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

One working copy per branch at a time (docs/working-copy.md): while a read-write mount of a
branch is mounted, or left a working root no commit has recorded, the mount is that branch's
working copy. `got status`, `got diff` and `got commit`, run in the repository's directory or
inside the mount, all act on the mount's latest root (working_copy); the working directory
waits, and once the mount's changes are committed it is named as behind the branch until
`got checkout BRANCH` brings it up to date (carrying its own edits, as checkout does).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from gotfs.diff import diff, only_times
from gotfs.repo.commit import commit_id
from gotfs.repo.mounttable import canonical, enclosing_mount, mount_at, mounted_branch_at, source_name
from gotfs.repo.repo import Repo
from gotkv.blobs.ref import Ref
from gotkv.errors import GotError, InvalidInput
from gotkv.root import Root
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from typing import Callable, Iterator


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
        """The root to serve; for a branch, once the journal a killed mount of it left is
        replayed (gotfs/repo/recovery.py)."""
        if self.branch is None:
            return self.root
        from gotfs.repo import recovery

        recovery.recover(self.repo, self.branch)
        return recovery.published_root(self.repo, self.branch)

    def journal(self):
        """The intent journal of a writable mount of the branch (gotfs/journal.py), or None."""
        if self.branch is None:
            return None
        from gotfs.repo import recovery

        return recovery.open_journal(self.repo, self.branch)

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
    """While a writable mount of `branch` serves, the repo knows where (for flush_mount and
    working_copy). The record is dropped only after the block, which commits what the mount
    left, so `got umount` can wait for that commit by watching the record."""
    repo.record_mount(branch, mountpoint)
    try:
        yield
    finally:
        if repo.mount_point(branch) == mountpoint:  # not taken over by a newer mount
            repo.record_mount(branch, None)


def commit_at_unmount(repo: Repo, branch: str, mountpoint: str, *, author: str) -> Ref | None:
    """Commit what a writable mount of `branch` left when it was unmounted (None if nothing),
    with what its fsyncs journaled but it did not publish (a killed mount's) replayed first."""
    from gotfs.repo import recovery

    recovery.recover(repo, branch)
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
    fsname = source_name(repo.workdir)
    if not writable:
        mount(repo.fs, source, mountpoint, writable=False, foreground=True, debug=debug, ready=ready,
              fsname=fsname, allow_other=allow_other)
        return None
    with recorded(repo, rev, mountpoint):
        mount(repo.fs, source, mountpoint, writable=True, foreground=True, debug=debug, ready=ready,
              fsname=fsname, allow_other=allow_other)
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
        os.statvfs(path)  # (a stat may be answered from the kernel's cache: see _answers)
    except OSError as e:
        if e.errno in (errno.ENOTCONN, errno.EACCES, errno.EPERM):
            return (f"the read-write mount of {branch} at {path} does not answer ({os.strerror(e.errno)}); "
                    f"a commit records what it made durable (published or fsynced)" + ("; `got umount` it" if e.errno == errno.ENOTCONN else ""))
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


class MountedWork(Value):
    """A read-write mount's uncommitted state of a branch: what `got commit` records for it."""

    __slots__ = ("branch", "path", "root", "warning")
    branch: str
    path: str | None  # where it is mounted (perhaps a dead mount); None once no mount is left
    root: Root  # its latest published root (the head's root when it published nothing)
    warning: str | None  # a mount that does not answer: the commit holds what it made durable

    def __init__(self, branch: str, path: str | None, root: Root, warning: str | None) -> None:
        for name, value in (("branch", branch), ("path", path), ("root", root), ("warning", warning)):
            object.__setattr__(self, name, value)


def mounted_work(repo: Repo, branch: str) -> MountedWork | None:
    """The state a read-write mount holds for `branch`, or None when the working directory is
    the branch's working copy. A live mount is made to publish first (flush_mount), so that
    status and diff show what a commit right after them records. A working root left by a
    mount that is gone (killed, then unmounted) counts while it differs from the head.

    Cost: one read of the mount table, an fsync of a live mount (its buffered writes are
    published), a few ref reads; the replay of a journal a killed mount left."""
    from gotfs.repo import recovery

    warning = flush_mount(repo, branch)
    recovery.recover(repo, branch)  # a killed mount's journal (a live mount holds its own: left alone)
    path = repo.mount_point(branch)
    table = mount_at(path) if path is not None else None
    live = table is not None and table.workdir == canonical(repo.workdir) and not table.readonly
    work = repo.working_root(branch)
    head = repo.branches().get(branch)
    head_root = repo.read_commit(head).root if head is not None else repo.fs.new()
    if live:
        return MountedWork(branch, path, work if work is not None else head_root, warning)
    if work is not None and work != head_root:
        return MountedWork(branch, None, work, warning)
    return None


class WorkingCopy(Value):
    """What `got status`, `diff` and `commit` act on when run from a given directory."""

    __slots__ = ("branch", "mounted", "behind")
    branch: str | None  # HEAD's branch (None: detached); inside a mount, the mount's branch
    mounted: MountedWork | None  # set when a read-write mount holds the branch's working state
    behind: int  # commits HEAD's branch has that the working directory lacks (-1: not counted)

    def __init__(self, branch: str | None, mounted: MountedWork | None, behind: int) -> None:
        for name, value in (("branch", branch), ("mounted", mounted), ("behind", behind)):
            object.__setattr__(self, name, value)


def working_copy(repo: Repo, start: str | os.PathLike = ".") -> WorkingCopy:
    """The working copy a command run in `start` sees: inside a read-write mount of this
    repository, that mount's branch; elsewhere HEAD's branch, held by its mount while it has
    one (mounted_work), else by the working directory.

    InvalidInput inside a read-only mount (a view of a commit has nothing to commit).
    Cost: that of mounted_work, plus a walk of the commits the working directory lacks."""
    inside = enclosing_mount(start)
    if inside is not None and inside.workdir == canonical(repo.workdir) and inside.readonly:
        raise InvalidInput(f"{inside.mountpoint} is a read-only mount of a commit; run this in "
                           f"{repo.workdir} or in a read-write mount (`got mount --rw BRANCH DIR`)")
    branch = mounted_branch_at(repo, start)
    if branch is not None:
        return WorkingCopy(branch, mounted_work(repo, branch), 0)
    branch = repo.head_branch()
    mounted = mounted_work(repo, branch) if branch else None
    return WorkingCopy(branch, mounted, _behind(repo))


def mounted_changes(repo: Repo, work: MountedWork) -> list:
    """What committing `work` would record against its branch's head, as gotfs.diff
    PathChanges in path order (content-equal files, and directories whose times alone moved,
    are not changes). Cost: O(changes · depth)."""
    head = repo.branches().get(work.branch)
    base = repo.read_commit(head).root if head else repo.fs.new()
    return [c for c in diff(repo.fs, base, work.root) if not only_times(c)]


def _behind(repo: Repo, limit: int = 10_000) -> int:
    """How many commits HEAD is ahead of the working directory's base along first parents
    (a read-write mount committed them); -1 when the base is not among the last `limit`."""
    head, base = repo.head(), repo.workdir_base()
    if head is None or base is None or head == base:
        return 0
    ref = head
    for n in range(1, limit + 1):
        parents = repo.read_commit(ref).parents
        if not parents:
            return -1
        if parents[0] == base:
            return n
        ref = parents[0]
    return -1


def check_mountpoint(path: str, *, nonempty: bool = False) -> str:
    """`path` as an absolute mount point, or InvalidInput: not a directory, already a mount
    point, or not empty (a mount would hide what it holds) unless `nonempty`."""
    full = str(canonical(path))
    if not os.path.isdir(full):
        raise InvalidInput(f"mount point {path} is not a directory")
    if os.path.ismount(full) or mount_at(full) is not None:
        raise InvalidInput(f"{path} is already a mount point; `got umount {path}` first")
    if not nonempty:
        with os.scandir(full) as entries:
            count = sum(1 for _ in entries)
        if count:
            raise InvalidInput(f"mount point {path} is not empty ({count} entr{'y' if count == 1 else 'ies'} "
                               f"would be hidden while mounted); use an empty directory, or --nonempty")
    return full


class Unmounted(Value):
    """What `unmount` did: for a read-write mount, its branch and the commit of what it left."""

    __slots__ = ("path", "branch", "committed", "pending")
    path: str
    branch: str | None  # the branch of a read-write mount of a repository
    committed: Ref | None  # the commit made of the mount's changes (None: there were none)
    pending: bool  # the mount's process was still committing when the wait ended

    def __init__(self, path: str, branch: str | None, committed: Ref | None, pending: bool) -> None:
        for name, value in (("path", path), ("branch", branch), ("committed", committed), ("pending", pending)):
            object.__setattr__(self, name, value)


def unmount(path: str, *, author: str = "got", timeout: float = 120.0) -> Unmounted:
    """Unmount the got mount at `path` (fusermount3 -u) and, for a read-write mount, wait for
    its process to commit what it left (mount_branch does, within `recorded`). A mount whose
    process is gone (killed) is unmounted and its last published root, with its journal
    replayed, committed here.

    InvalidInput if `path` is not a got mount; GotError if the kernel refuses (busy).
    Cost: the mount's last flush and commit, bounded by `timeout` seconds of waiting."""
    table = mount_at(path)
    if table is None:
        why = "not a got mount" if os.path.ismount(path) else "not mounted"
        raise InvalidInput(f"cannot unmount {path}: {why}")
    repo, branch = _writable_branch_at(table)
    try:
        dead = not _answers(str(table.mountpoint))
        before = repo.branches().get(branch) if branch else None
        _fusermount(str(table.mountpoint))  # fusermount3 does not follow a symlink to it
        if branch is None:
            return Unmounted(path, None, None, False)
        if dead:  # no process left to commit: do what it would have done
            ref = commit_at_unmount(repo, branch, str(table.mountpoint), author=author)
            repo.record_mount(branch, None)
            return Unmounted(path, branch, ref, False)
        deadline = time.monotonic() + timeout
        while repo.mount_point(branch) is not None and canonical(repo.mount_point(branch)) == table.mountpoint:
            if time.monotonic() > deadline:
                return Unmounted(path, branch, None, True)
            time.sleep(0.05)
        after = repo.branches().get(branch)
        return Unmounted(path, branch, after if after != before else None, False)
    finally:
        if repo is not None:
            repo.close()


def _writable_branch_at(table) -> tuple[Repo | None, str | None]:
    """The repository a mount serves (opened) and, if it is read-write, its branch."""
    if table.workdir is None or table.readonly:
        return None, None
    try:
        repo = Repo.open(table.workdir)
    except GotError:
        return None, None
    for name, where in repo.refs.list("mount/").items():
        if canonical(where) == table.mountpoint:
            return repo, name[len("mount/"):]
    return repo, None


def _answers(path: str) -> bool:
    """False for a FUSE mount whose process is gone (every request fails with ENOTCONN).

    statfs, not stat: the kernel answers a stat of the mount point from its attribute cache
    without asking the (dead) process, while statfs always asks."""
    try:
        os.statvfs(path)
    except OSError as e:
        return e.errno != errno.ENOTCONN
    return True


def _fusermount(path: str) -> None:
    import shutil  # here, as subprocess: only an unmount runs a tool
    import subprocess

    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise GotError("fusermount3 not found; install fuse3")
    done = subprocess.run([tool, "-u", path], capture_output=True, text=True)
    if done.returncode != 0:
        why = " ".join(done.stderr.split()) or f"{tool} exited {done.returncode}"
        raise GotError(f"cannot unmount {path}: {why}")
