"""got cat: a file's bytes at a revision, raw on stdout."""

from __future__ import annotations

import argparse
import sys

from gotfs.repo.errors import naming_file

from cli.context import open_repo, require_rev_path
from cli.output import emit_json, entry_json

_BLOCK = 1 << 20


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("cat", help="print a file's raw bytes at a revision",
                       description="Write the bytes of PATH at REV to stdout, unchanged (binary-safe).")
    p.add_argument("spec", metavar="REV:PATH")
    p.add_argument("--json", action="store_true",
                   help="print the path's metadata (type, mode, size, a symlink's target), not its bytes")
    return p


def run(args) -> int:
    rev, path = require_rev_path(args.spec)
    with open_repo() as repo:
        ref = repo.resolve(rev)
        root = repo.read_commit(ref).root
        info = repo.fs.stat(root, path)
        if args.json:
            emit_json(entry_json(path, info))
        elif info.is_symlink:
            sys.stdout.buffer.write(info.target)
        else:
            with naming_file(path, f"commit {ref.short()}"):
                write_file(repo.fs, root, path, info.size)
    return 0


def write_file(fs, root, path: str, size: int) -> None:
    """Stream a stored file to stdout block by block (never whole in memory)."""
    sys.stdout.flush()
    stream = sys.stdout.buffer
    if size == 0:
        fs.read(root, path, 0, 0)  # still raises for a directory
    for off in range(0, size, _BLOCK):
        stream.write(fs.read(root, path, off, _BLOCK))
    stream.flush()
