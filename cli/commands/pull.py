"""got pull: fetch, then fast-forward the current branch, or merge it when the two diverged."""

from __future__ import annotations

import argparse

from gotfs.repo import merging, remotes as R
from gotkv.blobs.ref import Ref

from cli.commands.merge import MergeStopped, describe
from cli.context import author, open_repo
from cli.output import emit_json, out, short_id, transfer_progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("pull", help="fetch, then fast-forward or merge the current branch",
                       description="Fetch REMOTE (default: origin), then fast-forward the current "
                                   "branch and the working directory to REMOTE/BRANCH, or merge "
                                   "REMOTE/BRANCH into it when both have new commits (as `got merge`: "
                                   "conflicts stop it, to resolve and `got merge --continue`). "
                                   "Uncommitted changes the update would overwrite stop it.")
    p.add_argument("remote", nargs="?", default="origin", metavar="REMOTE")
    p.add_argument("branch", nargs="?", metavar="BRANCH")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        with transfer_progress("Pulling") as update:
            report, outcome = R.pull(repo, args.remote, args.branch, progress=update, author=author())
        branch = args.branch or repo.head_branch()
        head = repo.refs.get(f"heads/{branch}") if branch else None
        st = merging.state(repo) if outcome == "conflict" else None
    conflicts = st.conflicts if st else []
    if args.json:
        emit_json({"remote": args.remote, "branch": branch, "outcome": outcome, **report.to_json(),
                   "conflicts": conflicts})
    elif outcome == "up to date":
        out("Already up to date.")
    elif outcome == "merged":
        out(f"{branch}: merged {args.remote}/{branch} ({short_id(Ref.parse(head))})")
    elif outcome == "conflict":
        for c in conflicts:
            out(describe(c))
    else:
        out(f"{branch}: {outcome} to {args.remote}/{branch}")
    if outcome == "conflict":
        raise MergeStopped(len(conflicts))
    return 0
