"""got log: commits reachable from a revision, newest first."""

from __future__ import annotations

import argparse
import itertools

from gotfs.repo.mounttable import mounted_branch_at
from gotkv.blobs.ref import Ref

from cli.context import open_repo, worktree_path
from cli.output import commit_header, commit_json, emit_json, first_line, out, paint, short_id


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("log", help="show commit history",
                       description="Commits reachable from REV (default HEAD; inside a read-write "
                                   "mount, its branch), newest first. "
                                   "After `--`, only commits that changed PATH (against their first parent).")
    p.add_argument("rev", nargs="?", metavar="REV")
    p.add_argument("--oneline", action="store_true", help="one line per commit: short id and subject")
    p.add_argument("-n", "--max-count", type=int, metavar="N", help="show at most N commits")
    p.add_argument("--graph", action="store_true", help="draw the commit graph beside the log")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    with open_repo() as repo:
        paths = [worktree_path(repo, p) for p in args.pathspec or ()]
        commits = repo.log(args.rev or mounted_branch_at(repo) or "HEAD")
        if paths:
            from cli.diffview import tree_changes

            empty = repo.fs.new()

            def touches(item) -> bool:
                _, c = item
                before = repo.read_commit(c.parents[0]).root if c.parents else empty
                return bool(tree_changes(repo.fs, before, c.root, paths))

            commits = filter(touches, commits)
        if args.max_count is not None:
            commits = itertools.islice(commits, max(args.max_count, 0))
        decorations = _decorations(repo)
        if args.json:
            emit_json([commit_json(ref, c) for ref, c in commits])
            return 0
        if args.graph:
            _draw(commits, decorations, args.oneline)
            return 0
        for i, (ref, c) in enumerate(commits):
            deco = decorations.get(ref.cid, "")
            if args.oneline:
                out(f"{paint(short_id(ref), 'yellow')}{deco} {first_line(c.message)}")
            else:
                if i:
                    out()
                out(commit_header(ref, c, deco))
    return 0


def _draw(commits, decorations: dict[bytes, str], oneline: bool) -> None:
    """The log with the commit graph on its left (cli.graph)."""
    from cli.graph import graph

    drawn = list(graph(commits))
    for i, (ref, c, row, moves, rest) in enumerate(drawn):
        deco = decorations.get(ref.cid, "")
        if oneline:
            out(f"{row}{paint(short_id(ref), 'yellow')}{deco} {first_line(c.message)}")
            for line in moves:
                out(line)
            continue
        first, *lines = commit_header(ref, c, deco).splitlines()
        out(f"{row}{first}")
        for line in moves:
            out(line)
        for line in lines + ([""] if i + 1 < len(drawn) else []):
            out(f"{rest}{line}".rstrip())


def _decorations(repo) -> dict[bytes, str]:
    """' (HEAD -> main, tag: v1)' for each commit a ref points at."""
    names: dict[bytes, list[str]] = {}
    head = repo.head()
    current = repo.head_branch()
    for name, ref in sorted(repo.branches().items()):
        names.setdefault(ref.cid, []).append(f"HEAD -> {name}" if name == current else name)
    for name, value in sorted(repo.refs.list("remotes/").items()):
        names.setdefault(Ref.parse(value).cid, []).append(name[len("remotes/"):])
    for name, ref in sorted(repo.tags().items()):
        names.setdefault(ref.cid, []).append(f"tag: {name}")
    if head is not None and current is None:
        names.setdefault(head.cid, []).insert(0, "HEAD")
    return {cid: f" ({', '.join(sorted(v, key=lambda s: not s.startswith('HEAD')))})" for cid, v in names.items()}
