"""got clone: a new repository from a remote, checked out."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gotfs.repo import keywrap, remotes as R
from gotkv.errors import InvalidInput

from cli.output import emit_json, out, transfer_progress, transfer_summary


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("clone", help="make a repository from a remote",
                       description="Clone the remote at URL into DIR (default: the URL's last part) "
                                   "and check out its main branch. The key (what `got key export` "
                                   "prints on a machine that has it) comes from --key-file or GOT_KEY. "
                                   "An interrupted clone resumes when run again.")
    p.add_argument("url", metavar="URL")
    p.add_argument("directory", nargs="?", metavar="DIR")
    p.add_argument("--key-file", metavar="FILE", help="file holding the key line")
    p.add_argument("--passphrase", action="store_true",
                   help="keep the key under a passphrase here (from GOT_PASSPHRASE, else asked)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def read_key(key_file: str | None) -> bytes:
    """The repo secret from --key-file or GOT_KEY (InvalidInput if neither is given)."""
    if key_file:
        try:
            text = Path(key_file).read_text()
        except OSError as e:
            raise InvalidInput(f"cannot read key file {key_file}: {e.strerror}") from None
    elif os.environ.get("GOT_KEY"):
        text = os.environ["GOT_KEY"]
    else:
        raise InvalidInput("no key: pass --key-file FILE or set GOT_KEY (from `got key export`)")
    return R.parse_key(text)


def run(args) -> int:
    secret = read_key(args.key_file)
    directory = args.directory or args.url.rstrip("/").split("#")[0].rsplit("/", 1)[-1] or "clone"
    passphrase = keywrap.ask("New passphrase: ", confirm=True) if args.passphrase else None
    with transfer_progress("Cloning") as update:
        repo, report, branch = R.clone(args.url, directory, secret, progress=update, passphrase=passphrase)
    repo.close()
    if args.json:
        emit_json({"url": args.url, "directory": str(repo.workdir), "branch": branch, **report.to_json()})
    else:
        out(f"Cloned into {repo.workdir}: {transfer_summary(report)}"
            + (f"; on branch {branch}" if branch else "; the remote has no branches"))
    return 0
