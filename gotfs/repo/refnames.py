"""Ref names as users write them: which branch and tag names are valid, and the ancestry
suffixes (`~N`, `^`) of a commit spec. Pure string functions, no I/O."""

from __future__ import annotations

from gotkv.errors import InvalidInput

DEFAULT_BRANCH = "main"
_BRANCH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


def check_ref_name(name: str, what: str = "branch") -> str:
    """`name` if it may name a branch (or a `what`); else InvalidInput saying which characters may."""
    if (not name or name.startswith(("-", "/", ".")) or name.endswith(("/", ".lock")) or ".." in name
            or "//" in name or not set(name) <= _BRANCH_CHARS or name == "HEAD"):
        raise InvalidInput(f"invalid {what} name {name!r} (letters, digits, - _ . / only)")
    return name


def split_ancestry(spec: str) -> tuple[str, int]:
    """'main~2^' -> ('main', 3)."""
    steps = 0
    base = spec
    while base and base[-1] in "^~0123456789":
        if base.endswith("^"):
            steps += 1
            base = base[:-1]
            continue
        i = len(base)
        while i and base[i - 1].isdigit():
            i -= 1
        if i and base[i - 1] == "~":
            steps += int(base[i:] or 1)
            base = base[:i - 1]
            continue
        if base.endswith("~"):
            steps += 1
            base = base[:-1]
            continue
        break
    return base, steps
