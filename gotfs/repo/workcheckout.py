"""Checkouts: the half of WorkCopy (gotfs/repo/workcopy.py) that writes a tree into the
working directory: a whole checkout, a checkout of some paths, and the writes of a merge.

A mixin, as Repo's faces are: WorkCopy supplies the state (fs, root, db) and the reads
(status, dirty, host_path, _trusted_sig, _remember) these methods call as its own. What a
checkout never does: overwrite a local edit or an untracked file unasked (DirtyWorkingCopy),
or write outside the working directory (Materializer refuses).
"""

from __future__ import annotations

import os
import time

from gotfs import keys
from gotfs.diff import MODIFIED, REMOVED, diff as fs_diff
from gotfs.dirs import walk
from gotfs.repo import basetree
from gotfs.repo.errors import DirtyWorkingCopy
from gotfs.repo.statrows import encode_entries as _encode_entries
from gotfs.repo.workstatus import Change
from gotfs.tx import Tx
from gotkv.root import Root


class Checkouts:
    """Writes of a tree into the working directory. See the module docstring."""

    def checkout(self, base: Root, target: Root, *, force: bool = False, paths: list[str] | None = None) -> list[Change]:
        """Make the working directory hold `target` (or just `paths` of it); return what changed.

        Refuses (DirtyWorkingCopy) when a path it must touch has uncommitted changes against
        `base`, unless force. Never writes outside the working directory.
        """
        whole_from = None
        if paths:
            wanted = [keys.parse_path(p) for p in paths]
            plan = self._plan_paths(target, wanted)
            if not force:  # as for a whole checkout: local edits are never overwritten unasked
                self._refuse_overwrites(base, target, [c.path for c in plan])
        else:
            plan = [Change(c.path, c.kind) for c in fs_diff(self.fs, base, target)]
            dirty = {c.path for c in self.status(base)}
            conflicts = [c.path for c in plan if c.path in dirty]
            if conflicts and not force:
                raise DirtyWorkingCopy(conflicts)
            if force:
                plan = self._with_dirty_resets(plan, dirty, target)
            whole_from = basetree.load(self.db, base) or basetree.fileless(self.db, self.fs, base)
        self._apply(plan, target, whole_from=whole_from)
        return plan

    def _refuse_overwrites(self, base: Root, target: Root, paths: list[str]) -> None:
        """DirtyWorkingCopy naming those of `paths` that hold uncommitted changes (against
        `base`) which writing `target`'s version would lose; a path already holding exactly
        what `target` holds loses nothing. Costs dirty()'s lstats and reads, twice at most."""
        edited = self.dirty(base, paths)
        lost = self.dirty(target, edited) if edited else []
        if lost:
            raise DirtyWorkingCopy(lost)

    def write_paths(self, target: Root, plan: list[Change]) -> None:
        """Make each path of `plan` hold what `target` holds (REMOVED: delete it from the host),
        with no check for local edits: for callers that made that check themselves or own
        those paths (a merge writing its result, and `merge --abort` putting them back)."""
        self._apply(plan, target)

    def _plan_paths(self, target: Root, wanted: list[keys.Path]) -> list[Change]:
        plan = []
        tx = Tx(self.fs, target)
        for p in wanted:
            for path, _ in walk(tx, p):
                plan.append(Change(keys.show(path), MODIFIED))
        return plan

    def _with_dirty_resets(self, plan: list[Change], dirty: set[str], target: Root) -> list[Change]:
        """--force: also reset tracked paths with local edits; untracked files stay, as in git."""
        planned = {c.path for c in plan}
        tx = Tx(self.fs, target)
        for path in sorted(dirty - planned):
            if tx.info(keys.parse_path(path)) is not None:
                plan.append(Change(path, MODIFIED))
        return plan

    def _apply(self, plan: list[Change], target: Root, *, whole_from: basetree.BaseTree | None = None) -> None:
        """Write `plan` from `target` and give its files rows. With `whole_from`, the recorded
        base from which `plan` is the whole change to `target` (plus resets), the rows are made
        to describe `target`, which becomes the base (basetree.checked_out): the status and
        commit after a checkout work from the rows too."""
        from gotfs.repo.materialize import Materializer  # here: a commit never writes host files

        now = time.time_ns()
        m = Materializer(self.fs, target, self.root)
        removed = [c for c in plan if c.kind == REMOVED]
        for c in sorted(removed, key=lambda c: c.path.count("/"), reverse=True):
            m.remove(keys.parse_path(c.path))
        rows = []
        forget = [os.fsencode(c.path) for c in removed]
        for c in sorted((c for c in plan if c.kind != REMOVED), key=lambda c: keys.info_key(keys.parse_path(c.path))):
            path = keys.parse_path(c.path)
            written = m.write(path)
            if written is not None:
                info, extents, digest = written
                s = os.lstat(self.host_path(path))
                rows.append((b"/".join(path), self._trusted_sig(s, now), digest,
                             _encode_entries(info, extents)))
        if whole_from is None:
            self._remember(rows, forget, keeps=target)  # (restoring HEAD's paths keeps HEAD's base)
            return
        new_base, more, gone = basetree.checked_out(self.db, self.fs, whole_from, target, {c.path for c in plan},
                                                    _encode_entries)
        self._remember(rows + more, forget + gone, base=new_base)
