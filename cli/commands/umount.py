"""got umount: end a mount made by `got mount`."""

from __future__ import annotations

import argparse
import shutil
import subprocess

from gotkv.errors import GotError

from cli.commands.mount import engine
from cli.output import out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("umount", help="unmount a got mount",
                       description="Unmount DIR (fusermount3 -u). A writable mount records its "
                                   "last working root first.")
    p.add_argument("dir", metavar="DIR")
    return p


def run(args) -> int:
    engine()  # no mounts without the mount package
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise GotError("fusermount3 not found; install fuse3")
    done = subprocess.run([tool, "-u", args.dir], capture_output=True, text=True)
    if done.returncode != 0:
        why = " ".join(done.stderr.split()) or f"{tool} exited {done.returncode}"
        raise GotError(f"cannot unmount {args.dir}: {why}")
    out(f"unmounted {args.dir}")
    return 0
