"""got init: create an empty repository."""

from __future__ import annotations

import argparse

from gotfs.repo import Repo, keywrap

from cli.output import out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("init", help="create an empty repository",
                       description="Create .got/ in DIR (default: the current directory).")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.add_argument("--no-encrypt", action="store_true", help="store blobs unencrypted (still compressed)")
    p.add_argument("-b", "--initial-branch", default="main", metavar="NAME", help="name of the first branch")
    p.add_argument("--passphrase", action="store_true",
                   help=f"keep the key under a passphrase (from {keywrap.ENV}, else asked on the terminal)")
    return p


def run(args) -> int:
    passphrase = keywrap.ask("New passphrase: ", confirm=True) if args.passphrase else None
    repo = Repo.init(args.dir, encrypt=not args.no_encrypt, branch=args.initial_branch, passphrase=passphrase)
    try:
        out(f"Initialized empty got repository in {repo.dot}")
    finally:
        repo.close()
    return 0
