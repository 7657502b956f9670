"""got status: what the working directory changes against HEAD."""

from __future__ import annotations

import argparse

from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.repo import commit_id, merging

from cli.context import open_repo
from cli.output import emit_json, out, quote_path, short_id

_LETTER = {ADDED: "A", MODIFIED: "M", REMOVED: "D"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="show changes in the working directory",
                       description="Paths added, modified or removed in the working directory "
                                   "against HEAD (.gotignore honoured).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-s", "--short", action="store_true", help="one line per path: A/M/D and the path")
    return p


def run(args) -> int:
    with open_repo() as repo:
        changes = repo.status()
        branch = repo.head_branch()
        head = repo.head()
        work = repo.working_root(branch) if branch else None
        mounted = work is not None and work != repo.head_root()
        dirs = {c.path for c in changes if c.kind != REMOVED and (repo.workdir / c.path).is_dir()}
        merge = merging.state(repo)
        unmerged = [dict(c, markers=merging.still_marked(repo, c["path"])) for c in merge.conflicts] if merge else []
    if args.json:
        emit_json({"branch": branch, "head": commit_id(head) if head else None,
                   "mounted_working_root": mounted,
                   "clean": not changes,
                   "changes": [{"path": c.path, "kind": c.kind} for c in changes],
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
    if mounted:
        out(f"\nbranch {branch} has a mounted working root with uncommitted changes; `got commit` records it")
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
    if not changes:
        out("nothing to commit, working tree clean")
        return 0
    out("\nChanges:")
    for c, name in shown:
        out(f"  {c.kind + ':':<10}{name}")
    return 0
