"""FS: the gotfs API — a filesystem stored in gotkv, where every change returns a new root.

    fs = FS(MemoryStore())
    r0 = fs.new()
    r1 = fs.mkdir(r0, "docs")
    r2 = fs.write_file(r1, "docs/a.txt", b"hello")
    fs.read(r2, "docs/a.txt")          # b"hello"
    fs.exists(r1, "docs/a.txt")        # False: r1 is unchanged

Each write method is a one-operation transaction; file data goes through a Staging
(gotfs.staging), the one road from bytes to extents. For several changes as one batch (one
new root, one tree rewrite) use a `Staging` (buffered writes, chunked in bulk at flush), or
`with fs.edit(root) as tx:` and the functions of gotfs.files and gotfs.dirs (or the
Tx-bound shortcuts on `Edit`). Node blobs use zstd level 3 (small, read
often); data chunks use level 1 (large, written at disk speed).

Costs are stated in node I/O (gotkv nodes, ~8-16 KiB, read from or written to the store;
reads are often served by the node cache) and blob I/O (file data chunks, ~1 MiB, cut by
content), in terms of the size of the change and the depth d of the tree (logarithmic in its
number of entries). A write commits one gotkv mutate, which rewrites only the nodes on the
paths to the keys it changes: O(changed keys x d) node writes, never O(size of the tree).

Invariants: a write returns a new root and leaves the root it was given unchanged and
readable (old roots stay valid forever); a write that raises returns no root and changes no
existing one (blobs it posted are left unreferenced, for gc); the same final tree always has
the same root, whatever the operations that led to it.

Errors, common to every method that takes a path: InvalidPath for a malformed path (empty,
'.' or '..' component, NUL, too long); PathNotFound if the path, or for a new entry its
parent, does not exist; NotADirectory if an ancestor is not a directory. Any call may raise
BlobNotFound, IntegrityError or CorruptNode when the tree's blobs are missing or damaged.
All are GotError subclasses (gotfs.errors, gotkv.errors).
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

from gotfs import dirs, files, keys
from gotfs.chunking import ChunkParams, DataStore
from gotfs.info import Info
from gotfs.keys import parse_path
from gotfs.tx import Tx
from gotkv.blobs.codec import DEFAULT_CIPHER, DEFAULT_LAYOUT, Codec
from gotkv.blobs.store import Store
from gotkv.kv import KV
from gotkv.params import Params
from gotkv.root import Root


class FS:
    """Filesystem operations over one blob store. Holds configuration, never a root.

    Safe to share between threads: it holds no root, and its caches and pools are thread-safe
    (two writers on one root make two roots; combining them is the caller's business).
    See the module docstring for how costs are counted and for the errors every method
    shares; each method lists only its own.
    """

    def __init__(self, store: Store, *, secret: bytes | None = None, params: Params | None = None,
                 chunk_params: ChunkParams | None = None, threads: int = 2, cipher: str = DEFAULT_CIPHER,
                 layout: int = DEFAULT_LAYOUT):
        params = params or Params()
        self.kv = KV(store, params, codec=Codec(secret, level=3, cipher=cipher, layout=layout))
        self.data = DataStore(store, Codec(secret, level=1, cipher=cipher, layout=layout),
                              chunk_params or ChunkParams.keyed(params.salt),
                              threads=threads)

    @property
    def store(self) -> Store:
        """The blob store holding this filesystem's nodes and data."""
        return self.kv.store

    def new(self) -> Root:
        """An empty filesystem: just the root directory (mode 0755). Cost: O(1) node writes
        (the same root in every store with the same secret and params)."""
        tx = Tx(self, self.kv.empty())
        tx.put_info((), Info.dir(0o755))
        return tx.commit()

    def edit(self, root: Root) -> Edit:
        """A transaction on `root`: apply many changes, then `.commit()` (or use `with`).

        No I/O until used. Reads in it cost as the FS reads do and see its own writes;
        nothing is written to the tree until commit, which applies every change as one
        mutate (O(changed keys x d) node writes for the whole batch) and returns one new
        root. `root` is never changed.
        """
        return Edit(self, root)

    def _one(self, root: Root, fn, *args, **kw) -> Root:
        tx = Tx(self, root)
        fn(tx, *args, **kw)
        return tx.commit()

    # -- changes (each returns a new root) ---------------------------------------------

    def mkdir(self, root: Root, path, mode: int = 0o755, *, parents: bool = False, exist_ok: bool = False) -> Root:
        """Create a directory (with parents=True also its missing ancestors, mode 0755);
        return the new root. With exist_ok=True (or parents=True) an existing directory is
        no error.

        Cost: O(d) node reads per path checked, O(d) node writes per directory created; no
        blob I/O. Raises AlreadyExists if `path` exists (and is not an allowed directory),
        PathNotFound if the parent is missing and parents=False, InvalidInput for mode bits
        beyond 0o7777.
        """
        return self._one(root, dirs.mkdir, parse_path(path), mode, parents=parents, exist_ok=exist_ok)

    def write_file(self, root: Root, path, data: bytes | BinaryIO, *, mode: int = 0o644) -> Root:
        """Create or replace the regular file at `path` with `data` (bytes, or a binary
        stream read to its end and never held whole); return the new root. A replaced file
        keeps its xattrs; `mode` is set either way.

        Cost: blob writes: one per ~1 MiB content-defined chunk not already stored (an
        unchanged region of a rewritten file dedups). Node I/O: O(d) reads for the checks,
        O(d + extents) writes (the old extents go as one span). Raises IsADirectory or
        NotAFile if `path` holds a directory or symlink, and what reading a stream raises.
        """
        from gotfs.staging import Staging  # here: reading never loads the write path

        staging = Staging(self, root)
        staging.write_file(parse_path(path), data, mode=mode)
        return staging.flush()

    def create(self, root: Root, path, mode: int = 0o644) -> Root:
        """Create an empty regular file (O_CREAT | O_EXCL); return the new root.

        Cost: O(d) node reads and writes; no blob I/O. Raises AlreadyExists if `path` exists.
        """
        return self._one(root, files.create, parse_path(path), mode)

    def write_at(self, root: Root, path, offset: int, data: bytes) -> Root:
        """Write `data` into the file at `offset` (past the end leaves a hole that reads as
        zeros); return the new root.

        Cost: only the extents the write touches (with those ending where it starts or
        starting where it ends, so a file written in pieces stays content-defined: the
        region rule of gotfs.regions) are read, re-chunked with `data` and posted: blob I/O
        O(len(data) / 1 MiB + 3) chunks read and written; node I/O O(d + touched extents).
        Raises IsADirectory or NotAFile if `path` is not a regular file.
        """
        from gotfs.staging import Staging  # here: reading never loads the write path

        staging = Staging(self, root)
        staging.write(parse_path(path), offset, data)
        return staging.flush()

    def truncate(self, root: Root, path, size: int) -> Root:
        """Cut the file to `size` bytes, or extend it with a hole; return the new root.

        Cost: no blob I/O (a cut extent keeps pointing into its blob); node I/O O(d +
        extents removed). Raises IsADirectory or NotAFile if `path` is not a regular file,
        InvalidInput for a negative size.
        """
        from gotfs.staging import Staging  # here: reading never loads the write path

        staging = Staging(self, root)
        staging.truncate(parse_path(path), size)
        return staging.flush()

    def remove(self, root: Root, path, *, recursive: bool = False) -> Root:
        """Remove a file, symlink or directory (a non-empty one only with recursive=True);
        return the new root.

        Cost: the subtree is one key span, deleted as one: O(d) node reads and writes at its
        two edges, whatever its size (nodes wholly inside it are dropped unread); no blob
        I/O (data blobs are reclaimed by gc). Raises DirectoryNotEmpty for a non-empty
        directory without recursive=True, InvalidPath (EBUSY) for the root.
        """
        return self._one(root, dirs.remove, parse_path(path), recursive=recursive)

    def rename(self, root: Root, src, dst) -> Root:
        """Move a file or directory to `dst`, replacing a target as POSIX rename(2) allows;
        return the new root.

        Cost: every entry below `src` is read and written under its new key: O(d + entries
        under src) node I/O; no blob I/O (values, and so data blobs, are shared). Raises
        PathNotFound for a missing `src` or parent of `dst`, NotADirectory / IsADirectory
        when a target of the other kind exists, DirectoryNotEmpty for a non-empty target
        directory, InvalidPath for the root, a move into itself, or a path grown too long.
        """
        return self._one(root, dirs.rename, parse_path(src), parse_path(dst))

    def copy(self, root: Root, src, dst) -> Root:
        """Copy a file or directory tree to `dst` (which must not exist); return the new root.

        Cost: O(d + entries under src) node I/O; no blob I/O (data blobs are shared, not
        copied). Raises AlreadyExists if `dst` exists, InvalidPath for a copy onto or into
        itself or a path grown too long.
        """
        return self._one(root, dirs.copy, parse_path(src), parse_path(dst))

    def symlink(self, root: Root, path, target) -> Root:
        """Create a symbolic link at `path` to `target` (stored as given, never followed);
        return the new root.

        Cost: O(d) node reads and writes. Raises AlreadyExists if `path` exists.
        """
        return self._one(root, files.symlink, parse_path(path), target)

    def chmod(self, root: Root, path, mode: int) -> Root:
        """Set the permission bits (mode & 0o7777) of any entry; return the new root.

        Cost: O(d) node reads and writes; no blob I/O.
        """
        return self._one(root, files.set_attrs, parse_path(path), mode=mode)

    def set_xattr(self, root: Root, path, name: bytes, value: bytes) -> Root:
        """Set extended attribute `name` of any entry; return the new root.

        Cost: O(d) node reads and writes. Raises InvalidInput for a name outside 1..255
        bytes or a value over 64 KiB.
        """
        return self._one(root, files.set_attrs, parse_path(path), set_xattrs={name: value})

    def remove_xattr(self, root: Root, path, name: bytes) -> Root:
        """Remove extended attribute `name` (absent is no error); return the new root.

        Cost: O(d) node reads and writes.
        """
        return self._one(root, files.set_attrs, parse_path(path), remove_xattrs=[name])

    # -- reads -------------------------------------------------------------------------

    def stat(self, root: Root, path) -> Info:
        """The Info (kind, mode, size, target, xattrs, mtime) of `path`. Cost: O(d) node reads."""
        return Tx(self, root).require(parse_path(path))

    def exists(self, root: Root, path) -> bool:
        """Whether `path` exists (False, not an error, if it is missing or under a non-directory).
        Cost: O(d) node reads. Raises InvalidPath for a malformed path."""
        return Tx(self, root).info(parse_path(path)) is not None

    def read(self, root: Root, path, offset: int = 0, size: int = -1) -> bytes:
        """Up to `size` bytes of the file from `offset` (the rest of it with size < 0);
        holes read as zeros, and reading past the end gives fewer bytes, or none.

        Cost: O(d + extents in the range) node reads, and one blob read per chunk the range
        overlaps (decoded chunks are cached). Raises IsADirectory or NotAFile if `path` is
        not a regular file.
        """
        return bytes(files.read(Tx(self, root), parse_path(path), offset, size))

    def readlink(self, root: Root, path) -> bytes:
        """The target of the symlink at `path`. Cost: O(d) node reads. Raises NotAFile if
        `path` is not a symlink."""
        return files.readlink(Tx(self, root), parse_path(path))

    def listdir(self, root: Root, path="") -> list[tuple[str, Info]]:
        """(name, Info) of each child of a directory, in key order (by name + '/').

        Cost: O(children x d) node reads: each child's own subtree is skipped by a seek,
        never visited. Raises NotADirectory if `path` is not a directory.
        """
        return [(keys.show((n,)), i) for n, i in dirs.listdir(Tx(self, root), parse_path(path))]

    def walk(self, root: Root, path="") -> Iterator[tuple[str, Info]]:
        """(path, Info) of `path` and everything below it, parents before children, lazily.

        Cost: O(d + entries below path) node reads, spread over the iteration; no blob I/O.
        Errors (PathNotFound for a missing `path`) surface at the first next().
        """
        for p, info in dirs.walk(Tx(self, root), parse_path(path)):
            yield keys.show(p), info


class Edit(Tx):
    """A Tx with path-parsing shortcuts, usable as a context manager:

        with fs.edit(root) as tx:
            tx.mkdir("a"); tx.write_file("a/b", b"x")
        new_root = tx.root

    Each shortcut does what the FS method of the same name does and raises what it raises,
    but records its changes in the transaction instead of making a root: its reads (O(d)
    node reads each, through the pending batch) see the transaction's earlier writes, data
    blobs are posted as it goes, and the tree's nodes are written once, at commit: one
    mutate for the whole batch, O(changed keys x d) node writes. Leaving the `with` block
    normally commits and sets `root`; leaving it by an exception commits nothing (`root`
    stays None, and the base root is unchanged either way). Not for use from two threads.
    """

    root: Root | None = None

    def __enter__(self) -> Edit:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        """Commit, unless the block raised (then the changes are dropped, the error goes on)."""
        if exc_type is None:
            self.root = self.commit()

    def mkdir(self, path, mode: int = 0o755, **kw) -> None:
        """FS.mkdir in this transaction (keywords: parents, exist_ok, mtime_ns)."""
        dirs.mkdir(self, parse_path(path), mode, **kw)

    def write_file(self, path, data, **kw) -> Info:
        """FS.write_file in this transaction (keywords: mode, mtime_ns, overwrite); returns
        the file's new Info. Data blobs are posted now."""
        return files.write_file(self, parse_path(path), data, **kw)

    def write_at(self, path, offset: int, data: bytes) -> Info:
        """FS.write_at in this transaction; returns the file's new Info."""
        return files.write_at(self, parse_path(path), offset, data)

    def truncate(self, path, size: int) -> Info:
        """FS.truncate in this transaction; returns the file's new Info."""
        return files.truncate(self, parse_path(path), size)

    def remove(self, path, **kw) -> None:
        """FS.remove in this transaction (keyword: recursive)."""
        dirs.remove(self, parse_path(path), **kw)

    def rename(self, src, dst) -> None:
        """FS.rename in this transaction. Cost: O(d + entries under src) node reads now."""
        dirs.rename(self, parse_path(src), parse_path(dst))

    def symlink(self, path, target) -> Info:
        """FS.symlink in this transaction; returns the link's Info."""
        return files.symlink(self, parse_path(path), target)

    def read(self, path, offset: int = 0, size: int = -1) -> bytes:
        """FS.read as of this transaction (its own writes included)."""
        return bytes(files.read(self, parse_path(path), offset, size))
