"""got key export: print the repository's secret, the one thing a clone needs besides the URL."""

from __future__ import annotations

import argparse

from gotfs.repo import remotes as R

from cli.context import open_repo
from cli.output import out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("key", help="export the repository key",
                       description="`got key export` prints the repository's secret key as one line. "
                                   "Whoever holds it can read everything in the repository and its "
                                   "remotes: keep it as you would a password. Remotes never see it.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("export", help="print the key as one line")
    return p


def run(args) -> int:
    with open_repo() as repo:
        out(R.key_text(repo))
    return 0
