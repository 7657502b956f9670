"""FS: the gotfs API — a filesystem stored in gotkv, where every change returns a new root.

    fs = FS(MemoryStore())
    r0 = fs.new()
    r1 = fs.mkdir(r0, "docs")
    r2 = fs.write_file(r1, "docs/a.txt", b"hello")
    fs.read(r2, "docs/a.txt")          # b"hello"
    fs.exists(r1, "docs/a.txt")        # False: r1 is unchanged

Each write method is a one-operation transaction; for several changes as one batch (one new
root, one tree rewrite) use `with fs.edit(root) as tx:` and the functions of gotfs.files and
gotfs.dirs (or the Tx-bound shortcuts on `Edit`). Node blobs use zstd level 3 (small, read
often); data chunks use level 1 (large, written at disk speed).
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
    """Filesystem operations over one blob store. Holds configuration, never a root."""

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
        return self.kv.store

    def new(self) -> Root:
        """An empty filesystem: just the root directory."""
        tx = Tx(self, self.kv.empty())
        tx.put_info((), Info.dir(0o755))
        return tx.commit()

    def edit(self, root: Root) -> Edit:
        """A transaction on `root`: apply many changes, then `.commit()` (or use `with`)."""
        return Edit(self, root)

    def _one(self, root: Root, fn, *args, **kw) -> Root:
        tx = Tx(self, root)
        fn(tx, *args, **kw)
        return tx.commit()

    # -- changes (each returns a new root) ---------------------------------------------

    def mkdir(self, root: Root, path, mode: int = 0o755, *, parents: bool = False, exist_ok: bool = False) -> Root:
        return self._one(root, dirs.mkdir, parse_path(path), mode, parents=parents, exist_ok=exist_ok)

    def write_file(self, root: Root, path, data: bytes | BinaryIO, *, mode: int = 0o644) -> Root:
        return self._one(root, files.write_file, parse_path(path), data, mode=mode)

    def create(self, root: Root, path, mode: int = 0o644) -> Root:
        return self._one(root, files.create, parse_path(path), mode)

    def write_at(self, root: Root, path, offset: int, data: bytes) -> Root:
        return self._one(root, files.write_at, parse_path(path), offset, data)

    def truncate(self, root: Root, path, size: int) -> Root:
        return self._one(root, files.truncate, parse_path(path), size)

    def remove(self, root: Root, path, *, recursive: bool = False) -> Root:
        return self._one(root, dirs.remove, parse_path(path), recursive=recursive)

    def rename(self, root: Root, src, dst) -> Root:
        return self._one(root, dirs.rename, parse_path(src), parse_path(dst))

    def copy(self, root: Root, src, dst) -> Root:
        return self._one(root, dirs.copy, parse_path(src), parse_path(dst))

    def symlink(self, root: Root, path, target) -> Root:
        return self._one(root, files.symlink, parse_path(path), target)

    def chmod(self, root: Root, path, mode: int) -> Root:
        return self._one(root, files.set_attrs, parse_path(path), mode=mode)

    def set_xattr(self, root: Root, path, name: bytes, value: bytes) -> Root:
        return self._one(root, files.set_attrs, parse_path(path), set_xattrs={name: value})

    def remove_xattr(self, root: Root, path, name: bytes) -> Root:
        return self._one(root, files.set_attrs, parse_path(path), remove_xattrs=[name])

    # -- reads -------------------------------------------------------------------------

    def stat(self, root: Root, path) -> Info:
        return Tx(self, root).require(parse_path(path))

    def exists(self, root: Root, path) -> bool:
        return Tx(self, root).info(parse_path(path)) is not None

    def read(self, root: Root, path, offset: int = 0, size: int = -1) -> bytes:
        return bytes(files.read(Tx(self, root), parse_path(path), offset, size))

    def readlink(self, root: Root, path) -> bytes:
        return files.readlink(Tx(self, root), parse_path(path))

    def listdir(self, root: Root, path="") -> list[tuple[str, Info]]:
        return [(keys.show((n,)), i) for n, i in dirs.listdir(Tx(self, root), parse_path(path))]

    def walk(self, root: Root, path="") -> Iterator[tuple[str, Info]]:
        for p, info in dirs.walk(Tx(self, root), parse_path(path)):
            yield keys.show(p), info


class Edit(Tx):
    """A Tx with path-parsing shortcuts, usable as a context manager:

        with fs.edit(root) as tx:
            tx.mkdir("a"); tx.write_file("a/b", b"x")
        new_root = tx.root
    """

    root: Root | None = None

    def __enter__(self) -> Edit:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.root = self.commit()

    def mkdir(self, path, mode: int = 0o755, **kw) -> None:
        dirs.mkdir(self, parse_path(path), mode, **kw)

    def write_file(self, path, data, **kw) -> Info:
        return files.write_file(self, parse_path(path), data, **kw)

    def write_at(self, path, offset: int, data: bytes) -> Info:
        return files.write_at(self, parse_path(path), offset, data)

    def truncate(self, path, size: int) -> Info:
        return files.truncate(self, parse_path(path), size)

    def remove(self, path, **kw) -> None:
        dirs.remove(self, parse_path(path), **kw)

    def rename(self, src, dst) -> None:
        dirs.rename(self, parse_path(src), parse_path(dst))

    def symlink(self, path, target) -> Info:
        return files.symlink(self, parse_path(path), target)

    def read(self, path, offset: int = 0, size: int = -1) -> bytes:
        return bytes(files.read(self, parse_path(path), offset, size))
