"""got key export: print the repository's secret, the one thing a clone needs besides the URL.
got key passphrase: keep that secret under a passphrase, change it, or (--remove) drop it."""

from __future__ import annotations

import argparse

from gotfs.repo import keywrap, remotes as R

from cli.context import open_repo
from cli.output import out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("key", help="export the repository key",
                       description="`got key export` prints the repository's secret key as one line. "
                                   "Whoever holds it can read everything in the repository and its "
                                   "remotes: keep it as you would a password. Remotes never see it. "
                                   "`got key passphrase` keeps it under a passphrase in .got/config.json "
                                   f"(asked when the repository is opened, or taken from {keywrap.ENV}).")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("export", help="print the key as one line")
    pp = verbs.add_parser("passphrase", help="set, change or remove the passphrase that protects the key",
                          description="Set or change the passphrase (the new one from GOT_NEW_PASSPHRASE, "
                                      "else asked twice on the terminal; the current one as when opening), "
                                      "or --remove it. The key itself does not change.")
    pp.add_argument("--remove", action="store_true", help="keep the key in plain text again")
    return p


def run(args) -> int:
    with open_repo() as repo:
        if args.verb == "export":
            out(R.key_text(repo))
        elif args.remove:
            repo.set_passphrase(None)
            out("The key is no longer protected by a passphrase")
        else:
            repo.set_passphrase(keywrap.ask("New passphrase: ", confirm=True, env="GOT_NEW_PASSPHRASE"))
            out("The key is protected by the new passphrase")
    return 0
