"""Tx: a pending change to a filesystem, applied as one gotkv batch.

Every gotfs operation is a function that reads through `tx.view` (the base tree with the
pending batch overlaid, so a transaction sees its own writes) and records edits in `tx.batch`.
`commit()` applies the whole batch with one mutate and returns the new root; the base root is
never touched. File data is posted to the store as it is written; like every store write it
is durable once the store is flushed (the repo flushes before it publishes a root).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from gotfs import keys
from gotfs.errors import IsADirectory, NotADirectory, NotAFile, PathNotFound
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path, extent_end
from gotkv.edit import Batch, Span
from gotkv.overlay import Overlay
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS


class Tx:
    """Reads see the transaction's own writes; commit() returns the new root."""

    def __init__(self, fs: FS, root: Root):
        self.fs = fs
        self.base = root
        self.batch = Batch()
        self.view = Overlay(fs.kv, root, self.batch)

    # -- reading -----------------------------------------------------------------------

    def info(self, path: Path) -> Info | None:
        """The Info at `path`, or None. Cost: one batch lookup and at most one tree get; an
        encoding decoded before is not parsed again (Info.from_bytes's table)."""
        raw = self.view.get(keys.info_key(path))
        return None if raw is None else Info.from_bytes(raw)

    def require(self, path: Path) -> Info:
        info = self.info(path)
        if info is None:
            self._explain_missing(path)
        return info

    def _explain_missing(self, path: Path) -> None:
        """Raise the precise error: ENOTDIR if an ancestor is not a directory, else ENOENT."""
        for i in range(1, len(path)):
            up = self.info(path[:i])
            if up is None:
                break
            if not up.is_dir:
                raise NotADirectory(keys.show(path[:i]))
        raise PathNotFound(keys.show(path))

    def require_dir(self, path: Path) -> Info:
        info = self.require(path)
        if not info.is_dir:
            raise NotADirectory(keys.show(path))
        return info

    def require_file(self, path: Path) -> Info:
        info = self.require(path)
        if info.is_dir:
            raise IsADirectory(keys.show(path))
        if not info.is_file:
            raise NotAFile(keys.show(path), info.kind.name.lower())
        return info

    def extents(self, path: Path, start: int = 0) -> Iterator[tuple[int, int, Extent]]:
        """(start, end, Extent) of the file's extents that end after `start`, in order."""
        for key, value in self.view.iterate(keys.extents_span(path, start)):
            e = Extent.from_bytes(value)
            end = extent_end(key)
            yield end - e.length, end, e

    def entries(self, span: Span) -> Iterator[tuple[bytes, bytes]]:
        return self.view.iterate(span)

    # -- writing -----------------------------------------------------------------------

    def put_info(self, path: Path, info: Info) -> None:
        """Record `info` at `path`; the next info(path) answers it with no parse
        (Info.to_bytes_kept)."""
        self.batch.put(keys.info_key(path), info.to_bytes_kept())

    def put_extent(self, path: Path, end: int, extent: Extent) -> None:
        self.batch.put(keys.extent_key(path, end), extent.to_bytes())

    def delete_key(self, key: bytes) -> None:
        self.batch.delete(key)

    def delete_span(self, span: Span) -> None:
        self.batch.delete_span(span)

    def put(self, key: bytes, value: bytes) -> None:
        self.batch.put(key, value)

    def commit(self) -> Root:
        """The new root: the base with every recorded edit applied."""
        return self.fs.kv.mutate(self.base, self.batch)
