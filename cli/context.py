"""What every command needs from its surroundings: the repo, the author, paths, revisions."""

from __future__ import annotations

import os
import sys

from gotfs.repo import Repo
from gotkv.errors import InvalidInput


def open_repo() -> Repo:
    """The repository that holds the current directory (RepoNotFound otherwise)."""
    return Repo.open(".")


def author() -> str:
    """GOT_AUTHOR ("Name <email>"), else git's user.name/user.email, else USER@hostname."""
    env = os.environ.get("GOT_AUTHOR", "").strip()
    if env:
        return env
    name, email = _git_identity()
    if name and email:
        return f"{name} <{email}>"
    if name or email:
        return name or f"<{email}>"
    import socket

    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "got"
    return f"{user}@{socket.gethostname()}"


def _git_identity() -> tuple[str, str]:
    """git's user.name and user.email, "" for what is not set (or without git). Cost: one
    `git config` process (~5 ms), asked for both keys at once; the last value of a key
    wins, as with `git config --get`."""
    import subprocess

    try:
        out = subprocess.run(["git", "config", "--get-regexp", r"^user\.(name|email)$"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "", ""
    found = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        found[key] = value.strip()
    return found.get("user.name", ""), found.get("user.email", "")


def worktree_path(repo: Repo, path: str) -> str:
    """A path given on the command line (relative to the current directory) as a repo path."""
    from pathlib import Path  # here: `got log` without paths imports neither pathlib nor gotfs.errors

    from gotfs.errors import InvalidPath
    from gotfs.repo.mounttable import canonical, enclosing_mount

    full = Path(os.path.abspath(path))
    inside = enclosing_mount(full)  # inside a mount of this repository, paths start at its top
    if inside is not None and inside.workdir == canonical(repo.workdir):
        full, top = canonical(full), inside.mountpoint
    else:
        top = repo.workdir
    try:
        rel = full.relative_to(top)
    except ValueError:
        raise InvalidPath(path, f"outside the repository at {repo.workdir}") from None
    text = rel.as_posix()
    return "" if text == "." else text


def split_rev_path(spec: str, default_rev: str = "HEAD") -> tuple[str, str | None]:
    """'REV:PATH' -> (REV, PATH); 'REV' -> (REV, None); ':PATH' -> (default_rev, PATH).

    A path after the colon is relative to the repository's top, as in git's `REV:path`.
    """
    if ":" not in spec:
        return spec, None
    rev, path = spec.split(":", 1)
    return rev or default_rev, path.strip("/")


def require_rev_path(spec: str) -> tuple[str, str]:
    rev, path = split_rev_path(spec)
    if path is None:
        raise InvalidInput(f"expected REV:PATH, got {spec!r} (e.g. HEAD:README.md)")
    return rev, path


def gc_in_background(repo: Repo) -> bool:
    """Start `got gc --auto` detached when the store has doubled since the last gc
    (gotfs.repo.maintenance.gc_due): blobs only intermediate flushes reached are reclaimed
    without the user running gc. GOT_AUTO_GC=0 turns it off. True if one was started."""
    from gotfs.repo import maintenance

    if os.environ.get("GOT_AUTO_GC", "1") == "0" or not maintenance.gc_due(repo):
        return False
    import subprocess

    subprocess.Popen([sys.executable, "-m", "cli.main", "gc", "--auto"], cwd=repo.workdir,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return True
