"""Names a host could not hold: what fsck reports and what checkout refuses before it writes.

gotkv accepts any sorted keys, so a tree built by hand, by another program or by an attacker
can hold keys no working directory could have produced: a component that is empty (`//x/`,
an "absolute" key), `.` or `..`, a NUL, a key without its trailing `/`, or an entry whose
parent is not a directory of the tree (a file under a symlink or under a file). Export and
checkout refuse such entries; this module finds them without touching the host, so fsck can
report them and checkout can refuse the whole tree before it writes anything.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from gotfs import keys
from gotfs.errors import UnsafeExport
from gotfs.info import Info
from gotkv.errors import GotError
from gotkv.root import Root


def _name_problem(key: bytes) -> str | None:
    """What is wrong with an Info key's form, if anything."""
    if not key.startswith(b"/") or not key.endswith(b"/"):
        return "does not start and end with '/'"
    if key == b"/":
        return None
    for part in key[1:-1].split(b"/"):
        if part in (b"", b".", b".."):
            return f"has a component {part.decode()!r}" if part else "has an empty component (an absolute or '//' path)"
        if b"\x00" in part:
            return "has a NUL byte in a name"
    return None


def _show(key: bytes) -> str:
    return repr(key.decode("utf-8", "backslashreplace"))


def tree_problems(entries: Iterable[tuple[bytes, bytes]]) -> Iterator[str]:
    """One line for each entry a host directory could not hold, among a whole tree's
    `entries` in key order (fs.kv.iterate(root)). Cost: one pass over them (no data read)."""
    dirs = [b"/"]  # the directories enclosing the current key (keys come depth first)
    file = None  # the Info key of the last file seen
    for key, value in entries:
        if keys.is_extent_key(key):
            if key[:-9] != file:
                yield f"extent {_show(key)} belongs to no file of the tree"
            continue
        file = None
        problem = _name_problem(key)
        if problem is None and key != b"/":
            parent = key[:key.rindex(b"/", 0, len(key) - 1) + 1]
            while dirs and not parent.startswith(dirs[-1]):
                dirs.pop()
            if not dirs or dirs[-1] != parent:
                problem = f"is under {_show(parent)}, which is not a directory of the tree"
        if problem is not None:
            yield f"path {_show(key)} {problem}"
            continue
        try:
            info = Info.from_bytes(value)
        except GotError as e:
            yield f"path {_show(key)} has a malformed Info ({e})"
            continue
        if info.is_dir:
            dirs.append(key)
        elif info.is_file:
            file = key


def changed_problems(fs, root: Root, changed: Iterable[bytes]) -> Iterator[str]:
    """tree_problems for the given Info keys of `root` only (those a checkout adds or
    changes): the form of each, and that its parent is a directory of `root`. Cost: one
    lookup per key."""
    for key in changed:
        if keys.is_extent_key(key):
            continue
        problem = _name_problem(key)
        if problem is None and key != b"/":
            parent = key[:key.rindex(b"/", 0, len(key) - 1) + 1]
            info = fs.kv.get(root, parent, None)
            if info is None or not Info.from_bytes(info).is_dir:
                problem = f"is under {_show(parent)}, which is not a directory of the tree"
        if problem is not None:
            yield f"path {_show(key)} {problem}"


def refuse_unsafe(fs, base: Root | None, target: Root, what: str) -> None:
    """Raise UnsafeExport naming the first entry of `target` a host could not hold, checking
    only what differs from `base` (a tree already written to this host), or all of `target`
    when there is no base. Cost: a diff of the two trees (O(changes * depth)) and a lookup
    per change, or one pass over `target`."""
    if base is None:
        found = tree_problems(fs.kv.iterate(target))
    else:
        found = changed_problems(fs, target, (c.key for c in fs.kv.diff(base, target) if c.new is not None))
    first = next(iter(found), None)
    if first is not None:
        raise UnsafeExport(f"refusing to check out {what}: {first}; nothing was written (`got fsck` lists "
                           f"every such entry)")
