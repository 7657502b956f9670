"""Tree changes between two roots, or between a tree and the working directory, and their
rendering as git-style patches and stats."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Iterator

from gotfs.diff import ADDED, REMOVED, PathChange, diff
from gotfs.info import Info
from gotkv.root import Root
from gotkv.value import Value

from cli.output import mode_text, paint, quote_path

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from gotfs.fs import FS

BINARY_SNIFF = 8 << 10
BINARY_LIMIT = 10 << 20


def tree_changes(fs: FS, a: Root, b: Root, paths: Iterable[str] | None = None) -> list[PathChange]:
    """Changed paths from `a` to `b` (in path order), optionally only at or under `paths`.

    Cost: that of gotfs.diff — O(changes · depth) node reads, plus reading the parts of files
    whose extents moved without naming the same blob bytes.
    """
    prefixes = _prefixes(paths)
    source = diff(fs, a, b, prefixes[0]) if len(prefixes) == 1 else diff(fs, a, b)
    return [c for c in source if _under(c.path, prefixes)]


def _prefixes(paths: Iterable[str] | None) -> list[str]:
    prefixes = [p.strip("/") for p in paths or ()]
    return [] if "" in prefixes else prefixes


def _under(path: str, prefixes: list[str]) -> bool:
    return not prefixes or any(path == p or path.startswith(p + "/") for p in prefixes)


SideOf = Callable[[], "Side"]  # one side's bytes, read when a patch or a count needs them


def tree_sides(fs: FS, a: Root, b: Root, c: PathChange) -> tuple[SideOf, SideOf]:
    """The two sides of a change between trees `a` and `b`."""
    return (lambda: _side(fs, a, c.path, c.old)), (lambda: _side(fs, b, c.path, c.new))


def working_changes(repo, paths: Iterable[str] | None = None) -> list[tuple[PathChange, SideOf, SideOf]]:
    """The working directory's changes against the commit it holds (Repo.workdir_changes),
    optionally only at or under `paths`, each with its two sides: the tree's bytes read from
    the extents its stat cache row names, the host's from the file. Nothing is stored: unlike
    a diff of a snapshot, no changed file is chunked or sealed, and a diff that finds no
    change reads no blob. Cost: a status, then per changed file a read of both versions."""
    prefixes = _prefixes(paths)
    out = []
    for w in repo.workdir_changes():
        if not _under(w.path, prefixes):
            continue
        new = w.host.info() if w.host is not None else None
        c = PathChange(w.path, w.kind, w.old, new)
        out.append((c, _extents_side(repo, w.old, w.extents), _host_side(repo.workdir / w.path, new)))
    return out


def _extents_side(repo, info: Info | None, extents: list) -> SideOf:
    def side() -> Side:
        if info is None or not info.is_file:
            return _small_side(info)
        if info.size > BINARY_LIMIT:
            return Side(None, True)
        return _sniffed(repo.stored_bytes(info.size, extents))
    return side


def _host_side(path: os.PathLike, info: Info | None) -> SideOf:
    def side() -> Side:
        if info is None or not info.is_file:
            return _small_side(info)
        if info.size > BINARY_LIMIT:
            return Side(None, True)
        with open(path, "rb") as f:
            return _sniffed(f.read(BINARY_LIMIT + 1))
    return side


def is_file_like(c: PathChange) -> bool:
    """Files and symlinks (directories are only containers in listings and counts)."""
    info = c.new or c.old
    return not info.is_dir or (c.old is not None and c.new is not None and c.old.kind != c.new.kind)


class Side(Value):
    """One side of a changed path, as far as a patch needs it."""

    __slots__ = ("data", "binary")
    data: bytes | None  # None: absent, or too large to diff
    binary: bool

    def __init__(self, data: bytes | None, binary: bool) -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "binary", binary)


def _side(fs: FS, root: Root, path: str, info: Info | None) -> Side:
    if info is None or not info.is_file:
        return _small_side(info)
    if info.size > BINARY_LIMIT:
        return Side(None, True)
    return _sniffed(fs.read(root, path))


def _small_side(info: Info | None) -> Side:
    """The side of what is not a regular file: no bytes (absent, a directory, or a FIFO,
    socket or device: its kind says it all), or a symlink's target."""
    return Side(info.target if info is not None and info.is_symlink else b"", False)


def _sniffed(data: bytes) -> Side:
    return Side(data, b"\0" in data[:BINARY_SNIFF])


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def line_counts(fs: FS, a: Root, b: Root, c: PathChange) -> tuple[int, int, bool]:
    """(insertions, deletions, binary) of one change between trees."""
    return counts_of(*tree_sides(fs, a, b, c))


def counts_of(old_side: SideOf, new_side: SideOf) -> tuple[int, int, bool]:
    """(insertions, deletions, binary) of one change, given its two sides."""
    old, new = old_side(), new_side()
    if old.binary or new.binary:
        return 0, 0, True
    plus = minus = 0
    for line in difflib.unified_diff(_lines(old.data), _lines(new.data), n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return plus, minus, False


def patch(fs: FS, a: Root, b: Root, c: PathChange) -> Iterator[str]:
    """A git-style patch for one change between trees (patch_of)."""
    return patch_of(c, *tree_sides(fs, a, b, c))


def patch_of(c: PathChange, old_side: SideOf, new_side: SideOf) -> Iterator[str]:
    """A git-style patch for one change, given its two sides, line by line (without trailing
    newlines), coloured as git colours it when colour is on (cli.output.paint)."""
    in_body = False
    for line in _patch_lines(c, old_side, new_side):
        in_body = in_body or line.startswith("@@")
        if not in_body:
            yield paint(line, "bold")
        elif line.startswith("@@"):
            yield paint(line, "cyan")
        elif line.startswith(("+", "-")):
            yield paint(line, "green" if line[0] == "+" else "red")
        else:
            yield line


def _patch_lines(c: PathChange, old_side: SideOf, new_side: SideOf) -> Iterator[str]:
    yield f"diff --got {quote_path('a/' + c.path)} {quote_path('b/' + c.path)}"
    old, new = c.old, c.new
    if old is not None and new is not None and old.kind != new.kind:
        yield f"deleted file mode {mode_text(old)}"
        yield f"new file mode {mode_text(new)}"
    elif c.kind == ADDED:
        yield f"new {'directory' if new.is_dir else 'file'} mode {mode_text(new)}"
    elif c.kind == REMOVED:
        yield f"deleted {'directory' if old.is_dir else 'file'} mode {mode_text(old)}"
    elif old.mode != new.mode:
        yield f"old mode {mode_text(old)}"
        yield f"new mode {mode_text(new)}"
    if (new or old).is_dir and (old is None or new is None or old.is_dir == new.is_dir):
        return
    if not c.content_changed and old is not None and new is not None and old.kind == new.kind:
        if old.mtime_ns != new.mtime_ns:  # the same bytes: say what else a commit records
            yield "mtime changed"
        if old.xattrs != new.xattrs:
            yield "xattrs changed"
        return
    a_side, b_side = old_side(), new_side()
    a_name = quote_path(f"a/{c.path}") if old is not None and not old.is_dir else "/dev/null"
    b_name = quote_path(f"b/{c.path}") if new is not None and not new.is_dir else "/dev/null"
    if a_side.binary or b_side.binary:
        yield f"Binary files {a_name} and {b_name} differ"
        return
    body = list(difflib.unified_diff(_lines(a_side.data), _lines(b_side.data), a_name, b_name))
    for line in body:
        if line.endswith("\n"):
            yield line[:-1]
        else:
            yield line
            if not line.startswith(("---", "+++", "@@")):
                yield "\\ No newline at end of file"


def stat_table(rows: list[tuple[str, int, int, bool]]) -> Iterator[str]:
    """git's --stat: ` path | N ++--` per file, then a summary line."""
    if not rows:
        return
    rows = [(quote_path(path), *rest) for path, *rest in rows]
    width = max(len(p) for p, *_ in rows)
    most = max((p + m for _, p, m, _ in rows), default=0)
    scale = min(1.0, 50 / most) if most else 1.0
    for path, plus, minus, binary in rows:
        if binary:
            yield f" {path.ljust(width)} | Bin"
            continue
        bar = paint("+" * round(plus * scale), "green") + paint("-" * round(minus * scale), "red")
        yield f" {path.ljust(width)} | {plus + minus:>4} {bar}".rstrip()
    yield summary_line(len(rows), sum(r[1] for r in rows), sum(r[2] for r in rows))


def summary_line(files: int, plus: int, minus: int) -> str:
    s = f" {files} file{'s' if files != 1 else ''} changed"
    if plus or not minus:
        s += f", {plus} insertion{'s' if plus != 1 else ''}(+)"
    if minus:
        s += f", {minus} deletion{'s' if minus != 1 else ''}(-)"
    return s
