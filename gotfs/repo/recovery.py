"""Recovery of a read-write mount's intent journal: what its fsyncs made durable without
publishing a root (gotfs/journal.py), applied once the mount is gone.

Each writable mount of a branch journals into `.got/mounts/<branch>.journal` (the branch
name %-quoted). The journal applies on the root the mount had published last. `recover`
replays it when nothing is serving the branch any more — when a mount of the branch starts
(RepoRootSource.current), when `got umount` finds the mount's process gone, and when status,
diff or commit look at a branch whose mount is gone (mounting.mounted_work):

- base == the branch's published working root (or, with none, its head's root): the records
  are applied (through the region phases the mount's flush uses), the new root is published
  as the working root, then the file is removed;
- any other base: a later publish already holds everything it did (obsolete): removed;
- a torn or damaged tail: the whole records before it are applied (logged), the rest is
  ignored — an fsync whose append was cut short had not returned.

A live mount holds its journal locked (Journal.claim): `recover` leaves such a journal alone,
and a second mount of the same branch goes without one.
"""

from __future__ import annotations

import os

from gotkv.errors import GotError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gotfs import journal
    from pathlib import Path

    from gotfs.repo.repo import Repo
    from gotkv.root import Root

MOUNTS = "mounts"  # under .got/: one journal per branch a read-write mount serves


def _log():
    """This module's logger. logging (with the traceback module it imports) and pathlib load
    only once a journal exists: status, diff and commit ask `recover` every time."""
    import logging

    return logging.getLogger(__name__)


def journal_path(repo: Repo, branch: str) -> Path:
    """Where a writable mount of `branch` journals its fsyncs."""
    from pathlib import Path
    from urllib.parse import quote

    return Path(repo.dot_file(MOUNTS, f"{quote(branch, safe='')}.journal"))


def open_journal(repo: Repo, branch: str) -> journal.Journal:
    """The writing end of `branch`'s journal, sealed with the repository secret."""
    from gotfs import journal

    return journal.Journal(journal_path(repo, branch), repo.config.secret)


def published_root(repo: Repo, branch: str) -> Root:
    """What a writable mount of `branch` starts from: its working root, else its head's root."""
    work = repo.working_root(branch)
    if work is not None:
        return work
    head = repo.branches().get(branch)
    return repo.read_commit(head).root if head else repo.fs.new()


def recover(repo: Repo, branch: str) -> Root | None:
    """Replay `branch`'s journal if it applies (see the module docstring) and remove it.
    Returns the working root published from it, or None (no journal, or an obsolete one).

    Cost: reading the journal, and when it applies one flush of its bytes (chunk, one gotkv
    batch) and one publish. GotError if the replay fails (the journal is kept for a retry)."""
    if not os.path.isdir(repo.dot_file(MOUNTS)):  # no read-write mount ever journaled here
        return None
    path = journal_path(repo, branch)
    if not path.exists():
        return None
    from gotfs import journal  # (the chunking it replays through is for the few who need it)

    if journal.owned(path):
        _log().info("journal %s is held by a live mount of %s: left to it", path, branch)
        return None
    with repo.writing():  # blobs are posted: keep gc out until the root naming them is recorded
        seg = journal.read(path, repo.config.secret)
        base = published_root(repo, branch)
        root = None
        if seg is not None and seg.base == base and seg.records:
            try:
                root = journal.replay(repo.fs, base, seg.records)
            except GotError as e:
                raise GotError(f"cannot replay the journal {path} of the mount of {branch}: {e}") from None
            if root != base:
                repo.publish_working_root(branch, root)
            _log().warning("replayed %d fsync record(s) of a read-write mount of %s that was not unmounted",
                        len(seg.records), branch)
        elif seg is not None and seg.base != base:
            _log().info("journal %s applies on %s, not the published %s: obsolete, dropped", path, seg.base, base)
        path.unlink(missing_ok=True)  # (a mount starting meanwhile may have replayed it too)
    return root
