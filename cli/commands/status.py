"""got status: what the working directory changes against HEAD."""

from __future__ import annotations

import argparse
import sys

from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.repo import commit_id, mergestate
from gotfs.repo.mounting import mounted_changes, working_copy

from cli.context import open_repo
from cli.output import emit_json, out, quote_path, short_id

_LETTER = {ADDED: "A", MODIFIED: "M", REMOVED: "D"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="show changes in the working directory",
                       description="Paths added, modified or removed in the working copy against "
                                   "HEAD (.gotignore honoured): what `got commit` would record. While "
                                   "the branch is mounted read-write, the mount is its working copy.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-s", "--short", action="store_true", help="one line per path: A/M/D and the path")
    return p


def run(args) -> int:
    with open_repo() as repo:
        wc = working_copy(repo)
        branch, mount = wc.branch, wc.mounted
        if mount is not None:
            if mount.warning:
                print(f"got: warning: {mount.warning}", file=sys.stderr)
            changes = mounted_changes(repo, mount)
            dirs = {c.path for c in changes if c.new is not None and c.new.is_dir}
            head = repo.branches().get(branch)
            # the working directory's own edits wait while the mount is the working copy
            set_aside = repo.status() if branch == repo.head_branch() else []
        else:
            changes = repo.status()
            dirs = {c.path for c in changes if c.kind != REMOVED and (repo.workdir / c.path).is_dir()}
            head = repo.head()
            set_aside = []
        mounted = mount is not None
        merge = mergestate.state(repo)
        unmerged = [dict(c, markers=mergestate.still_marked(repo, c["path"])) for c in merge.conflicts] if merge else []
    if args.json:
        emit_json({"branch": branch, "head": commit_id(head) if head else None,
                   "mounted_working_root": mounted, "mount": mount.path if mount else None,
                   "behind": wc.behind,
                   "clean": not changes,
                   "changes": [{"path": c.path, "kind": c.kind} for c in changes],
                   "set_aside": [{"path": c.path, "kind": c.kind} for c in set_aside],
                   "merge": {"merging": merge.name, "theirs": commit_id(merge.theirs), "conflicts": unmerged}
                   if merge else None})
        return 0
    shown = [(c, quote_path(c.path) + ("/" if c.path in dirs else "")) for c in changes]
    if args.short:
        for c in unmerged:
            out(f"U {quote_path(c['path'])}")
        for c, name in shown:
            out(f"{_LETTER[c.kind]} {name}")
        return 0
    if branch:
        out(f"On branch {branch}")
    else:
        out(f"HEAD detached at {short_id(head)}")
    if head is None:
        out("\nNo commits yet")
    if mount is not None and mount.path is not None:
        out(f"\n{branch} is mounted read-write at {mount.path}: its mounted working root is the working "
            f"copy, and `got commit` records what it holds")
    elif mount is not None:
        out(f"\n{branch} has a mounted working root left by a read-write mount that has ended; "
            f"`got commit` records it")
    if wc.behind:
        count = f"{wc.behind} commit{'s' if wc.behind != 1 else ''}" if wc.behind > 0 else "commits"
        out(f"\nThe working directory is behind {branch or 'HEAD'} by {count} made through a read-write "
            f"mount; `got checkout {branch or 'HEAD'}` brings it up to date"
            + ("" if mounted else " (changes below are against the commit it holds)"))
    if merge:
        out(f"\nMerging {merge.name}: " + ("fix the conflicts, then `got merge --continue` (or `got merge --abort`)"
                                           if unmerged else "run `got merge --continue`"))
        out("\nUnmerged paths:")
        for c in unmerged:
            if c["kind"] == "content":
                state = "conflict markers left" if c["markers"] else "markers removed"
            else:
                state = f"both sides: HEAD:{c['path']}, MERGE_HEAD:{c['path']}"
            out(f"  {c['kind'] + ':':<19}{c['path']}  ({state}{'; ' + c['note'] if c['note'] else ''})")
    if set_aside:
        out(f"\nSet aside in the working directory {repo.workdir} (not in the next commit while {branch} "
            f"is mounted read-write):")
        for c in set_aside:
            out(f"  {c.kind + ':':<10}{c.path}")
    if not changes:
        out("no changes in the working directory since the commit it holds" if wc.behind and not mounted
            else "nothing to commit, working tree clean")
        return 0
    out("\nChanges:")
    for c, name in shown:
        out(f"  {c.kind + ':':<10}{name}")
    return 0
