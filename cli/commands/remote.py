"""got remote: add, list or remove the repository's remotes."""

from __future__ import annotations

import argparse

from gotfs.repo import remotes as R

from cli.context import open_repo
from cli.output import emit_json, out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("remote", help="add, list or remove remotes",
                       description="Remotes are S3 buckets (s3://BUCKET/PREFIX; endpoint and "
                                   "credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
                                   "AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws) or directories "
                                   "(/path or file:///path). They hold only ciphertext.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    add = verbs.add_parser("add", help="add remote NAME at URL")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL")
    rm = verbs.add_parser("remove", aliases=["rm"], help="forget remote NAME (the remote is untouched)")
    rm.add_argument("name", metavar="NAME")
    ls = verbs.add_parser("list", help="list remotes")
    ls.add_argument("--json", action="store_true", help="machine-readable list")
    p.add_argument("-v", "--verbose", action="store_true", help="show URLs")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if args.verb == "add":
            url = R.add_remote(repo, args.name, args.url)
            out(f"Added remote {args.name} at {url}")
        elif args.verb in ("remove", "rm"):
            R.remove_remote(repo, args.name)
            out(f"Removed remote {args.name}")
        else:
            known = R.remotes(repo)
            if getattr(args, "json", False):
                emit_json([{"name": n, "url": u} for n, u in sorted(known.items())])
            else:
                for name, url in sorted(known.items()):
                    out(f"{name}\t{url}" if args.verbose or args.verb == "list" else name)
    return 0
