"""The file objects of got:// (gotfs.repo.fsspec_fs): a ranged reader of one committed
file, and a writer that buffers a file and commits it when closed."""

from __future__ import annotations

import shutil
import tempfile
from typing import TYPE_CHECKING

from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from gotfs.repo.fsspec_fs import GotFileSystem
    from gotfs.repo.fsspec_sources import _Loc
    from gotkv.blobs.ref import Ref

SPOOL_BYTES = 64 << 20  # a file being written stays in memory up to this size


class _Unclosed:
    """A stream the writer reads to its end and closes, left open for a retry to re-read."""

    def __init__(self, f):
        self._f = f

    def readinto(self, b) -> int:
        return self._f.readinto(b)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def close(self) -> None:
        pass


class GotFile(AbstractBufferedFile):
    """A file of one commit, open for reading: each read fetches only the chunks it covers."""

    def __init__(self, fs: GotFileSystem, path: str, loc: _Loc, details: dict, block_size,
                 cache_options, cache_type: str):
        self._loc = loc
        super().__init__(fs, path, "rb", block_size=block_size, cache_type=cache_type,
                         cache_options=cache_options, size=details["size"])
        self.details = details

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs._read(self._loc, start, end - start)


class GotWriteFile(AbstractBufferedFile):
    """A file being written: buffered (spilling to a temporary file), committed on close."""

    def __init__(self, fs: GotFileSystem, path: str, mode: str, block_size, autocommit: bool,
                 message: str | None):
        super().__init__(fs, path, mode, block_size=block_size, autocommit=autocommit)
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._message = message
        self.commit_ref: Ref | None = None  # the commit closing it made

    def _upload_chunk(self, final: bool = False) -> bool:
        self.buffer.seek(0)
        shutil.copyfileobj(self.buffer, self._spool)
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        """Write the file into the branch and commit (on close, or at a transaction's end)."""
        try:
            self.commit_ref = self.fs._commit_file(self.path, self._spool, self.mode == "xb", self._message)
        finally:
            self._spool.close()

    def discard(self) -> None:
        self._spool.close()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and not self.closed:  # a failed write commits nothing
            self.discard()
            self.closed = True
            return
        self.close()
