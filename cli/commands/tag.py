"""got tag: list, create or delete tags."""

from __future__ import annotations

import argparse

from cli import namedrefs
from cli.context import open_repo
from cli.output import emit_json, out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tag", help="list, create or delete tags",
                       description="No NAME: list tags. NAME [REV]: tag REV (default HEAD). -d NAME: delete.")
    namedrefs.add_arguments(p, "tag")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if namedrefs.create_or_delete(args, "tag", repo.tags, repo.create_tag, repo.delete_tag):
            return 0
        tags = repo.tags()
        if args.json:
            emit_json([{"name": n, "commit": r.cid.hex()} for n, r in sorted(tags.items())])
            return 0
        for name in sorted(tags):
            out(name)
    return 0
