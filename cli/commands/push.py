"""got push: send a branch to a remote and move it there (fast-forward only)."""

from __future__ import annotations

import argparse

from gotfs.repo import remotes as R

from cli.context import open_repo
from cli.output import emit_json, out, transfer_progress, transfer_summary


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("push", help="send a branch to a remote",
                       description="Send the commits of BRANCH (default: the current branch) that "
                                   "REMOTE (default: origin) lacks, and move REMOTE's BRANCH to it. "
                                   "Only a fast-forward: if the remote branch moved, fetch and merge first.")
    p.add_argument("remote", nargs="?", default="origin", metavar="REMOTE")
    p.add_argument("branch", nargs="?", metavar="BRANCH")
    p.add_argument("--delete", action="store_true", help="delete BRANCH on the remote")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        branch = args.branch or repo.head_branch()
        with transfer_progress("Pushing") as update:
            report = R.push(repo, args.remote, branch, delete=args.delete, progress=update)
    if args.json:
        emit_json({"remote": args.remote, "branch": branch, **report.to_json()})
    elif args.delete:
        out(f"Deleted {args.remote}/{branch}")
    elif not report.refs:
        out(f"{args.remote}/{branch} is up to date")
    else:
        out(f"{args.remote}/{branch}: {transfer_summary(report)}")
    return 0
