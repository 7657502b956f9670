"""got tag: list, create or delete tags."""

from __future__ import annotations

import argparse

from cli.context import open_repo
from cli.output import emit_json, out, say_ref, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tag", help="list, create or delete tags",
                       description="No NAME: list tags. NAME [REV]: tag REV (default HEAD). -d NAME: delete.")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("rev", nargs="?", default="HEAD", metavar="REV")
    p.add_argument("-d", "--delete", metavar="NAME", help="delete tag NAME")
    p.add_argument("--json", action="store_true", help="machine-readable list")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if args.delete:
            was = repo.tags().get(args.delete)
            repo.delete_tag(args.delete)
            say_ref("deleted", args.delete, was, f"Deleted tag {args.delete} (was {short_id(was)})")
            return 0
        if args.name:
            ref = repo.create_tag(args.name, args.rev)
            say_ref("created", args.name, ref, f"Created tag {args.name} at {short_id(ref)}")
            return 0
        tags = repo.tags()
        if args.json:
            emit_json([{"name": n, "commit": r.cid.hex()} for n, r in sorted(tags.items())])
            return 0
        for name in sorted(tags):
            out(name)
    return 0
