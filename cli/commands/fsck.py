"""got fsck: check every reachable commit, tree and data blob."""

from __future__ import annotations

import argparse
import sys

from gotfs.repo.fsck import fsck

from cli.context import open_repo
from cli.output import emit_json, out, progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fsck", help="verify the repository's integrity",
                       description="Check every reachable commit and tree (hashes, tags, ordering, "
                                   "node boundaries), that every data blob exists, and that refs.sqlite agrees "
                                   "with its log (refs.log). Goes on past damage and names the commits and "
                                   "files it touches; lists commits no ref reaches (dangling) and how to "
                                   "recover them. --read-data also decodes every data blob and re-hashes "
                                   "every stored blob. Exits 1 when anything is wrong, one line per problem.")
    p.add_argument("--read-data", action="store_true", help="also read and verify every blob's bytes")
    p.add_argument("--repair", action="store_true",
                   help="first rebuild what can be rebuilt: a damaged blob index from the packs, damaged or "
                        "lost refs from refs.log, a damaged stat cache (then check)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    repaired = []
    if args.repair:
        from gotfs.repo import repair

        dot = repair.find_dot()
        repaired = repair.repair_files(dot) if dot is not None else []
    with open_repo() as repo:
        if args.repair:
            repaired += repair.repair_refs(repo)
        for line in repaired:
            if not args.json:
                out("repaired: " + line)
        with progress("Checking" + (" (reading all data)" if args.read_data else "")) as update:
            update()
            report = fsck(repo, read_data=args.read_data)
    if args.json:
        emit_json({"ok": report.ok, "commits": report.commits, "trees": report.trees,
                   "entries": report.entries, "data_blobs": report.data_blobs,
                   "blobs_verified": report.blobs_verified, "damaged_commits": report.damaged_commits,
                   "problems": report.problems, "dangling": report.dangling, "repaired": repaired})
        return 0 if report.ok else 1
    damaged = f" ({report.damaged_commits} damaged)" if report.damaged_commits else ""
    summary = (f"checked {report.commits} commits{damaged}, {report.trees} trees, {report.entries} entries, "
               f"{report.data_blobs} data blobs")
    if args.read_data:
        summary += f"; re-hashed {report.blobs_verified} stored blobs"
    out(summary)
    for line in report.dangling:
        out(line)
    for problem in report.problems:
        out("error: " + " ".join(problem.split()))
    if report.problems:
        n = len(report.problems)
        print(f"got: fsck found {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    out("no problems found")
    return 0
