"""Which got mounts the kernel holds, and which repository each serves.

A mount of a repository is made with the FUSE source name `got:<workdir>` (the repository's
working directory, percent-encoded so that no comma or whitespace reaches the mount options),
so the kernel's mount table (/proc/self/mountinfo) answers "which repository does this path
inside a mount belong to?" with no state of got's own: a mount that ended is simply gone from
the table, and one whose process was killed stays listed until `got umount`, as it should.
Mounts of remote snapshots with no repository are named plain `got`.

Every repository command asks this table where it runs (Repo.open), and nearly always it runs
inside no got mount: that answer is found in the table's text, as strings, and pathlib and
urllib.parse (~4 ms of a start together) are imported only to describe a mount that holds
the path, so `got log` and `got branch` import neither.
"""

from __future__ import annotations

import os
import re

from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path

    from gotfs.repo.repo import Repo

MOUNTINFO = "/proc/self/mountinfo"
FSTYPE = "fuse.got"
PREFIX = "got:"
_SAFE = "/:@+=-._~"  # kept as is in a source name; everything else is percent-encoded
_OCTAL = r"\\([0-7]{3})"


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
    from pathlib import Path

    return Path(os.path.realpath(path))


def source_name(workdir: str | os.PathLike) -> str:
    """The FUSE source name for a mount of the repository at `workdir`."""
    from pathlib import Path
    from urllib.parse import quote

    return PREFIX + quote(os.fspath(Path(workdir).absolute()), safe=_SAFE)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    return re.sub(_OCTAL, lambda m: chr(int(m.group(1), 8)), field)


def _entries(table: str | None) -> list[tuple[str, str, bool]]:
    """(mount point, source name, read-only) of each got mount in the table, as plain strings,
    in mount order. Costs one read of the table (a few KiB) when `table` is None; an
    unreadable table (not Linux) has no entries."""
    if table is None:
        try:
            with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
                table = f.read()
        except OSError:
            return []
    if FSTYPE not in table:
        return []
    out = []
    for line in table.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 6 or len(rest) < 2 or rest[0] != FSTYPE:
            continue
        out.append((_unescape(fields[4]), _unescape(rest[1]), "ro" in fields[5].split(",")))
    return out


def _mount(mountpoint: str, source: str, readonly: bool) -> GotMount:
    from pathlib import Path
    from urllib.parse import unquote

    workdir = canonical(unquote(source[len(PREFIX):])) if source.startswith(PREFIX) else None
    return GotMount(Path(mountpoint), workdir, readonly)


def got_mounts(table: str | None = None) -> list[GotMount]:
    """Every got mount this process can see, in mount order. Costs one read of the table
    (a few KiB); an unreadable table (not Linux) is an empty list."""
    return [_mount(*entry) for entry in _entries(table)]


def mount_points(table: str | None = None) -> list[str]:
    """The mount point of every got mount this process can see, as normalized absolute
    strings, in mount order: got_mounts' answer without building a GotMount (no pathlib)."""
    return [entry[0] for entry in _entries(table)]


def mount_at(path: str | os.PathLike, table: str | None = None) -> GotMount | None:
    """The got mount whose mount point is exactly `path`, or None (not mounted, or not got's);
    `table` is the kernel's unless given."""
    target = os.path.realpath(path)
    found = [e for e in _entries(table) if e[0] == target]
    return _mount(*found[-1]) if found else None  # the last one listed is the one on top


def enclosing_mount(path: str | os.PathLike, table: str | None = None) -> GotMount | None:
    """The got mount that `path` lies in (the deepest; of equals, the one on top), or None;
    `table` is the kernel's unless given.

    Compared as strings (the table's mount points and realpath's are both normalized), so
    that a path inside no got mount, the usual case, is answered without pathlib."""
    target = os.path.realpath(path)
    best = None
    for entry in _entries(table):
        point = entry[0]
        if point == target or target.startswith(point if point == "/" else point + "/"):
            if best is None or _depth(point) >= _depth(best[0]):
                best = entry
    return None if best is None else _mount(*best)


def _depth(point: str) -> int:
    """How many names a normalized absolute path has ("/" none, "/a/b" two)."""
    return 0 if point == "/" else point.count("/")


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
