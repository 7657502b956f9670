"""got ls: list a directory (or one path) at a revision."""

from __future__ import annotations

import argparse
import os

from gotfs.info import Info

from cli.context import open_repo, split_rev_path
from cli.output import emit_json, entry_json, mode_text, out, quote_path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("ls", help="list files at a revision",
                       description="List the directory PATH (default: the top) at REV (default HEAD). "
                                   "Directories end in '/', symlinks show 'name -> target'.")
    p.add_argument("spec", nargs="?", default="HEAD", metavar="REV[:PATH]")
    p.add_argument("-l", "--long", action="store_true", help="show mode and size")
    p.add_argument("-R", "--recursive", action="store_true", help="list subdirectories too")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    rev, path = split_rev_path(args.spec)
    path = path or ""
    with open_repo() as repo:
        root = repo.root_of(rev)
        info = repo.fs.stat(root, path)
        if not info.is_dir:
            rows = [(path, info)]
        elif args.recursive:
            cut = len(path) + 1 if path else 0
            rows = [(p[cut:], i) for p, i in repo.fs.walk(root, path) if p != path]
        else:
            rows = repo.fs.listdir(root, path)
    if args.json:
        emit_json([entry_json(name, i) for name, i in rows])
        return 0
    for name, i in rows:
        out(_line(name, i, args.long))
    return 0


def _line(name: str, info: Info, long: bool) -> str:
    shown = quote_path(name) + ("/" if info.is_dir else "")
    if info.is_symlink:
        shown += " -> " + quote_path(os.fsdecode(info.target))
    if not long:
        return shown
    size = "-" if info.is_dir else str(info.size)
    return f"{mode_text(info)} {size:>12}  {shown}"

