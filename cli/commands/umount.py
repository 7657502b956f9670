"""got umount: end a mount made by `got mount`, saying what a read-write mount committed."""

from __future__ import annotations

import argparse

from gotfs.repo import commit_id
from gotfs.repo.mounting import unmount

from cli.commands.mount import engine
from cli.context import author
from cli.output import out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("umount", help="unmount a got mount",
                       description="Unmount DIR (fusermount3 -u). A read-write mount commits what it "
                                   "holds beyond its branch's head; this says which commit that is.")
    p.add_argument("dir", metavar="DIR")
    return p


def run(args) -> int:
    engine()  # no mounts without the mount package
    done = unmount(args.dir, author=author())
    if done.pending:
        out(f"unmounted {args.dir}; the mount is still committing its changes to {done.branch} (see `got log`)")
    elif done.committed is not None:
        out(f"unmounted {args.dir}; committed its changes as [{done.branch} {commit_id(done.committed)[:12]}]")
    elif done.branch is not None:
        out(f"unmounted {args.dir}; nothing to commit ({done.branch} already holds its changes)")
    else:
        out(f"unmounted {args.dir}")
    return 0
