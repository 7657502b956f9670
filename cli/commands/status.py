"""got status: what the working directory changes against HEAD."""

from __future__ import annotations

import argparse

from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.repo import commit_id

from cli.context import open_repo
from cli.output import emit_json, out, short_id

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
    if args.json:
        emit_json({"branch": branch, "head": commit_id(head) if head else None,
                   "mounted_working_root": mounted,
                   "clean": not changes,
                   "changes": [{"path": c.path, "kind": c.kind} for c in changes]})
        return 0
    shown = [(c, c.path + ("/" if c.path in dirs else "")) for c in changes]
    if args.short:
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
    if not changes:
        out("nothing to commit, working tree clean")
        return 0
    out("\nChanges:")
    for c, name in shown:
        out(f"  {c.kind + ':':<10}{name}")
    return 0
