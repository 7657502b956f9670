"""got fsck: check every reachable commit, tree and data blob."""

from __future__ import annotations

import argparse
import sys

from gotfs.repo import maintenance

from cli.context import open_repo
from cli.output import emit_json, out, progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fsck", help="verify the repository's integrity",
                       description="Check every reachable commit and tree (hashes, tags, ordering, "
                                   "node boundaries) and that every data blob exists. --read-data also "
                                   "decodes every data blob and re-hashes every stored blob. Exits 1 "
                                   "when anything is wrong, one line per problem.")
    p.add_argument("--read-data", action="store_true", help="also read and verify every blob's bytes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    with open_repo() as repo:
        with progress("Checking" + (" (reading all data)" if args.read_data else "")) as update:
            update()
            report = maintenance.fsck(repo, read_data=args.read_data)
    if args.json:
        emit_json({"ok": report.ok, "commits": report.commits, "trees": report.trees,
                   "entries": report.entries, "data_blobs": report.data_blobs,
                   "blobs_verified": report.blobs_verified, "problems": report.problems})
        return 0 if report.ok else 1
    summary = (f"checked {report.commits} commits, {report.trees} trees, {report.entries} entries, "
               f"{report.data_blobs} data blobs")
    if args.read_data:
        summary += f"; re-hashed {report.blobs_verified} stored blobs"
    out(summary)
    for problem in report.problems:
        out("error: " + " ".join(problem.split()))
    if report.problems:
        n = len(report.problems)
        print(f"got: fsck found {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    out("no problems found")
    return 0
