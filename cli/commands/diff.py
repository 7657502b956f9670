"""got diff: changes between commits, or between a commit and the working directory."""

from __future__ import annotations

import argparse

from gotfs.repo.mounting import working_copy
from gotkv.errors import InvalidInput

from cli.context import open_repo, worktree_path
from cli.diffview import counts_of, is_file_like, patch_of, stat_table, tree_changes, tree_sides, working_changes
from cli.output import emit_json, is_quiet, out, quote_path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("diff", help="show changes between commits or against the working directory",
                       description="No REV: HEAD against the working copy (what `got commit` would "
                                   "record; while the branch is mounted read-write, the mount). One REV: "
                                   "REV against the working copy. Two: A against B. After `--`, only PATHs.")
    p.add_argument("revs", nargs="*", metavar="REV", help="zero, one or two revisions")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--stat", action="store_true", help="per-file insertions/deletions and a summary")
    form.add_argument("--name-only", action="store_true", help="only the changed paths")
    p.add_argument("--json", action="store_true",
                   help="machine-readable: each changed path with its kind and line counts")
    p.add_argument("--exit-code", action="store_true", help="exit 1 if there are differences, 0 if none")
    return p


def run(args) -> int:
    """0, or with --exit-code or -q 1 when anything differs."""
    if args.json and args.name_only:
        raise InvalidInput("--json and --name-only do not go together")
    if len(args.revs) > 2:
        raise InvalidInput(f"got diff takes at most two revisions, got {len(args.revs)}; put paths after --")
    with open_repo() as repo, repo.writing():  # a working-directory snapshot is unpublished: keep gc off it
        paths = [worktree_path(repo, p) for p in args.pathspec or ()]
        wc = working_copy(repo) if len(args.revs) < 2 else None
        if wc is not None and wc.mounted is None and not args.revs:
            # HEAD's tree against the working directory: from the stat cache, storing nothing
            sided = working_changes(repo, paths)
        else:
            if wc is None:
                a, b = repo.root_of(args.revs[0]), repo.root_of(args.revs[1])
            elif wc.mounted is not None:
                a = repo.root_of(args.revs[0] if args.revs else wc.branch)
                b = wc.mounted.root
            else:
                a, b = repo.root_of(args.revs[0]), repo.snapshot()
            sided = [(c, *tree_sides(repo.fs, a, b, c)) for c in tree_changes(repo.fs, a, b, paths)]
        changes = [c for c, _, _ in sided]
        status = 1 if (args.exit_code or is_quiet()) and any(map(is_file_like, changes)) else 0
        if is_quiet():
            return status
        if args.name_only:
            for c in changes:
                if is_file_like(c):
                    out(quote_path(c.path))
            return status
        if args.stat or args.json:
            files = [(c, sides) for c, *sides in sided if is_file_like(c)]
            rows = [(c.path, *counts_of(*sides)) for c, sides in files]
            if args.json:
                emit_json({"files": [{"path": p, "kind": c.kind, "insertions": plus, "deletions": minus,
                                      "binary": binary} for (c, _), (p, plus, minus, binary) in zip(files, rows)],
                           "summary": {"files": len(rows), "insertions": sum(r[1] for r in rows),
                                       "deletions": sum(r[2] for r in rows)}})
            else:
                for line in stat_table(rows):
                    out(line)
            return status
        for c, old_side, new_side in sided:
            for line in patch_of(c, old_side, new_side):
                out(line)
    return status
