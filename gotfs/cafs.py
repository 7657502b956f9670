"""CAFS: a small key-value view of a filesystem root, in the style of content-addressed stores.

Keys are file paths ("src/main.go"); put creates parent directories; list(prefix) is a plain
string prefix over paths ("src/" lists a directory's files, "src/ma" those starting so);
hash(prefix) digests a subtree so that two subtrees with the same entries hash the same,
wherever they sit; stats summarises a root. Every write returns a new root.
"""

from __future__ import annotations

from typing import Iterator

import blake3

from gotfs import files, keys
from gotfs.dirs import mkdir
from gotfs.extent import Extent
from gotfs.fs import FS
from gotfs.info import Info
from gotfs.tx import Tx
from gotkv.keyspan import Span
from gotkv.root import Root


class CAFS:
    """put/get/stat/exists/list/hash/stats over FS roots."""

    def __init__(self, fs: FS):
        self.fs = fs

    def put(self, root: Root, path: str, data: bytes, *, mode: int = 0o644) -> Root:
        p = keys.parse_path(path)
        tx = Tx(self.fs, root)
        mkdir(tx, p[:-1], parents=True)
        files.write_file(tx, p, data, mode=mode)
        return tx.commit()

    def get(self, root: Root, path: str) -> bytes:
        return self.fs.read(root, path)

    def stat(self, root: Root, path: str) -> Info | None:
        return Tx(self.fs, root).info(keys.parse_path(path))

    def exists(self, root: Root, path: str) -> bool:
        return self.stat(root, path) is not None

    def list(self, root: Root, prefix: str = "") -> Iterator[tuple[str, Info]]:
        """Files whose path starts with `prefix`, in path order."""
        span = Span.prefix(b"/" + keys.show_bytes(prefix))
        for k, v in self.fs.kv.iterate(root, span):
            if not keys.is_extent_key(k) and len(k) > 1:
                info = Info.from_bytes(v)
                if not info.is_dir:
                    yield keys.show(keys.path_of(k)), info

    def hash(self, root: Root, prefix: str = "") -> str:
        """Hex digest of the subtree at `prefix` (keys taken relative to it)."""
        base = keys.info_key(keys.parse_path(prefix))
        h = blake3.blake3()
        for k, v in self.fs.kv.iterate(root, keys.subtree_span(keys.parse_path(prefix))):
            rel = k[len(base):]
            h.update(len(rel).to_bytes(4, "little") + rel + len(v).to_bytes(4, "little") + v)
        return h.hexdigest()

    def stats(self, root: Root) -> dict[str, int]:
        """Entries, files, dirs, symlinks, logical bytes, and distinct data blobs referenced."""
        out = {"entries": 0, "files": 0, "dirs": 0, "symlinks": 0, "bytes": 0, "blobs": 0}
        blobs = set()
        for k, v in self.fs.kv.iterate(root):
            out["entries"] += 1
            if keys.is_extent_key(k):
                blobs.add(Extent.from_bytes(v).ref.cid)
                continue
            info = Info.from_bytes(v)
            out[{1: "dirs", 2: "files", 3: "symlinks"}[info.kind]] += 1
            if info.is_file:
                out["bytes"] += info.size
        out["blobs"] = len(blobs)
        return out
