"""Buffers: the read-write mount's buffered writes, per inode, in two generations.

A file's buffered writes are a DirtyFile (gotfs/pieces.py): immutable pieces filed by
offset. `Buffers` holds the DirtyFiles of all files, keyed by inode (so a rename never moves
them), in two generations: `open` receives writes, `spilling` is being turned into blobs by
a flush (gotfs/regions.py, outside the lock). Reads lay both over the tree, the newer on top.
Pieces never change, so reads and the flush may use them without copying and without the lock.

Not thread-safe: the writeback layer holds its lock around every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from gotfs import files
from gotfs.keys import Path
from gotfs.pieces import DirtyFile, Patch
from gotfs.tx import Tx


@dataclass(slots=True)
class Cut:
    """Truncates that happened while a file's bytes were being spilled: re-applied after them.

    Bytes spilled survive only below the shortest size; the file ends at the last one.
    """

    shortest: int
    last: int

    def add(self, size: int) -> None:
        self.shortest = min(self.shortest, size)
        self.last = size

    def reapply(self, tx: Tx, path: Path) -> None:
        """Truncate the file again, once its spilled bytes are in the tree."""
        files.truncate(tx, path, self.shortest)
        files.truncate(tx, path, self.last)


class Buffers:
    """Every file's buffered writes, keyed by inode. See the module docstring."""

    def __init__(self) -> None:
        self.open: dict[int, DirtyFile] = {}
        self.spilling: dict[int, DirtyFile] = {}
        self.cuts: dict[int, Cut] = {}
        self.nbytes = 0  # in `open`: what the memory limit watches

    def __bool__(self) -> bool:
        return bool(self.open) or bool(self.spilling)

    def _both(self, ino: int) -> tuple[DirtyFile | None, DirtyFile | None]:
        return self.spilling.get(ino), self.open.get(ino)

    def write(self, ino: int, off: int, data: bytes, mtime_ns: int) -> None:
        df = self.open.get(ino)
        if df is None:
            df = self.open[ino] = DirtyFile()
        self.nbytes += df.write(off, data)
        df.mtime_ns = mtime_ns

    def end(self, ino: int) -> int:
        """One past the last buffered byte (0 if none). Every stat and read of a file asks:
        two dict lookups, the second only while a spill runs."""
        df = self.open.get(ino)
        end = 0 if df is None else df.end
        if self.spilling:
            old = self.spilling.get(ino)
            if old is not None and old.end > end:
                end = old.end
        return end

    def mtime(self, ino: int) -> int | None:
        """The time of the last buffered write still to be applied, if any."""
        df = self.open.get(ino)
        if df is not None and df.mtime_ns is not None:
            return df.mtime_ns
        old = self.spilling.get(ino) if self.spilling else None
        return None if old is None else old.mtime_ns

    def clear_mtime(self, ino: int) -> None:
        """An explicit time was set: the buffered writes' times must not override it."""
        for df in self._both(ino):
            if df is not None:
                df.mtime_ns = None

    def overlay(self, ino: int, off: int, stop: int) -> list[Patch]:
        """Buffered bytes in [off, stop), older generation first."""
        return [patch for df in self._both(ino) if df is not None for patch in df.overlay(off, stop)]

    def covers(self, ino: int, off: int, stop: int) -> bool:
        """Whether the two generations together buffer every byte of [off, stop)."""
        both = [df for df in self._both(ino) if df is not None]
        pos = off
        while pos < stop:
            reach = max((df.reach(pos, stop) for df in both), default=pos)
            if reach == pos:
                return False
            pos = reach
        return True

    def truncate(self, ino: int, size: int) -> None:
        spilling, df = self._both(ino)
        if df is not None:
            self.nbytes -= df.drop_from(size)
        if spilling is not None:
            spilling.drop_from(size)  # for reads; the spill itself is corrected by the Cut
            cut = self.cuts.get(ino)
            if cut is None:
                self.cuts[ino] = Cut(size, size)
            else:
                cut.add(size)

    def drop(self, ino: int) -> None:
        """Forget a removed file's open buffer (a spilling one is discarded when it lands)."""
        df = self.open.pop(ino, None)
        if df is not None:
            self.nbytes -= df.nbytes

    def take(self, keep=()) -> dict[int, DirtyFile]:
        """Move every open buffer (but those of the inodes in `keep`) to the spilling generation."""
        taken = {ino: df for ino, df in self.open.items() if ino not in keep}
        for ino, df in taken.items():
            del self.open[ino]
            self.nbytes -= df.nbytes
        self.spilling.update(taken)
        return taken

    def landed(self, ino: int) -> Cut | None:
        """The spilled bytes of `ino` are in the tree (or discarded); returns its Cut, if any."""
        self.spilling.pop(ino, None)
        return self.cuts.pop(ino, None)

    def restore(self, ino: int) -> None:
        """Put spilled bytes back as an open buffer, under any newer writes (for orphans)."""
        old = self.spilling.pop(ino, None)
        self.cuts.pop(ino, None)
        if old is None:
            return
        newer = self.open.pop(ino, None)
        if newer is not None:
            self.nbytes -= newer.nbytes
            for start, buf in newer.items():
                old.write(start, buf)
            old.mtime_ns = newer.mtime_ns or old.mtime_ns
        self.open[ino] = old
        self.nbytes += old.nbytes
