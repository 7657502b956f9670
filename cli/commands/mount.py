"""got mount: serve a revision (read-only) or a branch (--rw) as a FUSE filesystem.

    got mount REV DIR                       a revision of this repository
    got mount --rw BRANCH DIR               writable
    got mount origin/main DIR               the remote's branch as it is now, blobs this
                                            repository lacks read from the remote on demand
    got mount URL#BRANCH DIR --key-file F   a remote's snapshot with no repository (lazy)

This module parses, calls and reports: which root a mount serves and where a writable mount
publishes (the branch's durable working root) is gotfs.repo.mounting's policy; lazy
snapshots of remotes come from gotfs.repo.lazy; the FUSE work is gotfs.mount's. Without -f
the mount runs in a detached child (forked before the repo or a remote is opened: SQLite
connections must not cross a fork), and the command returns once the child says the kernel
has completed the mount, or reports the child's error as its own. A remote snapshot is opened
in the child only (opening it twice would double the requests before the first byte).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys

from gotfs.repo import Repo, commit_id
from gotfs.repo import lazy
from gotfs.repo.mounting import RepoRootSource, check_mountpoint, commit_at_unmount, recorded, source_for
from gotfs.repo.mounttable import source_name
from gotkv.blobs.remote.url import is_url, normalize, split_branch
from gotkv.errors import GotError, InvalidInput

from cli.commands.clone import read_key
from cli.context import author, gc_in_background, open_repo
from cli.output import out

READY_TIMEOUT = 30.0


class MountUnavailable(GotError):
    exit_code = 1


def engine():
    """gotfs.mount.mount, or MountUnavailable while the mount package does not provide it."""
    try:
        from gotfs import mount as package
    except ModuleNotFoundError as e:
        if e.name in ("gotfs.mount",):
            raise MountUnavailable("mount is not available yet") from None
        raise MountUnavailable(f"mount is not available: {e}; run scripts/install.sh") from None
    fn = getattr(package, "mount", None)
    if fn is None:
        raise MountUnavailable("mount is not available yet")
    return fn


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("mount", help="mount a revision (or a branch read-write) with FUSE",
                       description="`got mount REV DIR`: a read-only view of REV. `got mount --rw "
                                   "BRANCH DIR`: writable; each flush records a new working root of "
                                   "BRANCH, which `got commit` commits. `got mount origin/main DIR`: "
                                   "the remote's branch as it is now, reading what this repository "
                                   "lacks from the remote on demand. `got mount URL#BRANCH DIR "
                                   "--key-file F`: a remote's snapshot with no repository, its blobs "
                                   "fetched as they are read into a bounded local cache. Runs in the "
                                   "background unless -f; `got umount DIR` ends it.")
    p.add_argument("rev", metavar="REV|BRANCH|URL#BRANCH")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--rw", action="store_true", help="writable mount of branch BRANCH")
    p.add_argument("-f", "--foreground", action="store_true", help="stay in the foreground")
    p.add_argument("--debug", action="store_true", help="log FUSE requests (with -f)")
    p.add_argument("--nonempty", action="store_true",
                   help="mount on a directory that is not empty (hiding its files while mounted)")
    p.add_argument("--allow-other", action="store_true",
                   help="let other users in, as the stored modes and owners permit (as root, or with "
                        "user_allow_other in /etc/fuse.conf)")
    p.add_argument("--remote", action="append", default=[], metavar="NAME|URL",
                   help="read blobs from this remote (repeat: tried in order, falling back when one "
                        "fails or lacks a blob); with a URL#BRANCH, after it")
    p.add_argument("--key-file", metavar="FILE", help="the key, for URL#BRANCH (else GOT_KEY)")
    p.add_argument("--cache-size", default="1G", metavar="SIZE",
                   help="bound of the local cache of blobs read from remotes (e.g. 512M, 2G; default 1G)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where that cache lives (default ~/.cache/got, or .got/cache in a repository)")
    return p


def parse_size(text: str) -> int:
    """'2G' -> 2 GiB; K, M, G, T (optionally with iB or B), or plain bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    try:
        n = float(t[:-1] if scale > 1 else t)
    except ValueError:
        n = -1
    if n < 0 or n != n:
        raise InvalidInput(f"--cache-size {text!r}: expected a size such as 512M or 2G")
    return int(n * scale)


def _remote_url(args) -> tuple[str, str | None] | None:
    """(URL, branch) when REV is a remote's URL (`s3://b/p#main`, `/mnt/usb/photos#main`)."""
    return split_branch(args.rev) if is_url(args.rev) else None


def _check_url_mode(args) -> tuple[list[str], str | None, bytes]:
    """The URLs to read from, the branch and the key, checked before anything is opened."""
    url, branch = _remote_url(args)
    if args.rw:
        raise InvalidInput("a remote's snapshot is mounted read-only: drop --rw (or clone it and mount a branch)")
    for extra in args.remote:
        if not is_url(extra):
            raise InvalidInput(f"--remote {extra}: not a URL (remote names need a repository)")
    urls = [normalize(u) for u in [url, *args.remote]]
    return urls, branch, read_key(args.key_file)


def _lazy_in_repo(repo: Repo, args) -> bool:
    """Whether REV (or --remote) makes this a mount that reads from remotes."""
    if args.remote or lazy.remote_of(repo, args.rev):
        if args.rw:
            raise InvalidInput("--rw mounts a local branch; a remote's branch is mounted read-only")
        return True
    return False


@contextlib.contextmanager
def _serving(args, mountpoint: str, workdir=None):
    """Open what the mount serves, for as long as it serves: yields (fs, source, label,
    warnings, the source name for the mount table); commits a writable mount's changes at the end."""
    cache_size = parse_size(args.cache_size)
    if _remote_url(args) is not None:
        urls, branch, secret = _check_url_mode(args)
        with lazy.open_remote_snapshot(urls, secret, branch, cache_dir=args.cache_dir,
                                       cache_size=cache_size) as snap:
            yield snap.fs, snap, snap.label, snap.skipped, "got"
        return
    with (Repo.open(workdir) if workdir is not None else open_repo()) as repo:
        if _lazy_in_repo(repo, args):
            with lazy.open_repo_snapshot(repo, args.rev, args.remote, cache_dir=args.cache_dir,
                                         cache_size=cache_size) as snap:
                yield snap.fs, snap, snap.label, snap.skipped, source_name(repo.workdir)
            return
        source, label = _source(repo, args)
        with _recorded(repo, args, mountpoint):  # dropped after the commit: `got umount` waits for it
            yield repo.fs, source, label, [], source_name(repo.workdir)
            _commit_at_unmount(repo, args, mountpoint)
        workdir = repo.workdir
    if args.rw:  # reclaim what only the mount's flushes reached, once its packs are released
        with Repo.open(workdir) as repo:
            gc_in_background(repo)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"got: warning: skipped a remote: {' '.join(w.split())}", file=sys.stderr)


def _source(repo: Repo, args) -> tuple[RepoRootSource, str]:
    return source_for(repo, args.rev, writable=args.rw)


def run(args) -> int:
    mount = engine()
    mountpoint = check_mountpoint(args.dir, nonempty=args.nonempty)
    parse_size(args.cache_size)
    if args.foreground:
        with _serving(args, mountpoint) as (fs, source, label, warnings, fsname):
            _warn(warnings)
            mount(fs, source, mountpoint, writable=args.rw, foreground=True, debug=args.debug, fsname=fsname,
                  allow_other=args.allow_other)
        return 0
    workdir, label = None, args.rev
    if _remote_url(args) is not None:
        _check_url_mode(args)  # usage and the key here; the remote is opened in the child
    else:
        with open_repo() as repo:  # check everything in the parent, so errors show here
            workdir = repo.workdir
            if not _lazy_in_repo(repo, args):
                _, label = _source(repo, args)
    status_r, status_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(status_r)
        os._exit(_daemon(mount, workdir, args, mountpoint, status_w))
    os.close(status_w)
    try:
        return _wait_ready(pid, mountpoint, label, args.dir, status_r)
    finally:
        os.close(status_r)


_READY = b"\0ready"  # then the label of what is mounted


@contextlib.contextmanager
def _recorded(repo: Repo, args, mountpoint: str):
    """While a read-write mount serves, the repo knows where, so `got commit` can flush it."""
    if not args.rw:
        yield
        return
    with recorded(repo, args.rev, mountpoint):
        yield


def _commit_at_unmount(repo: Repo, args, mountpoint: str) -> None:
    """A writable mount commits what is left when it is unmounted (DESIGN §5)."""
    if args.rw:
        ref = commit_at_unmount(repo, args.rev, mountpoint, author=author())
        if ref is not None:
            out(f"[{args.rev} {commit_id(ref)[:12]}] committed the mount's changes at unmount")



def _daemon(mount, workdir, args, mountpoint: str, status: int) -> int:
    """The background child: its own session, a fresh repo handle, quiet once mounted.

    It tells the parent through `status`: _READY once the mount serves, else why it failed.
    """
    os.setsid()

    def tell(message: bytes) -> None:
        try:
            os.write(status, message[:4000])
        except OSError:
            pass

    def ready(label: str) -> None:
        tell(_READY + label.encode(errors="replace"))
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)

    try:
        with _serving(args, mountpoint, workdir) as (fs, source, label, warnings, fsname):
            _warn(warnings)
            mount(fs, source, mountpoint, writable=args.rw, foreground=True,
                  ready=lambda: ready(label), fsname=fsname,
                  allow_other=args.allow_other)
        return 0
    except GotError as e:
        tell(str(e).encode(errors="replace"))
        return e.exit_code
    except BaseException as e:  # noqa: BLE001 - a daemon reports and exits
        tell(f"mount of {args.rev} at {args.dir} failed: {type(e).__name__}: {e}".encode(errors="replace"))
        return 1


def _wait_ready(pid: int, mountpoint: str, label: str, shown: str, status: int) -> int:
    """Wait for the child's word (not for a stat, which a stuck mount could block forever)."""
    ready, _, _ = select.select([status], [], [], READY_TIMEOUT)
    message = os.read(status, 4096) if ready else None
    if message is not None and message.startswith(_READY):
        out(f"mounted {message[len(_READY):].decode(errors='replace') or label} at {shown}")
        return 0
    if message is None:
        raise GotError(f"mount of {label} at {shown} did not come up within {READY_TIMEOUT:.0f}s "
                       f"(process {pid} still running; `got umount {shown}` or kill it)")
    _, code = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(code)
    error = GotError(message.decode(errors="replace").strip() or f"mount of {label} at {shown} failed (exit {code})")
    error.exit_code = code if code > 0 else 1
    raise error
