"""got switch: move to a branch, optionally creating it first."""

from __future__ import annotations

import argparse

from gotfs.repo.repo import check_ref_name
from gotkv.errors import GotError, InvalidInput

from cli.commands.checkout import report_switch
from cli.context import open_repo
from cli.output import emit_json, out, progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("switch", help="switch to a branch (-c: create it first)",
                       description="Switch the working directory and HEAD to BRANCH. With -c NEW, "
                                   "create NEW at START (default HEAD) and switch to it.")
    p.add_argument("branch", nargs="?", metavar="BRANCH|START")
    p.add_argument("-c", "--create", metavar="NEW", help="create branch NEW, then switch to it")
    p.add_argument("-f", "--force", action="store_true", help="overwrite uncommitted changes")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if args.create and not args.branch and repo.head() is None:
            check_ref_name(args.create)  # no commits yet: just move the unborn HEAD
            repo.set_head(args.create)
            if args.json:
                emit_json({"branch": args.create, "head": None, "detached": False, "paths_updated": 0})
            out(f"Switched to a new branch '{args.create}'")
            return 0
        if args.create:
            repo.create_branch(args.create, args.branch or "HEAD")
            target = args.create
        else:
            if not args.branch:
                raise InvalidInput("which branch? `got switch BRANCH`, or `got switch -c NEW` to create one")
            if args.branch not in repo.branches():
                raise InvalidInput(f"{args.branch!r} is not a branch; `got checkout {args.branch}` "
                                   f"detaches HEAD at a commit, `got switch -c {args.branch}` creates it")
            target = args.branch
        try:
            with progress("Switching", unit="paths") as update:
                update()
                changes = repo.checkout(target, force=args.force)
        except GotError:
            if args.create:  # leave no half-done switch behind
                repo.delete_branch(args.create)
            raise
        report_switch(repo, len(changes), as_json=args.json)
    return 0
