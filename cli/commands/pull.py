"""got pull: fetch, then fast-forward the current branch and the working directory."""

from __future__ import annotations

import argparse

from gotfs.repo import remotes as R

from cli.context import open_repo
from cli.output import emit_json, out, transfer_progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("pull", help="fetch and fast-forward the current branch",
                       description="Fetch REMOTE (default: origin), then fast-forward the current "
                                   "branch and the working directory to REMOTE/BRANCH. Uncommitted "
                                   "changes the update would overwrite stop it.")
    p.add_argument("remote", nargs="?", default="origin", metavar="REMOTE")
    p.add_argument("branch", nargs="?", metavar="BRANCH")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        with transfer_progress("Pulling") as update:
            report, outcome = R.pull(repo, args.remote, args.branch, progress=update)
        branch = args.branch or repo.head_branch()
    if args.json:
        emit_json({"remote": args.remote, "branch": branch, "outcome": outcome, **report.to_json()})
    elif outcome == "up to date":
        out("Already up to date.")
    else:
        out(f"{branch}: {outcome} to {args.remote}/{branch}")
    return 0
