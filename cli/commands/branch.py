"""got branch: list, create or delete branches."""

from __future__ import annotations

import argparse

from cli.context import open_repo
from cli.output import emit_json, first_line, out, say_ref, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("branch", help="list, create or delete branches",
                       description="No NAME: list branches (* marks HEAD's). NAME [REV]: create NAME "
                                   "at REV (default HEAD). -d NAME: delete it.")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("rev", nargs="?", default="HEAD", metavar="REV")
    p.add_argument("-d", "--delete", metavar="NAME", help="delete branch NAME")
    p.add_argument("-v", "--verbose", action="store_true", help="show each branch's commit and subject")
    p.add_argument("--json", action="store_true", help="machine-readable list")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if args.delete:
            ref = repo.branches().get(args.delete)
            repo.delete_branch(args.delete)
            say_ref("deleted", args.delete, ref, f"Deleted branch {args.delete} (was {short_id(ref)})")
            return 0
        if args.name:
            ref = repo.create_branch(args.name, args.rev)
            say_ref("created", args.name, ref, f"Created branch {args.name} at {short_id(ref)}")
            return 0
        current = repo.head_branch()
        branches = repo.branches()
        if args.json:
            emit_json([{"name": n, "commit": r.cid.hex(), "current": n == current,
                        "working_root": repo.working_root(n) is not None}
                       for n, r in sorted(branches.items())])
            return 0
        if current and current not in branches:
            out(f"* {current} (no commits yet)")
        for name, ref in sorted(branches.items()):
            mark = "*" if name == current else " "
            line = f"{mark} {name}"
            if args.verbose:
                line += f"  {short_id(ref)} {first_line(repo.read_commit(ref).message)}"
            out(line)
    return 0
