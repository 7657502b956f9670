"""got checkout: switch the working directory and HEAD to a revision, or restore paths from it."""

from __future__ import annotations

import argparse

from cli.context import open_repo, worktree_path
from cli.output import emit_json, first_line, out, progress, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("checkout", help="switch to a revision, or restore paths from it",
                       description="Make the working directory hold REV and move HEAD there (onto the "
                                   "branch if REV names one, else detached). After `--`, restore only "
                                   "those PATHs and leave HEAD alone. Uncommitted changes that would be "
                                   "overwritten stop the checkout unless --force.")
    p.add_argument("rev", metavar="REV")
    p.add_argument("-f", "--force", action="store_true", help="overwrite uncommitted changes")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        paths = [worktree_path(repo, p) for p in args.pathspec or ()] or None
        with progress("Checking out", unit="paths") as update:
            update()
            changes = repo.checkout(args.rev, force=args.force, paths=paths)
        if paths and args.json:
            emit_json({"rev": args.rev, "paths_updated": len(changes)})
        if paths:
            out(f"Updated {len(changes)} path{'s' if len(changes) != 1 else ''} from {args.rev}")
            return 0
        report_switch(repo, len(changes), as_json=args.json)
    return 0


def report_switch(repo, changed: int, *, as_json: bool = False) -> None:
    """What checkout and switch print once HEAD has moved (with --json, docs/cli.md's shape)."""
    branch = repo.head_branch()
    if as_json:
        emit_json({"branch": branch, "head": repo.head().cid.hex(), "detached": branch is None,
                   "paths_updated": changed})
    elif branch:
        out(f"Switched to branch '{branch}' ({changed} path{'s' if changed != 1 else ''} updated)")
    else:
        head = repo.head()
        out(f"HEAD is now at {short_id(head)} {first_line(repo.read_commit(head).message)} (detached)")
