"""The arguments and the create/delete half that `got branch` and `got tag` share: both
name a commit, `NAME [REV]` creates, `-d NAME` deletes, and both report alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gotkv.blobs.ref import Ref

from cli.output import say_ref, short_id


def add_arguments(p: argparse.ArgumentParser, kind: str) -> None:
    """NAME, REV (default HEAD), -d NAME and --json, for a command about `kind`s."""
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("rev", nargs="?", default="HEAD", metavar="REV")
    p.add_argument("-d", "--delete", metavar="NAME", help=f"delete {kind} NAME")
    p.add_argument("--json", action="store_true", help="machine-readable list")


def create_or_delete(args, kind: str, existing: Callable[[], dict[str, Ref]],
                     create: Callable[[str, str], Ref], delete: Callable[[str], None]) -> bool:
    """Delete (-d NAME) or create (NAME [REV]) a `kind` and report it; False when the
    command asked for neither (it lists). The library call raises for a bad name, a
    missing or existing ref."""
    if args.delete:
        was = existing().get(args.delete)
        delete(args.delete)
        say_ref("deleted", args.delete, was, f"Deleted {kind} {args.delete} (was {short_id(was)})")
        return True
    if args.name:
        ref = create(args.name, args.rev)
        say_ref("created", args.name, ref, f"Created {kind} {args.name} at {short_id(ref)}")
        return True
    return False
