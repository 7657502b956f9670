"""Staging: pending changes to a filesystem, turned into one new root per flush.

The one road from written bytes to the tree. Metadata changes (create, mkdir, rename,
remove, chmod, truncate) go into a transaction (tx.py) at once; file data is buffered:
writes at an offset as pieces per file (pieces.py) in memory, up to `max_buffered` bytes,
past which they are spilled (chunked into the store, which is on disk, and their extents
put in the transaction, uncommitted); whole files as sources that are opened only when
flushed, so a host file is streamed, never held. `flush()` applies the region
rule (regions.py) to every buffered file, chunks and seals all new bytes in bulk on the
DataStore's threads (whole files packed together, in packing groups), and commits
everything as ONE gotkv batch: one new root.

Who uses it: the FS API's writes (each a staging with one change), the working copy's
snapshot (the changes since HEAD staged on HEAD's tree; a whole tree goes through the bulk
mode, treebuild.TreeBuild, which streams instead of holding a batch of every key), and the
read-write mount, which runs the same region phases itself, with buffers keyed by inode and
chunking outside its lock (gotfs/mount/writeback.py).

Equivalence: with pack=False, flushing any sequence of writes, truncates, renames and
removes at once gives the same root as applying them one at a time through the FS API,
whenever every rewritten region is shorter than the chunker's minimum chunk (see
regions.py for why, and for what holds beyond that). With pack=True (the default) whole
files share chunks, so the root differs while the contents are the same. A truncate below
a file's buffered end first chunks that file's buffered bytes, as one-at-a-time writes
would have, so that the truncated extents are the same.

Not thread-safe. Paths are parsed tuples (keys.parse_path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Callable

from gotfs import dirs, files, keys, packing, regions
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.pieces import DirtyFile
from gotfs.regions import Plan
from gotfs.tx import Tx
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotkv.blobs.ref import Ref


MAX_BUFFERED = 64 << 20  # bytes of writes at offsets held in memory before a spill


def _under(path: Path, top: Path) -> bool:
    return path[:len(top)] == top


class Staging:
    """Changes to `root` not yet committed; `flush()` makes them one new root. See the module
    docstring. Errors are those of the FS method of the same name, raised at the call
    (never at flush, but for reading a source or the store's errors)."""

    def __init__(self, fs: FS, root: Root, *, pack: bool = True, max_buffered: int = MAX_BUFFERED):
        self.fs = fs
        self.tx = Tx(fs, root)
        self.pack = pack
        self.max_buffered = max_buffered
        self.buffered = 0  # bytes in _buffers
        self._buffers: dict[Path, DirtyFile] = {}  # writes at offsets, per file
        self._sources: dict[Path, Plan] = {}  # whole files to stream in (in key order at flush)

    def __bool__(self) -> bool:
        """Whether anything is staged."""
        return bool(self._buffers or self._sources or len(self.tx.batch))

    # -- file data -----------------------------------------------------------------------

    def write(self, path: Path, offset: int, data: bytes) -> None:
        """Buffer `data` at `offset` of the file (past the end leaves a hole). O(d) node
        reads for the check, O(log pieces) to buffer; `data` is kept, not copied, unless it
        is mutable; past `max_buffered` bytes, every buffer is spilled (chunked) at once.
        Raises what FS.write_at raises."""
        files.check_write(offset, data)
        self.tx.require_file(path)
        if not data:
            return
        self._settle_source(path)
        buffered = self._buffers.get(path)
        if buffered is None:
            buffered = self._buffers[path] = DirtyFile()
        self.buffered += buffered.write(offset, data if isinstance(data, bytes) else bytes(data))
        if self.buffered > self.max_buffered:
            self._run([self._plan(path) for path in list(self._buffers)])

    def write_file(self, path: Path, data: bytes | BinaryIO | Callable[[], BinaryIO], *,
                   mode: int = 0o644, mtime_ns: int | None = None, overwrite: bool = True,
                   size_hint: int | None = None, tag: object = None) -> None:
        """Create or replace a regular file with `data`: bytes, a binary stream or a function
        that opens one (called at flush). A replaced file keeps its xattrs. Raises what
        FS.write_file raises; a stream's own errors surface at flush."""
        opener = files.opener(data)
        old = files.check_new(self.tx, path, overwrite)
        if old is not None:
            self.tx.delete_span(keys.extents_span(path))
        self._forget(path)
        info = Info.file(mode, 0, xattrs=old.xattrs if old else (), mtime_ns=mtime_ns)
        self.tx.put_info(path, info)
        if size_hint is None:
            size_hint = len(data) if isinstance(data, (bytes, bytearray, memoryview)) else packing.ALONE
        # (its old extents went above: nothing to clear at apply)
        self._sources[path] = Plan(path, mtime_ns, opener, size_hint, tag, clear=False, info=info)

    def put_file(self, path: Path, info: Info, *, extents: list[tuple[int, Extent]] | None = None,
                 source: Callable[[], BinaryIO] | None = None, size_hint: int = 0, tag: object = None) -> None:
        """Record a new file unchecked: `info` with known `extents` (data already stored), or
        with the contents `source` opens at flush (its size replaces info's). For building
        a tree from a scan: `path` must not exist yet and its parent must be a directory
        staged or in the base. Cost: O(extents) batch edits; no node reads."""
        if extents and source is not None:
            raise ValueError("put_file takes known extents or a source, not both")
        self.tx.put_info(path, info)
        for end, extent in extents or ():
            self.tx.put_extent(path, end, extent)
        if source is not None:
            self._sources[path] = Plan(path, info.mtime_ns, source, size_hint, tag, clear=False, info=info)

    def put_info(self, path: Path, info: Info) -> None:
        """Record an Info unchecked: a directory, symlink or special file, or a path's new
        attributes. For building a tree from a scan, as put_file. O(1), no node reads."""
        self.tx.put_info(path, info)

    def truncate(self, path: Path, size: int) -> None:
        """Cut the file to `size` bytes or extend it with a hole. Cost: O(d) node reads, and
        below the file's buffered end, chunking its buffered bytes now."""
        files.check_count(size, "size")
        info = self.tx.require_file(path)
        self._settle_source(path)
        buffered = self._buffers.get(path)
        if buffered and size < max(info.size, buffered.end):
            self._settle(path)
        files.truncate(self.tx, path, size)

    # -- names and attributes (their buffers follow them) -------------------------------

    def create(self, path: Path, mode: int = 0o644, **kw) -> Info:
        """FS.create, staged."""
        return files.create(self.tx, path, mode, **kw)

    def mkdir(self, path: Path, mode: int = 0o755, **kw) -> None:
        """FS.mkdir, staged."""
        dirs.mkdir(self.tx, path, mode, **kw)

    def remove(self, path: Path, *, recursive: bool = False) -> None:
        """FS.remove, staged: buffered data under `path` is dropped."""
        dirs.remove(self.tx, path, recursive=recursive)
        self._forget(path, below=True)

    def rename(self, src: Path, dst: Path) -> None:
        """FS.rename, staged: buffered data under `src` moves with it, under a replaced
        `dst` is dropped. Cost: as FS.rename, plus O(buffered files)."""
        dirs.rename(self.tx, src, dst)  # checks everything before it changes anything
        if src == dst:
            return
        self._forget(dst, below=True)
        for table in (self._buffers, self._sources):
            for old in [p for p in table if _under(p, src)]:
                item = table.pop(old)
                new = dst + old[len(src):]
                if isinstance(item, Plan):
                    item.path = new
                table[new] = item

    def set_attrs(self, path: Path, **kw) -> Info:
        """files.set_attrs, staged (mode, mtime_ns, set_xattrs, remove_xattrs)."""
        info = files.set_attrs(self.tx, path, **kw)
        source = self._sources.get(path)
        if source is not None:
            source.info = info  # (what apply starts from)
            if kw.get("mtime_ns") is not None:
                source.mtime_ns = kw["mtime_ns"]  # an explicit time beats the staged file's
        return info

    # -- flushing -----------------------------------------------------------------------

    def flush(self, on_chunked: Callable[[object, int, list[tuple[int, Extent]]], None] | None = None, *,
              known: dict[bytes, Ref] | None = None) -> Root:
        """Everything staged as one new root; the staging then continues from it.

        Cost: chunking and sealing the buffered bytes and sources (blob writes for chunks
        not stored yet; reads of the extents that regions rewrite), then one gotkv mutate:
        O(changed keys x d) node writes. `on_chunked(tag, size, extents)` is called for each
        tagged whole file as soon as its chunks are posted. Nothing is durable until the
        store is flushed. On an error nothing is committed, and the staging must not be used
        again (blobs it posted are left for gc). `known`: chunks already stored, not sealed
        again (DataStore.write_many).
        """
        plans = [self._plan(path) for path in list(self._buffers)] + list(self._sources.values())
        self._sources.clear()

        def chunked(p: Plan) -> None:
            if p.tag is not None:
                on_chunked(p.tag, p.size, p.extents)

        self._run(plans, chunked if on_chunked is not None else None, known)
        root = self.tx.commit()
        self.tx = Tx(self.fs, root)
        return root

    def _streams(self, wholes: list[Plan]):
        """Whole files in packing groups (packing.py) in key order, as TreeBuild makes them, so
        the root does not depend on the order files were staged in; or each alone without packing."""
        if not self.pack:
            return ([p] for p in wholes)
        wholes = sorted(wholes, key=lambda p: keys.info_key(p.path))  # as TreeBuild: staging order never shows
        return packing.groups(wholes, lambda p: b"/".join(p.path), lambda p: p.size_hint,
                              self.fs.kv.params.salt)

    def _plan(self, path: Path) -> Plan:
        """Take one file's buffered writes out of the buffers, as a plan (regions.plan)."""
        buffered = self._buffers.pop(path)
        self.buffered -= buffered.nbytes
        return regions.plan(self.tx, path, buffered, whole=self.pack)

    def _run(self, plans: list[Plan], on_chunked: Callable[[Plan], None] | None = None,
             known: dict[bytes, Ref] | None = None) -> None:
        """Chunk the plans (in bulk, on the sealing threads) and put them in the transaction."""
        regions.chunk(self.fs.data, plans, streams=self._streams, on_chunked=on_chunked, known=known)
        for p in plans:
            regions.apply(self.tx, p.path, p)

    def _settle(self, path: Path) -> None:
        """Chunk one file's buffered writes into the transaction now."""
        self._run([self._plan(path)])

    def _settle_source(self, path: Path) -> None:
        """A whole file is to be written into: stream it in first."""
        p = self._sources.pop(path, None)
        if p is not None:
            self._run([p])

    def _forget(self, path: Path, *, below: bool = False) -> None:
        """Drop the buffered data of `path` (and with `below`, of every path under it)."""
        for table in (self._buffers, self._sources):
            for p in [p for p in table if p == path or (below and _under(p, path))]:
                item = table.pop(p)
                if table is self._buffers:
                    self.buffered -= item.nbytes

