"""got fetch: bring a remote's branches as remote-tracking refs (origin/main, ...)."""

from __future__ import annotations

import argparse

from gotfs.repo import remotes as R

from cli.context import open_repo
from cli.output import emit_json, out, ref_moves, transfer_progress, transfer_summary


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fetch", help="bring a remote's branches",
                       description="Bring every branch of REMOTE (default: origin) with the commits "
                                   "this repository lacks; they are then revisions named "
                                   "REMOTE/BRANCH (log, diff, show, cat, mount).")
    p.add_argument("remote", nargs="?", default="origin", metavar="REMOTE")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def run(args) -> int:
    with open_repo() as repo:
        with transfer_progress("Fetching") as update:
            report = R.fetch(repo, args.remote, progress=update)
    if args.json:
        emit_json({"remote": args.remote, **report.to_json()})
        return 0
    for line in ref_moves(report):
        out(line)
    if report.commits:
        out(transfer_summary(report))
    return 0
