"""TreeBuild: a whole new tree staged path by path, then built streaming in one pass.

Staging (staging.py) keeps its edits in a gotkv batch over a base root: right for changes to
a tree, but a tree of 100k files staged that way holds every key and value in memory at
once. A TreeBuild is the bulk mode of the same write path, for a snapshot that builds a tree
from scratch: it takes the same kinds of entries (put_info, put_file with a source, and
put_stored for a file whose entries are already known, loaded only when the build reaches
it), keeps one small record per path, and at flush streams every entry into gotkv's builder
in key order. The sources are chunked in packing groups (packing.py), exactly as Staging
chunks whole files, lazily: a group is read as the build reaches it. Memory: the records,
one packing group's reads in flight, one node per tree level.

By history independence the root is the one a Staging (pack=True) or the FS API makes of
the same paths with the same contents.

Not thread-safe. Paths are parsed tuples (keys.parse_path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator

from gotfs import keys, packing
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.keys import Path

if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotkv.blobs.ref import Ref
    from gotkv.root import Root

Extents = list[tuple[int, Extent]]


# A staged path is a record, in key order at flush: (info key, Info) for a non-file,
# (info key, load) for a stored file, and for a file to read, a _Source: (info key, Info,
# open, size hint, tag), flat, since a build of a big tree holds one per file.
_Source = tuple[bytes, Info, Callable[[], BinaryIO], int, object]


def _raw(source: _Source) -> bytes:
    return b"/".join(keys.path_of(source[0]))


def _hint(source: _Source) -> int:
    return source[3]


def _first(record: tuple) -> bytes:
    return record[0]


class TreeBuild:
    """A new tree, staged path by path, built by `flush()`. Nothing is checked as it is
    staged (as Staging.put_file): every path must be staged once, and every parent must be
    staged as a directory, the root () included; the build refuses duplicate paths
    (gotkv's InvalidInput), and a missing parent makes a tree fsck reports. Memory: a flat
    tuple and the key per staged path (about 150 bytes), besides what the caller's Infos,
    sources, tags and loaders hold."""

    def __init__(self, fs: FS):
        self.fs = fs
        self._records: list[tuple] = []  # see _Source

    def __len__(self) -> int:
        """How many paths are staged."""
        return len(self._records)

    def put_info(self, path: Path, info: Info) -> None:
        """Stage a directory, symlink or special file (no contents). O(1)."""
        self._records.append((keys.info_key(path), info))

    def put_file(self, path: Path, info: Info, *, source: Callable[[], BinaryIO], size_hint: int = 0,
                 tag: object = None) -> None:
        """Stage a regular file whose contents `source` opens at flush (its size replaces
        info's); `size_hint` chooses its packing group, as in Staging.put_file. O(1)."""
        self._records.append((keys.info_key(path), info, source, size_hint, tag))

    def put_stored(self, path: Path, load: Callable[[], tuple[Info, Extents]]) -> None:
        """Stage a regular file whose data is stored already: `load` returns its Info and
        extents when the build reaches it (so a caller staging many keeps them in its own
        compact form until then). O(1)."""
        self._records.append((keys.info_key(path), load))

    def flush(self, on_chunked: Callable[[object, int, Extents], None] | None = None, *,
              known: dict[bytes, Ref] | None = None) -> Root:
        """The staged tree as a new root; the staging is then empty.

        Cost: a sort of the records, chunking and sealing the sources (blob writes for the
        chunks not stored yet), O(entries) node writes. `on_chunked(tag, size, extents)` is
        called for each file with a source as soon as its chunks are posted, in path order,
        while the build goes on. Nothing is durable until the store is flushed. On an error
        nothing is built (blobs posted so far are left for gc). `known`: chunks already
        stored, not sealed again (DataStore.write_many)."""
        records, self._records = self._records, []
        records.sort(key=_first)
        sources = [r for r in records if len(r) == 5]
        return self.fs.kv.build(self._entries(records, self._chunked(sources, on_chunked, known)))

    def _chunked(self, sources: list[_Source], on_chunked, known) -> Iterator[tuple[Info, Extents]]:
        """Each source's Info and extents, in order, chunked in packing groups as asked for."""
        for group in packing.groups(sources, _raw, _hint, self.fs.kv.params.salt):
            for w in self.fs.data.write_many(((source, source[2]) for source in group), known=known):
                _, info, _, _, tag = w.tag
                if on_chunked is not None:
                    on_chunked(tag, w.size, w.extents)
                yield (info if info.size == w.size else info.with_(size=w.size)), w.extents

    @staticmethod
    def _entries(records: list[tuple], written: Iterator[tuple[Info, Extents]]) -> Iterator[tuple[bytes, bytes]]:
        """Every key and value of the tree, in key order (a file's extent keys follow its Info
        key and precede any other path's)."""
        for record in records:
            key, what = record[0], record[1]
            if len(record) == 2 and isinstance(what, Info):
                yield key, what.to_bytes()
                continue
            info, extents = next(written) if len(record) == 5 else what()
            yield key, info.to_bytes()
            path = keys.path_of(key)
            for end, extent in extents:
                yield keys.extent_key(path, end), extent.to_bytes()

