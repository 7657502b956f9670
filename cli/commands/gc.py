"""got gc: delete blobs no branch, tag, HEAD or working root can reach."""

from __future__ import annotations

import argparse

from gotfs.repo import maintenance
from gotfs.repo.errors import RepoLocked

from cli.context import open_repo
from cli.output import emit_json, human_size, out, progress


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gc", help="delete unreachable blobs and compact packs",
                       description="Mark every blob reachable from branches, tags, a detached HEAD, "
                                   "working roots and the stat cache; delete the rest; compact packs. "
                                   "Waits for running writers.")
    p.add_argument("-n", "--dry-run", action="store_true", help="count what would go, delete nothing")
    p.add_argument("--grace", metavar="DURATION", default="14d", type=_duration,
                   help="keep commits a ref held within DURATION (e.g. 14d, 12h, 30m, 0; default 14d), "
                        "as the ref log records: deleted branches and lost refs stay recoverable that long")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--auto", action="store_true",
                   help="only if the store has doubled since the last gc (or compact what the last one "
                        "could not), and only if no writer holds the repository; quiet (commands start it in the background; GOT_AUTO_GC=0 stops that)")
    return p


def _duration(text: str) -> float:
    """'14d', '12h', '30m', '45s' or '0' in seconds (argparse reports a bad one)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        if text[-1:] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text)
    except ValueError:
        value = -1
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 14d, 12h, 30m, 0)")
    return value


def run(args) -> int:
    if args.auto:
        with open_repo() as repo:
            try:
                maintenance.auto_gc(repo)
            except RepoLocked:
                pass  # a writer is busy: the next command tries again
        return 0
    with open_repo() as repo:
        with progress("Collecting garbage") as update:
            update()
            result = maintenance.gc(repo, dry_run=args.dry_run, grace=args.grace)
    if args.json:
        emit_json({"dry_run": args.dry_run, **result})
    elif args.dry_run:
        out(f"would delete {result['unreachable']} of {result['blobs']} blobs "
            f"({result['live']} reachable)")
    else:
        out(f"deleted {result['deleted']} unreachable blobs, kept {result['live']}; "
            f"freed {human_size(result['bytes_freed'])} of pack space")
    return 0
