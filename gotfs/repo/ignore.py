""".gotignore: which working-directory paths a commit leaves out.

One pattern per line, `#` comments, gitignore's common forms: `name` matches that name at
any depth, `/name` only at the top, `dir/` only directories, `*`, `?` and `[...]` globs within
a component, `**` across components, and `!pattern` re-includes. `.got/` (the repository) is
always ignored, and so is `.git` at any depth: a git repository (or submodule link) sharing
the directory is git's own state, as `.got/` is got's. So is what a got mount below the working
directory shows (`got mount main ./view`): its files are a commit's or a branch's, not new
ones; the mount point itself stays the directory it is, mounted or not.
"""

from __future__ import annotations

import os
import re

from gotfs.repo.mounttable import mount_points


class Ignore:
    def __init__(self, lines: list[str], mounts: frozenset[str] = frozenset()):
        self._mounts = mounts  # relative paths of got mounts below the working directory
        self._rules: list[tuple[re.Pattern, bool, bool]] = []  # (regex, dir_only, negate)
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.strip("/") if dir_only else line
            anchored = line.startswith("/") or "/" in line
            line = line.lstrip("/")
            self._rules.append((_compile(line, anchored), dir_only, negate))

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> Ignore:
        """The rules of `workdir`'s .gotignore, and the got mounts below it. Costs a read of
        that file and of the kernel's mount table. Paths are compared as the strings realpath
        and the mount table give (both normalized), without pathlib."""
        top = os.path.realpath(workdir)
        below = top.rstrip("/") + "/"
        mounts = frozenset(point[len(below):] for point in mount_points() if point.startswith(below) and point != below)
        try:
            with open(os.path.join(top, ".gotignore"), "rb") as f:
                return cls(os.fsdecode(f.read()).splitlines(), mounts)  # decoded as the names it matches
        except FileNotFoundError:
            return cls([], mounts)

    def ignored_name(self, prefix: str, name: bytes, is_dir: bool) -> bool:
        """`ignored` for the entry `name` of the directory `prefix` ('' at the top, else
        'a/b/'), met by a walk that never enters an ignored directory. With no patterns and no
        got mount below, only the fixed rule of `ignored` applies (`.got` at the top, `.git`
        anywhere), checked on the raw name: a scan of a big tree asks once per path."""
        if not self._rules and not self._mounts:
            return name == b".git" or (name == b".got" and not prefix)
        return self.ignored(prefix + os.fsdecode(name), is_dir)

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """True if `relpath` ('a/b/c', no leading slash) is excluded."""
        if relpath == ".got" or relpath.startswith(".got/"):
            return True
        if relpath == ".git" or relpath.endswith("/.git") or relpath.startswith(".git/") or "/.git/" in relpath:
            return True
        if self._mounts and any(relpath.startswith(m + "/") for m in self._mounts):
            return True
        result = False
        for regex, dir_only, negate in self._rules:
            if dir_only and not is_dir:
                continue
            if regex.match(relpath):
                result = not negate
        return result


def _glob(piece: str) -> str:
    """One `**`-free stretch of a pattern as a regex where `*` stays within a component."""
    out = []
    i = 0
    while i < len(piece):
        c = piece[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = piece.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = piece[i + 1:j]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _compile(pattern: str, anchored: bool) -> re.Pattern:
    """gitignore's `**`: `a/**/b` spans zero or more directories, `**/x` any depth, `a/**` all below."""
    body = pattern.replace("/**/", "\0MID\0")
    if body.startswith("**/"):
        body = "\0LEAD\0" + body[3:]
    if body.endswith("/**"):
        body = body[:-3] + "\0TAIL\0"
    regex = "".join(
        {"MID": "/(?:.*/)?", "LEAD": "(?:.*/)?", "TAIL": "/.*"}.get(part, None) or _glob(part.replace("**", "*"))
        if part else ""
        for part in body.split("\0")
    )
    prefix = "" if anchored else r"(?:.*/)?"
    return re.compile(f"(?s:{prefix}{regex})\\Z")
