"""got merge: join another branch's history into the current one (gotfs.repo.merging)."""

from __future__ import annotations

import argparse
from collections import Counter

from gotfs.diff import ADDED, MODIFIED, REMOVED
from gotfs.merge import OURS, THEIRS, Conflict
from gotfs.repo import merging
from gotkv.errors import GotError, InvalidInput

from cli.context import author, open_repo
from cli.output import emit_json, first_line, out, progress, quote_path, short_id


class MergeStopped(GotError):
    """The merge stopped with conflicts (exit 1); they are listed on stdout above this line."""

    exit_code = 1

    def __init__(self, count: int):
        super().__init__(f"automatic merge failed with {count} conflict{'s' if count != 1 else ''}: "
                         f"fix them in the working directory, then `got merge --continue` "
                         f"(or `got merge --abort`)")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("merge", help="merge another branch into the current one",
                       description="Merge REV (a branch, remote branch like origin/main, tag or commit) into "
                                   "HEAD and the working directory: a fast-forward when HEAD is behind it, "
                                   "else a merge commit with two parents. Conflicts are written into the "
                                   "working directory (text with <<<<<<< markers) and listed by `got status`; "
                                   "resolve them, then `got merge --continue`, or `got merge --abort` to go "
                                   "back. Uncommitted changes the merge would overwrite stop it.")
    p.add_argument("rev", nargs="?", metavar="REV")
    p.add_argument("-m", "--message", metavar="MSG", help="the merge commit's message")
    side = p.add_mutually_exclusive_group()
    side.add_argument("--ours", action="store_true", help="at every conflict, take the current branch's version")
    side.add_argument("--theirs", action="store_true", help="at every conflict, take REV's version")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--continue", dest="cont", action="store_true",
                      help="commit the merge once its conflicts are resolved")
    what.add_argument("--abort", action="store_true", help="give up the merge: back to the pre-merge state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def run(args) -> int:
    if (args.cont or args.abort) and (args.rev or args.ours or args.theirs):
        raise InvalidInput("--continue and --abort take no REV, --ours or --theirs")
    if not (args.cont or args.abort or args.rev):
        raise InvalidInput("merge what? `got merge BRANCH`, `got merge --continue` or `got merge --abort`")
    with open_repo() as repo:
        if args.abort:
            plan = merging.abort_merge(repo)
            return _say(args, {"outcome": "aborted", "paths": len(plan)}, f"Merge aborted ({_paths(len(plan))} restored)")
        if args.cont:
            ref = merging.continue_merge(repo, message=args.message, author=author())
            c = repo.read_commit(ref)
            return _say(args, {"outcome": "merged", "commit": ref.cid.hex()},
                        f"[{repo.head_branch() or 'detached HEAD'} {short_id(ref)}] {first_line(c.message)}")
        favor = OURS if args.ours else THEIRS if args.theirs else None
        with progress("Merging", unit="paths") as update:
            update()
            outcome = merging.merge(repo, args.rev, favor=favor, message=args.message, author=author())
        return _report(args, repo, outcome)


def _report(args, repo, outcome: merging.Outcome) -> int:
    counts = Counter(c.kind for c in outcome.changed)
    doc = {"outcome": outcome.kind, "commit": outcome.commit.cid.hex() if outcome.commit else None,
           "changed": {"added": counts[ADDED], "modified": counts[MODIFIED], "removed": counts[REMOVED]},
           "conflicts": [{"path": c.path, "kind": c.kind, "note": c.note} for c in outcome.conflicts]}
    if args.json:
        emit_json(doc)
    elif outcome.kind == "up to date":
        out("Already up to date.")
    elif outcome.kind == "fast-forward":
        out(f"Fast-forward to {short_id(outcome.commit)} ({_paths(len(outcome.changed))} updated)")
    elif outcome.kind == "merged":
        if outcome.conflicts:
            side = "ours" if args.ours else "theirs"
            for c in outcome.conflicts:
                out(f"{describe(c)}: took {side}")
        out(f"Merge made: [{repo.head_branch() or 'detached HEAD'} {short_id(outcome.commit)}] "
            f"{first_line(repo.read_commit(outcome.commit).message)}")
        out(f" {_paths(len(outcome.changed))} changed: {counts[ADDED]} added, {counts[MODIFIED]} modified, "
            f"{counts[REMOVED]} removed")
    else:
        for c in outcome.conflicts:
            out(describe(c))
    if outcome.kind == "conflict":
        raise MergeStopped(len(outcome.conflicts))
    return 0


def describe(conflict: Conflict | dict) -> str:
    """'CONFLICT (content): Merge conflict in a.txt' — one line per conflict, as git prints."""
    c = conflict if isinstance(conflict, dict) else {"path": conflict.path, "kind": conflict.kind,
                                                     "note": conflict.note}
    note = f" ({c['note']})" if c.get("note") else ""
    return f"CONFLICT ({c['kind']}): {quote_path(c['path'])}{note}"


def _say(args, doc: dict, text: str) -> int:
    if args.json:
        emit_json(doc)
    else:
        out(text)
    return 0


def _paths(n: int) -> str:
    return f"{n} path{'s' if n != 1 else ''}"
