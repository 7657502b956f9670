"""Which got mounts the kernel holds, and which repository each serves.

A mount of a repository is made with the FUSE source name `got:<workdir>` (the repository's
working directory, percent-encoded so that no comma or whitespace reaches the mount options),
so the kernel's mount table (/proc/self/mountinfo) answers "which repository does this path
inside a mount belong to?" with no state of got's own: a mount that ended is simply gone from
the table, and one whose process was killed stays listed until `got umount`, as it should.
Mounts of remote snapshots with no repository are named plain `got`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.repo.repo import Repo

MOUNTINFO = "/proc/self/mountinfo"
FSTYPE = "fuse.got"
PREFIX = "got:"
_SAFE = "/:@+=-._~"  # kept as is in a source name; everything else is percent-encoded
_OCTAL = re.compile(r"\\([0-7]{3})")


class GotMount(Value):
    """One got mount in the kernel's table: where, and the repository it serves (if any)."""

    __slots__ = ("mountpoint", "workdir", "readonly")
    mountpoint: Path
    workdir: Path | None
    readonly: bool

    def __init__(self, mountpoint: Path, workdir: Path | None, readonly: bool) -> None:
        object.__setattr__(self, "mountpoint", mountpoint)
        object.__setattr__(self, "workdir", workdir)
        object.__setattr__(self, "readonly", readonly)


def canonical(path: str | os.PathLike) -> Path:
    """`path` as the kernel names it (absolute, symlinks resolved where they can be: a dead
    mount on the way is kept as written), so that two spellings of one place compare equal."""
    return Path(os.path.realpath(path))


def source_name(workdir: str | os.PathLike) -> str:
    """The FUSE source name for a mount of the repository at `workdir`."""
    return PREFIX + quote(os.fspath(Path(workdir).absolute()), safe=_SAFE)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def got_mounts(table: str | None = None) -> list[GotMount]:
    """Every got mount this process can see, in mount order. Costs one read of the table
    (a few KiB); an unreadable table (not Linux) is an empty list."""
    if table is None:
        try:
            with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
                table = f.read()
        except OSError:
            return []
    out = []
    for line in table.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 6 or len(rest) < 2 or rest[0] != FSTYPE:
            continue
        source = _unescape(rest[1])
        workdir = canonical(unquote(source[len(PREFIX):])) if source.startswith(PREFIX) else None
        out.append(GotMount(Path(_unescape(fields[4])), workdir, "ro" in fields[5].split(",")))
    return out


def mount_at(path: str | os.PathLike) -> GotMount | None:
    """The got mount whose mount point is exactly `path`, or None (not mounted, or not got's)."""
    target = canonical(path)
    found = [m for m in got_mounts() if m.mountpoint == target]
    return found[-1] if found else None  # the last one listed is the one on top


def enclosing_mount(path: str | os.PathLike) -> GotMount | None:
    """The got mount that `path` lies in (the deepest), or None."""
    target = canonical(path)
    best = None
    for m in got_mounts():
        if (target == m.mountpoint or m.mountpoint in target.parents) and (
                best is None or len(m.mountpoint.parts) >= len(best.mountpoint.parts)):
            best = m
    return best


def mounted_branch_at(repo: Repo, start: str | os.PathLike = ".") -> str | None:
    """The branch of the read-write mount of this repository that `start` lies in, or None
    (`got log` inside a mount starts there). Cost: one read of the mount table."""
    inside = enclosing_mount(start)
    if inside is None or inside.workdir != canonical(repo.workdir) or inside.readonly:
        return None
    for name, where in repo.refs.list("mount/").items():
        if canonical(where) == inside.mountpoint:
            return name[len("mount/"):]
    return None
