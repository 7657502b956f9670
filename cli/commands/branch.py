"""got branch: list, create or delete branches."""

from __future__ import annotations

import argparse

from cli import namedrefs
from cli.context import open_repo
from cli.output import emit_json, first_line, out, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("branch", help="list, create or delete branches",
                       description="No NAME: list branches (* marks HEAD's). NAME [REV]: create NAME "
                                   "at REV (default HEAD). -d NAME: delete it.")
    namedrefs.add_arguments(p, "branch")
    p.add_argument("-v", "--verbose", action="store_true", help="show each branch's commit and subject")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if namedrefs.create_or_delete(args, "branch", repo.branches, repo.create_branch, repo.delete_branch):
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
