"""A runnable mount over a bare store directory — for tests and benchmarks, NOT the repository.

    python -m benchmarks.bare_mount --ro STOREDIR MOUNTPOINT
    python -m benchmarks.bare_mount --rw STOREDIR MOUNTPOINT [--flush-interval 5] [--debug]

STOREDIR holds a LocalStore (`STOREDIR/blobs`) and one file, `STOREDIR/ROOT`, with the hex
text of the current root; a missing ROOT is created as an empty filesystem. Writable mounts
replace ROOT atomically (write, fsync, rename, fsync the directory) after flushing the store,
so after any crash ROOT names a complete tree; fsync of a file goes to the intent journal
`STOREDIR/JOURNAL` (gotfs/journal.py, checksummed: a bare store has no secret), which the
next mount replays onto ROOT (`recover`). Prints "ready" on stdout once mounted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from gotfs import journal
from gotfs.fs import FS
from gotkv.blobs.local import LocalStore
from gotkv.errors import GotError
from gotkv.root import Root


def open_fs(storedir: str | os.PathLike) -> FS:
    """An FS over the store in `storedir` (created if missing)."""
    return FS(LocalStore(Path(storedir) / "blobs"))


def load_root(storedir: str | os.PathLike) -> Root | None:
    try:
        return Root.parse((Path(storedir) / "ROOT").read_text())
    except FileNotFoundError:
        return None


def save_root(storedir: str | os.PathLike, root: Root) -> None:
    """Record `root` durably and atomically (the store must already be flushed)."""
    d = Path(storedir)
    tmp = d / "ROOT.tmp"
    with open(tmp, "w") as f:
        f.write(str(root))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, d / "ROOT")
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(fs: FS, storedir: str | os.PathLike) -> Root | None:
    """Replay STOREDIR/JOURNAL onto ROOT if it applies there (a killed mount's fsyncs), record
    the new root, and remove the journal. Returns the new root, or None. Never while a mount of
    STOREDIR runs (it holds the journal: see gotfs.journal.owned)."""
    path = Path(storedir) / "JOURNAL"
    if not path.exists() or journal.owned(path):
        return None
    seg = journal.read(path, None)
    root = load_root(storedir)
    new = None
    if seg is not None and root is not None and seg.base == root and seg.records:
        new = journal.replay(fs, root, seg.records)
        fs.store.flush()
        save_root(storedir, new)
    path.unlink()
    return new


class FileRootSource:
    """RootSource keeping the root in STOREDIR/ROOT."""

    def __init__(self, fs: FS, storedir: str | os.PathLike):
        self.fs = fs
        self.storedir = Path(storedir)
        self.published = 0

    def current(self) -> Root:
        recover(self.fs, self.storedir)
        root = load_root(self.storedir)
        if root is None:
            root = self.fs.new()
            self.publish(root)
        return root

    def hold(self) -> None:
        """Nothing to hold: a bare store directory has no garbage collector."""

    def release(self) -> None:
        """Nothing was held."""

    def publish(self, root: Root) -> None:
        self.fs.store.flush()
        save_root(self.storedir, root)
        self.published += 1

    def journal(self) -> journal.Journal:
        return journal.Journal(self.storedir / "JOURNAL", None)


def main(argv: list[str] | None = None) -> int:
    from gotfs.mount import mount

    p = argparse.ArgumentParser(prog="python -m benchmarks.bare_mount", description=__doc__.split("\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--rw", action="store_true", help="writable: changes are published to STOREDIR/ROOT")
    mode.add_argument("--ro", action="store_true", help="read-only view of STOREDIR/ROOT")
    p.add_argument("storedir")
    p.add_argument("mountpoint")
    p.add_argument("--flush-interval", type=float, default=5.0)
    p.add_argument("--debug", action="store_true")
    p.add_argument("--allow-other", action="store_true", help="let other users in (modes permitting)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.makedirs(args.storedir, exist_ok=True)
    fs = open_fs(args.storedir)
    source = FileRootSource(fs, args.storedir)
    try:
        mount(fs, source, args.mountpoint, writable=args.rw, debug=args.debug,
              flush_interval=args.flush_interval, ready=lambda: print("ready", flush=True),
              allow_other=args.allow_other)
    except GotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        fs.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
