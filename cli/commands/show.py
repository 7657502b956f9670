"""got show: a commit and its changes, or what a path holds at a revision."""

from __future__ import annotations

import argparse

from cli.commands.cat import write_file
from cli.context import open_repo, split_rev_path
from cli.diffview import is_file_like, patch, tree_changes
from cli.output import commit_header, commit_json, emit_json, entry_json, out, quote_path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("show", help="show a commit, or a file or directory at a revision",
                       description="REV (default HEAD): the commit's header and its diff against its "
                                   "first parent. REV:PATH: the file's content, a symlink's target, or "
                                   "a directory's listing.")
    p.add_argument("spec", nargs="?", default="HEAD", metavar="REV[:PATH]")
    p.add_argument("--json", action="store_true",
                   help="machine-readable: the commit and its changed paths, or the path's metadata "
                        "(a directory's entries too; a file's bytes come from `got cat`)")
    return p


def run(args) -> int:
    rev, path = split_rev_path(args.spec)
    with open_repo() as repo:
        ref = repo.resolve(rev)
        commit = repo.read_commit(ref)
        if path is not None:
            info = repo.fs.stat(commit.root, path)
            listing = repo.fs.listdir(commit.root, path) if info.is_dir else []
            if args.json:
                doc = entry_json(path, info)
                if info.is_dir:
                    doc["entries"] = [entry_json(name, child) for name, child in listing]
                emit_json(doc)
            elif info.is_dir:
                out(f"tree {args.spec}\n")
                for name, child in listing:
                    out(quote_path(name) + ("/" if child.is_dir else ""))
            elif info.is_symlink:
                out(info.target.decode("utf-8", errors="replace"))
            else:
                write_file(repo.fs, commit.root, path, info.size)
            return 0
        before = repo.read_commit(commit.parents[0]).root if commit.parents else repo.fs.new()
        changes = tree_changes(repo.fs, before, commit.root)
        if args.json:
            emit_json({**commit_json(ref, commit),
                       "changes": [{"path": c.path, "kind": c.kind} for c in changes if is_file_like(c)]})
            return 0
        out(commit_header(ref, commit))
        if changes:
            out()
        for c in changes:
            for line in patch(repo.fs, before, commit.root, c):
                out(line)
    return 0
