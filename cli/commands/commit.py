"""got commit: record the working directory (or a mount's working root) as a new commit.

Which of them is committed (a merge to conclude, a read-write mount, the working directory)
is gotfs.repo.committing's decision; this module parses, calls it and reports."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.repo.committing import commit_working_copy
from gotfs.repo.mounting import working_copy
from gotkv.errors import InvalidInput

from cli.context import author, gc_in_background, open_repo
from cli.diffview import is_file_like, tree_changes
from cli.output import change_lines, emit_json, first_line, out, progress, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("commit", help="record changes as a new commit",
                       description="Snapshot the working directory (honouring .gotignore) and "
                                   "record it on the current branch. While the branch is mounted "
                                   "read-write, the mount is its working copy: its mounted working root "
                                   "is committed instead (inside a mount, the mount's branch). During a "
                                   "merge, this concludes it (as `got merge --continue`).")
    p.add_argument("-m", "--message", required=True, metavar="MSG", help="the commit message")
    p.add_argument("--allow-empty", action="store_true", help="commit even if nothing changed")
    p.add_argument("--json", action="store_true", help="machine-readable summary of the new commit")
    return p


def run(args) -> int:
    if not args.message.strip():
        raise InvalidInput("empty commit message; give one with -m")
    with open_repo() as repo:
        wc = working_copy(repo)  # a live mount publishes first: its last writes belong in this commit
        branch, mount = wc.branch, wc.mounted
        if mount is not None and mount.warning:
            print(f"got: warning: {mount.warning}", file=sys.stderr)
        with progress("Committing", unit="files stored") as update:
            ref, root = commit_working_copy(repo, wc, args.message, author=author(),
                                            allow_empty=args.allow_empty, progress=update)
        if mount is not None:
            out(f"committing the mounted working root of {branch}")
        commit = repo.read_commit(ref)
        parent = repo.read_commit(commit.parents[0]).root if commit.parents else repo.fs.new()
        changes = [c for c in tree_changes(repo.fs, parent, root) if is_file_like(c)]
        gc_in_background(repo)
    counts = Counter(c.kind for c in changes)
    if args.json:
        emit_json({"commit": ref.cid.hex(), "branch": branch, "parents": [p.cid.hex() for p in commit.parents],
                   "changed": {"added": counts[ADDED], "modified": counts[MODIFIED], "removed": counts[REMOVED]},
                   "changes": [{"path": c.path, "kind": c.kind} for c in changes]})
        return 0
    where = branch or "detached HEAD"
    root_note = " (root-commit)" if not commit.parents else ""
    out(f"[{where}{root_note} {short_id(ref)}] {first_line(args.message)}")
    n = len(changes)
    out(f" {n} file{'s' if n != 1 else ''} changed: {counts[ADDED]} added, "
        f"{counts[MODIFIED]} modified, {counts[REMOVED]} removed")
    if args.verbose:
        for line in change_lines(changes):
            out(line)
    return 0
