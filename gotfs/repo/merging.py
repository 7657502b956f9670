"""Merging branches in a repository: merge base, fast-forward, merge commits, conflicts.

    outcome = merge(repo, "feature")          # into HEAD's branch and the working directory
    continue_merge(repo)                      # after resolving conflicts in the working dir
    abort_merge(repo)                         # back to exactly where the merge started

The trees are merged by gotfs.merge (cost: what changed since the merge base). Here:

- the merge base is the newest commit both sides descend from, found by walking both
  histories newest first: O(commits since they forked), each commit read once;
- nothing of the user's is overwritten: a merge first works out every working-directory
  path it would write (the paths that differ between HEAD's tree and the merged tree, and
  every conflicted path); if any has uncommitted changes (WorkCopy.dirty looks at those
  paths only, not the whole directory) it stops before writing anything.
  Uncommitted changes elsewhere stay as they are, and stay uncommitted;
- a clean merge writes those paths, then moves the branch by compare-and-swap to a commit
  with two parents (ours first) — or, when HEAD's commit is an ancestor, straight to theirs
  (fast-forward);
- a conflicted merge records its state (refs MERGE_HEAD and MERGE_STATE, written before the
  working directory is touched, so an interrupted merge can still be aborted) and writes the
  working state: text with conflict markers, the other version of a file-vs-directory
  conflict beside it at `path~BRANCH`. `continue_merge` commits the merged tree with the
  working directory's version of every path the merge wrote; `abort_merge` puts those paths
  back as HEAD has them. Both versions of a conflicted path stay readable as `HEAD:path`
  and `MERGE_HEAD:path`;
- a branch mounted read-write (or with a mount's uncommitted working root) is refused: the
  mount would not show the merge, and the merge would not see the mount's writes.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field

from gotfs import keys
from gotfs.diff import MODIFIED, REMOVED, diff as fs_diff
from gotfs.merge import CONTENT, Conflict, merge as merge_trees
from gotfs.repo.commit import Commit
from gotfs.repo.ignore import Ignore
from gotfs.repo.mergestate import MERGE_HEAD, STATE, MergeState, state, still_marked  # noqa: F401 (merging's API)
from gotfs.repo.errors import BranchMoved, DirtyWorkingCopy, MergeInProgress, WorkdirBehind
from gotfs.repo.repo import Repo
from gotfs.repo.workcopy import Change
from gotfs.tx import Tx
from gotkv.blobs.ref import Ref
from gotkv.errors import GotError
from gotkv.root import Root



class NoMergeInProgress(GotError):
    exit_code = 1

    def __init__(self):
        super().__init__("no merge in progress")


class MergeWouldOverwrite(DirtyWorkingCopy):
    def __init__(self, paths: list[str]):
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        GotError.__init__(self, f"the merge would overwrite uncommitted changes to {shown}; "
                                f"commit them first (nothing was changed)")
        self.paths = paths


class BranchMounted(GotError):
    exit_code = 1

    def __init__(self, branch: str, where: str):
        super().__init__(f"branch {branch} is mounted read-write at {where}; `got umount {where}` "
                         f"(which commits its changes) before merging")


class UnresolvedConflicts(GotError):
    exit_code = 1

    def __init__(self, paths: list[str]):
        super().__init__(f"{', '.join(paths)} still hold{'s' if len(paths) == 1 else ''} conflict markers: "
                         f"edit {'it' if len(paths) == 1 else 'them'}, then `got merge --continue`")


class Unrelated(GotError):
    exit_code = 1

    def __init__(self, spec: str):
        super().__init__(f"{spec} shares no history with HEAD: nothing to merge from")


@dataclass
class Outcome:
    """What a merge did: "up to date", "fast-forward", "merged" or "conflict"."""

    kind: str
    commit: Ref | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)


# -- history --------------------------------------------------------------------------------


def merge_base(repo: Repo, a: Ref, b: Ref) -> Ref | None:
    """The newest commit that both `a` and `b` are or descend from; None if there is none.

    Both histories are walked together newest first (by commit time), each commit marked with
    the sides that reach it; the first one popped with both marks is the base. Commit times
    grow from parent to child (clocks make them so), so every commit newer than it has been
    popped, and none of those is a common ancestor: it is a lowest one, as git's is (with
    criss-cross histories, one of several). Cost: one read per commit newer than the base on
    either side, plus the parents queued meanwhile."""
    if a.cid == b.cid:
        return a
    flags: dict[bytes, int] = {a.cid: 1, b.cid: 2}
    heap = [(-repo.read_commit(r).time_ns, r.cid, r) for r in (a, b)]
    heapq.heapify(heap)
    while heap:
        _, cid, ref = heapq.heappop(heap)
        if flags[cid] == 3:
            return ref
        for p in repo.read_commit(ref).parents:
            old = flags.get(p.cid, 0)
            if old | flags[cid] != old:
                flags[p.cid] = old | flags[cid]
                if old == 0:
                    heapq.heappush(heap, (-repo.read_commit(p).time_ns, p.cid, p))
    return None


UP_TO_DATE, FAST_FORWARD, THREE_WAY = "up to date", "fast-forward", "three-way"


def relation(repo: Repo, ours: Ref, theirs: Ref, spec: str) -> tuple[str, Ref]:
    """How merging `theirs` into `ours` goes, and their merge base: UP_TO_DATE when `theirs`
    is `ours` or an ancestor of it, FAST_FORWARD when `ours` is an ancestor of `theirs`, else
    THREE_WAY. Raises Unrelated (naming `spec`) when they share no history. Cost: merge_base's."""
    base = merge_base(repo, ours, theirs)
    if base is None:
        raise Unrelated(spec)
    if base.cid == theirs.cid:
        return UP_TO_DATE, base
    if base.cid == ours.cid:
        return FAST_FORWARD, base
    return THREE_WAY, base


# -- merging --------------------------------------------------------------------------------


def merge(repo: Repo, spec: str, *, favor: str | None = None, message: str | None = None,
          author: str = "got") -> Outcome:
    """Merge commit `spec` into HEAD (its branch, or a detached HEAD) and the working directory.

    Fast-forward when HEAD's commit is an ancestor of `spec`; "up to date" when `spec` is an
    ancestor of HEAD; otherwise a three-way merge against the merge base, committed with two
    parents when clean (or with favor=OURS/THEIRS, which takes that side at every conflict),
    else stopped with the conflicts written into the working directory (kind "conflict")."""
    theirs = repo.resolve(spec)
    branch = repo.head_branch()
    with repo._workdir_lock(), repo.writing():
        if state(repo) is not None:
            raise MergeInProgress()
        check_not_mounted(repo, branch, spec)
        ours = repo.head()
        base_commit = repo.workdir_base()
        if ours is not None and base_commit is not None and ours != base_commit:
            raise WorkdirBehind(branch or "HEAD")
        ours_root = repo.read_commit(ours).root if ours is not None else repo.fs.new()
        if ours is None:
            return _fast_forward(repo, branch, None, ours_root, theirs)
        kind, base = relation(repo, ours, theirs, spec)
        if kind == UP_TO_DATE:
            return Outcome(kind)
        if kind == FAST_FORWARD:
            return _fast_forward(repo, branch, ours, ours_root, theirs)
        theirs_root = repo.read_commit(theirs).root
        merged = merge_trees(repo.fs, repo.read_commit(base).root, ours_root, theirs_root,
                             favor=favor, labels=("HEAD", spec))
        plan = [Change(c.path, c.kind) for c in fs_diff(repo.fs, ours_root, merged.root)]
        touched = sorted({c.path for c in plan} | {c.path for c in merged.conflicts}, key=_key)
        _check_clean(repo, ours_root, touched)
        message = message or _default_message(repo, spec, branch)
        if merged.conflicts and favor is None:
            st = MergeState(ours, theirs, merged.root, spec, message,
                            [{"path": c.path, "kind": c.kind, "note": c.note} for c in merged.conflicts], touched)
            repo.refs.cas(STATE, None, st.to_json(), also={MERGE_HEAD: str(theirs)})
            _write(repo, merged.root, plan)
            return Outcome("conflict", None, merged.conflicts, plan)
        _write(repo, merged.root, plan)
        try:
            ref = _commit(repo, branch, merged.root, (ours, theirs), message, author)
        except BranchMoved:
            _write(repo, ours_root, _undo(repo, ours_root, touched))
            raise
        return Outcome("merged", ref, merged.conflicts, plan)


def merge_refs(repo: Repo, branch: str, spec: str, *, author: str = "got", message: str | None = None) -> Outcome:
    """Merge `spec` into `branch` where it is not checked out: trees only, no working directory.
    A conflict stops it (nothing changed): the user merges on that branch, where conflicts
    can be resolved. Used by `pull` for a branch other than HEAD's."""
    ours, theirs = repo.resolve(f"heads/{branch}"), repo.resolve(spec)
    check_not_mounted(repo, branch, spec)
    kind, base = relation(repo, ours, theirs, spec)
    if kind == UP_TO_DATE:
        return Outcome(kind)
    if kind == FAST_FORWARD:
        repo.refs.cas(f"heads/{branch}", str(ours), str(theirs))
        return Outcome(kind, theirs)
    merged = merge_trees(repo.fs, repo.read_commit(base).root, repo.read_commit(ours).root,
                         repo.read_commit(theirs).root)
    if merged.conflicts:
        raise GotError(f"merging {spec} into {branch} conflicts in {merged.conflicts[0].path}"
                       f"{' and more' if len(merged.conflicts) > 1 else ''}: switch to {branch} and merge there")
    with repo.writing():
        ref = _commit(repo, branch, merged.root, (ours, theirs), message or _default_message(repo, spec, branch),
                      author, workdir=False)
    return Outcome("merged", ref, [], [])


def continue_merge(repo: Repo, *, message: str | None = None, author: str = "got") -> Ref:
    """Conclude a merge stopped by conflicts: a commit with two parents holding the merged
    tree, with the working directory's version of every path the merge wrote (the user's
    resolutions). Other uncommitted changes stay uncommitted. Refuses while a text conflict
    still holds its markers. Cost: a working-directory snapshot (a scan, as `got commit`)."""
    with repo._workdir_lock(), repo.writing():
        st = state(repo)
        if st is None:
            raise NoMergeInProgress()
        if repo.head() != st.orig:
            raise GotError("HEAD moved since the merge started; `got merge --abort`, then merge again")
        marked = [c["path"] for c in st.conflicts if c["kind"] == CONTENT and still_marked(repo, c["path"])]
        if marked:
            raise UnresolvedConflicts(marked)
        wc = repo.workcopy()
        try:
            work = wc.snapshot()
        finally:
            wc.close()
        root = take_paths(repo.fs, st.root, work, _not_ignored(repo, st.root, st.touched))
        return _commit(repo, repo.head_branch(), root, (st.orig, st.theirs), message or st.message, author,
                       clear_state=True)


def abort_merge(repo: Repo) -> list[Change]:
    """Put every path the merge wrote back as HEAD has it, and forget the merge. Paths the merge
    did not write (the user's uncommitted changes there) are left alone."""
    with repo._workdir_lock():
        st = state(repo)
        if st is None:
            raise NoMergeInProgress()
        orig_root = repo.read_commit(st.orig).root
        plan = _undo(repo, orig_root, st.touched)
        _write(repo, orig_root, plan)
        repo.refs.set_many({STATE: None, MERGE_HEAD: None})
        return plan


def check_not_mounted(repo: Repo, branch: str | None, spec: str) -> None:
    """Refuse (BranchMounted) if HEAD's branch or the merged branch is mounted read-write, or
    has a mount's working root not yet committed: one line naming the mount."""
    names = [b for b in (branch, spec) if b and b in repo.branches()]
    for b in names:
        where = repo.mount_point(b)
        if where and os.path.ismount(where):
            raise BranchMounted(b, where)
        work = repo.working_root(b)
        if work is not None and work != repo.root_of(f"heads/{b}"):
            raise BranchMounted(b, where or "a mount that ended without committing; `got commit` on it")


# -- helpers --------------------------------------------------------------------------------


def take_paths(fs, root: Root, source: Root, paths: list[str]) -> Root:
    """`root` with each of `paths` as `source` holds it (absent there: removed with all below;
    a directory: its own Info only, what is below it is taken path by path).

    A tree copy, not a write: `source` is a root of the same filesystem (the working
    directory's snapshot), so a file's Info and extent entries are copied as they are,
    sharing its data blobs, as gotfs.dirs.copy copies within one root. No file bytes become
    extents here, so the one write path (gotfs.staging) has nothing to do; both roots already
    keep the key layout. Cost: O(d) node reads per path and per extent copied, one mutate;
    no blob I/O."""
    tx = Tx(fs, root)
    for text in sorted(paths, key=_key):
        p = keys.parse_path(text)
        info = Tx(fs, source).info(p)
        if info is None or not info.is_dir:
            tx.delete_span(keys.subtree_span(p))
        else:
            tx.delete_span(keys.extents_span(p))
        if info is not None:
            tx.put(keys.info_key(p), info.to_bytes())
            for k, v in fs.kv.iterate(source, keys.extents_span(p)):
                tx.put(k, v)
    return tx.commit()


def _not_ignored(repo: Repo, root: Root, paths: list[str]) -> list[str]:
    """The paths a snapshot can see: one .gotignore hides (or that is below an ignored
    directory) keeps the merged tree's version rather than reading as deleted."""
    ignore = Ignore.load(repo.workdir)
    tx = Tx(repo.fs, root)

    def hidden(path: keys.Path) -> bool:
        for i in range(1, len(path) + 1):
            info = tx.info(path[:i])
            if ignore.ignored(keys.show(path[:i]), i < len(path) or (info is not None and info.is_dir)):
                return True
        return False

    return [p for p in paths if not hidden(keys.parse_path(p))]


def _key(path: str) -> bytes:
    return keys.info_key(keys.parse_path(path))


def _check_clean(repo: Repo, head_root: Root, touched: list[str]) -> None:
    """MergeWouldOverwrite if any path the merge would write has uncommitted changes: those
    paths are looked at, not the whole working directory (WorkCopy.dirty)."""
    wc = repo.workcopy()
    try:
        blocked = wc.dirty(head_root, touched)
    finally:
        wc.close()
    if blocked:
        raise MergeWouldOverwrite(blocked)


def _write(repo: Repo, target: Root, plan: list[Change]) -> None:
    wc = repo.workcopy()
    try:
        wc.write_paths(target, plan)
    finally:
        wc.close()


def _undo(repo: Repo, orig_root: Root, touched: list[str]) -> list[Change]:
    tx = Tx(repo.fs, orig_root)
    return [Change(p, MODIFIED if tx.info(keys.parse_path(p)) is not None else REMOVED) for p in touched]


def _fast_forward(repo: Repo, branch: str | None, ours: Ref | None, ours_root: Root, theirs: Ref) -> Outcome:
    theirs_root = repo.read_commit(theirs).root
    plan = [Change(c.path, c.kind) for c in fs_diff(repo.fs, ours_root, theirs_root)]
    _check_clean(repo, ours_root, [c.path for c in plan])
    _write(repo, theirs_root, plan)
    name = f"heads/{branch}" if branch else "HEAD"
    try:
        repo.refs.cas(name, str(ours) if ours else None, str(theirs), also={"WORKDIR": str(theirs)})
    except BranchMoved:
        _write(repo, ours_root, _undo(repo, ours_root, [c.path for c in plan]))
        raise
    return Outcome("fast-forward", theirs, [], plan)


def _commit(repo: Repo, branch: str | None, root: Root, parents: tuple[Ref, Ref], message: str, author: str,
            *, workdir: bool = True, clear_state: bool = False) -> Ref:
    """A commit with both parents, durable before any ref names it; the branch (or detached
    HEAD) moves by compare-and-swap from the first parent, with the working directory's base
    when `workdir` (the branch is checked out), in one transaction. Raises BranchMoved."""
    commit = Commit(root, parents, author, time.time_ns(), message)
    ref = repo._store_commit(commit)
    also: dict[str, str | None] = {"WORKDIR": str(ref)} if workdir else {}
    if clear_state:
        also.update({STATE: None, MERGE_HEAD: None})
    repo.refs.cas(f"heads/{branch}" if branch else "HEAD", str(parents[0]), str(ref), also=also)
    return ref


def _default_message(repo: Repo, spec: str, branch: str | None) -> str:
    what = f"branch '{spec}'" if spec in repo.branches() else f"'{spec}'"
    return f"Merge {what}" + (f" into {branch}" if branch else "")
