"""The stat cache's base tree: the root its rows describe exactly, so that a snapshot or a
status works from the rows and the scan alone instead of rebuilding or reading the tree.

While a base is recorded in the working copy's database (table `base`), this holds:

  (a) the files of the base root are exactly the paths of the `files` rows, each holding
      the Info and extents of its row;
  (b) every other key of the base root (the root directory, directories, symlinks) is in
      `others`, with its value.

Every write to the rows either keeps that true and says so (a snapshot, which records its
own root; a refresh that copies entries out of the base root itself) or clears the base (a
checkout or a merge writing paths). So a file whose stat signature matches its row holds
what the base holds, and the working directory's tree is the base root with the changed paths
edited in: O(changes x depth) nodes instead of a build of every entry, and by history
independence the same root as that build.

A recorded base is used only when it equals a root the caller knows to be alive (HEAD's
tree): a snapshot that was never committed may have had its nodes collected since.
"""

from __future__ import annotations

from gotfs import keys
from gotfs.info import Info
from gotfs.repo.statrows import FileInfos, Pending, row_path
from gotkv.root import Root
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    import sqlite3
    from typing import Callable, Container

    from gotfs.fs import FS
    from gotfs.staging import Staging

SCHEMA = "CREATE TABLE IF NOT EXISTS base(one INTEGER PRIMARY KEY CHECK (one = 0), root BLOB NOT NULL, others BLOB NOT NULL)"


class BaseTree(Value):
    """A root and the values of its non-file keys (info key -> Info bytes)."""

    __slots__ = ("root", "others")
    root: Root
    others: dict[bytes, bytes]

    def __init__(self, root: Root, others: dict[bytes, bytes]) -> None:
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "others", others)

    @classmethod
    def of(cls, root: Root, others: dict[keys.Path, Info]) -> BaseTree:
        """The base `root` whose non-file paths are `others`."""
        return cls(root, {keys.info_key(path): info.to_bytes() for path, info in others.items()})

    def by_path(self) -> dict[keys.Path, bytes]:
        """The non-file paths and their Info bytes."""
        return {keys.path_of(k): v for k, v in self.others.items()}

    def to_row(self) -> tuple[bytes, bytes]:
        parts = []
        for k, v in sorted(self.others.items()):
            parts += [len(k).to_bytes(4, "little"), k, len(v).to_bytes(4, "little"), v]
        return self.root.to_bytes(), b"".join(parts)

    @classmethod
    def from_row(cls, root: bytes, others: bytes) -> BaseTree:
        out = {}
        o, view = 0, memoryview(others)
        while o < len(others):
            n = int.from_bytes(view[o:o + 4], "little")
            k = bytes(view[o + 4:o + 4 + n])
            o += 4 + n
            n = int.from_bytes(view[o:o + 4], "little")
            out[k] = bytes(view[o + 4:o + 4 + n])
            o += 4 + n
        return cls(Root.from_bytes(root), out)


def load(db: sqlite3.Connection, live: Root | None) -> BaseTree | None:
    """The recorded base if its root is `live`, else None. Cost: one row read."""
    if live is None:
        return None
    row = db.execute("SELECT root, others FROM base").fetchone()
    if row is None or row[0] != live.to_bytes():
        return None
    return BaseTree.from_row(row[0], row[1])


def record(db: sqlite3.Connection, base: BaseTree | None) -> None:
    """Record `base` (None: clear it). Run inside the transaction that writes the rows."""
    db.execute("DELETE FROM base")
    if base is not None:
        db.execute("INSERT INTO base VALUES (0, ?, ?)", base.to_row())


def fileless(db: sqlite3.Connection, fs: FS, root: Root) -> BaseTree | None:
    """`root` as a base when it holds no file and the cache no row, so that no row can be
    wrong (a clone's checkout from the empty root); else None. Cost: one row read and a read
    of `root`'s first keys."""
    if db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None:
        return None
    others = {}
    for k, v in fs.kv.iterate(root):
        if keys.is_extent_key(k) or Info.from_bytes(v).is_file or len(others) == 64:
            return None
        others[k] = v
    return BaseTree(root, others)


def stage_changes(fs: FS, base: BaseTree, others: dict[keys.Path, Info], to_write: list[Pending],
                  gone: set[bytes], infos: FileInfos, *, rewritten: Container[bytes]) -> Staging:
    """The working directory's changes staged on the base root: the paths gone (or of another
    kind now) removed, the non-file entries `others` put where they changed, and the files of
    `to_write` (those of `rewritten` replacing the base's) streamed in at flush in path order,
    so in the packing groups a build of the whole tree would make. By (a) and (b) above, the
    flushed root is that build's. Cost: O(changes x depth) node reads."""
    from gotfs.staging import Staging  # here: a status reads the base, only a snapshot stages on it

    staging = Staging(fs, base.root)
    before = base.by_path()
    top: keys.Path | None = None
    removed = [row_path(raw) for raw in gone] + [path for path in before if path not in others]
    for path in sorted(removed, key=keys.info_key):  # a directory comes before what is below it
        if top is None or path[:len(top)] != top:
            staging.remove(path, recursive=True)
            top = path
    for path, info in others.items():
        if before.get(path) != info.to_bytes():
            staging.put_info(path, info)
    for path, p in sorted(((row_path(p.raw), p) for p in to_write), key=lambda t: keys.info_key(t[0])):
        if p.raw in rewritten:
            staging.remove(path)
        staging.put_file(path, infos(p.mode, p.size), source=p, size_hint=p.size, tag=p)
    return staging


def checked_out(db: sqlite3.Connection, fs: FS, prior: BaseTree, target: Root, planned: Container[str],
                encode: Callable[[Info, list], bytes]) -> tuple[BaseTree | None, list, list[bytes]]:
    """After a whole checkout from the base `prior` wrote every path of `planned` (gotfs.diff's
    paths from prior.root to `target`, plus any reset) from `target` and gave its files rows:
    the BaseTree that makes `target` the base (None if the rows cannot describe it), the rows
    to rewrite, and the rows to drop (paths planned that are no longer files). A file not
    planned whose extents alone moved (the same bytes packed otherwise, which gotfs.diff leaves
    out) keeps its row's signature and hash with `target`'s extents (`encode`d as the rows are).
    Cost: a key diff of the two roots, O(changes x depth) node reads."""
    from itertools import groupby

    from gotfs.tx import Tx

    tx = Tx(fs, target)
    others = dict(prior.others)
    rows, gone = [], []
    for path, _ in groupby(fs.kv.diff(prior.root, target), key=lambda c: keys.path_of(c.key)):
        info = tx.info(path)
        key, raw = keys.info_key(path), b"/".join(path)
        if info is None or info.is_file:
            others.pop(key, None)
        else:
            others[key] = info.to_bytes()
        if keys.show(path) in planned:
            if info is not None and not info.is_file:
                gone.append(raw)
        elif info is not None and info.is_file:
            old = db.execute("SELECT sig, hash FROM files WHERE path=?", (raw,)).fetchone()
            if old is None:  # (no row for a file of the base: the rows were not the base's)
                return None, [], gone
            rows.append((raw, *old, encode(info, [(end, x) for _, end, x in tx.extents(path)])))
    return BaseTree(target, others), rows, gone


class RecordedTree:
    """The base tree's paths as status compares them, read from the rows and `others` instead
    of the tree: (path, sig) of every row up front (`sigs`, which status's scan consumes:
    WorkStatus.scan pops each file it finds and puts those whose signature differs in
    `changed`), a file's row only when its signature differs. `decode` turns a row's entries
    into (Info, extents)."""

    def __init__(self, db: sqlite3.Connection, base: BaseTree, decode: Callable[[bytes], tuple[Info, list]]):
        self.db = db
        self.decode = decode
        self.sigs: dict[bytes, bytes | None] = dict(db.execute("SELECT path, sig FROM files"))
        self.changed: set[bytes] = set()  # rows taken out of sigs by the scan that differ
        self.others = {b"/".join(keys.path_of(k)): v for k, v in base.others.items() if k != b"/"}

    def get(self, raw: bytes) -> tuple[Info, list, tuple | None] | None:
        """(Info, extents, stat cache row) of a path of the base, or None if it has none."""
        value = self.others.get(raw)
        if value is not None:
            return Info.from_bytes(value), [], None
        if raw not in self.sigs and raw not in self.changed:
            return None
        row = self.db.execute("SELECT sig, hash, entries FROM files WHERE path=?", (raw,)).fetchone()
        return None if row is None else (*self.decode(row[2]), row)

    def paths(self) -> set[bytes]:
        """The base's paths, but the files the scan found (popped from sigs)."""
        return self.sigs.keys() | self.others.keys()

