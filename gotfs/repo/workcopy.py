"""WorkCopy: the working directory against the repo — snapshot, status, checkout.

The stat cache (SQLite, `.got/workcopy.sqlite`) remembers, per path, the file's stat
signature (size, mtime, ctime, inode, mode), the BLAKE3 of its content, and the gotfs entries
(Info + extents) it was stored as. A file whose signature is unchanged is neither read nor
re-chunked: a no-change commit of 100k files is a directory scan plus a tree build.
Signatures of files modified in the last two seconds are not trusted ("racily clean", as in
git): a later write within the same timestamp tick could otherwise go unnoticed.

Commits do not record mtimes or xattrs (like git), so checking out a tree and committing it
again gives the same root.
"""

from __future__ import annotations

import os
import sqlite3
import stat as st
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import blake3

from gotfs import keys
from gotfs.diff import ADDED, MODIFIED, REMOVED, diff as fs_diff
from gotfs.dirs import walk
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.repo.errors import DirtyWorkingCopy
from gotfs.repo.ignore import Ignore
from gotfs.repo.materialize import Materializer
from gotfs.staging import Staging
from gotfs.tx import Tx
from gotkv.root import Root

RACY_NS = 2_000_000_000
_SCHEMA = "CREATE TABLE IF NOT EXISTS files(path BLOB PRIMARY KEY, sig BLOB, hash BLOB, entries BLOB)"


@dataclass(slots=True)
class HostEntry:
    """One path found in the working directory."""

    path: keys.Path
    stat: os.stat_result
    target: bytes = b""

    @property
    def is_dir(self) -> bool:
        return st.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return st.S_ISREG(self.stat.st_mode)

    def info(self, size: int | None = None) -> Info:
        mode = st.S_IMODE(self.stat.st_mode)
        if self.is_dir:
            return Info.dir(mode)
        if self.is_file:
            return Info.file(mode, self.stat.st_size if size is None else size)
        return Info.symlink(self.target)


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: str  # added / removed / modified


def signature(s: os.stat_result) -> bytes:
    return b"%d:%d:%d:%d:%d" % (s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_mode)


def _encode_entries(info: Info, extents: list[tuple[int, Extent]]) -> bytes:
    parts = [len(extents).to_bytes(4, "little")]
    for end, e in extents:
        raw = e.to_bytes()
        parts += [end.to_bytes(8, "little"), len(raw).to_bytes(1, "little"), raw]
    return b"".join(parts) + info.to_bytes()


def _decode_entries(blob: bytes) -> tuple[Info, list[tuple[int, Extent]]]:
    n = int.from_bytes(blob[:4], "little")
    o = 4
    extents = []
    for _ in range(n):
        end = int.from_bytes(blob[o:o + 8], "little")
        size = blob[o + 8]
        extents.append((end, Extent.from_bytes(blob[o + 9:o + 9 + size])))
        o += 9 + size
    return Info.from_bytes(blob[o:]), extents


class _HashingReader:
    """A file reader that hashes what passes through, so content is read only once."""

    def __init__(self, path: Path):
        self.f = open(path, "rb", buffering=0)
        self.hash = blake3.blake3()

    def readinto(self, buf) -> int:
        n = self.f.readinto(buf)
        if n:
            self.hash.update(memoryview(buf)[:n])
        return n

    def close(self) -> None:
        self.f.close()


class WorkCopy:
    """The working directory of a Repo."""

    def __init__(self, repo):
        self.repo = repo
        self.fs = repo.fs
        self.root = repo.workdir
        self.db = sqlite3.connect(repo.dot / "workcopy.sqlite", timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- scanning ----------------------------------------------------------------------

    def scan(self, under: keys.Path = ()) -> Iterator[HostEntry]:
        """Every path below the working directory that a commit would record, unordered."""
        ignore = Ignore.load(self.root)
        stack = [under]
        while stack:
            rel = stack.pop()
            host = self.root.joinpath(*[os.fsdecode(p) for p in rel]) if rel else self.root
            with os.scandir(host) as it:
                for d in it:
                    name = os.fsencode(d.name)
                    path = rel + (name,)
                    s = d.stat(follow_symlinks=False)
                    is_dir = st.S_ISDIR(s.st_mode)
                    if ignore.ignored(os.fsdecode(b"/".join(path)), is_dir):
                        continue
                    if is_dir:
                        yield HostEntry(path, s)
                        stack.append(path)
                    elif st.S_ISREG(s.st_mode):
                        yield HostEntry(path, s)
                    elif st.S_ISLNK(s.st_mode):
                        yield HostEntry(path, s, os.fsencode(os.readlink(d.path)))

    def host_path(self, path: keys.Path) -> Path:
        return self.root.joinpath(*[os.fsdecode(p) for p in path])

    def _cached(self) -> dict[bytes, tuple[bytes | None, bytes, bytes]]:
        return {row[0]: row[1:] for row in self.db.execute("SELECT path, sig, hash, entries FROM files")}

    def _remember(self, rows: list[tuple[bytes, bytes | None, bytes, bytes]], forget=()) -> None:
        """Store rows; drop the rows of `forget` (paths no longer files here), so that gc does
        not keep the data of files that left the working directory alive forever."""
        self.db.execute("BEGIN")
        self.db.executemany("DELETE FROM files WHERE path=?", [(p,) for p in forget])
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", rows)
        self.db.execute("COMMIT")

    def _trusted_sig(self, s: os.stat_result, now_ns: int) -> bytes | None:
        return None if now_ns - s.st_mtime_ns < RACY_NS else signature(s)

    # -- snapshot ----------------------------------------------------------------------

    def snapshot(self, progress: Callable[[int, int], None] | None = None) -> Root:
        """The working directory as a filesystem root (data of changed files is stored).

        Staged from the scan (gotfs.staging): unchanged files by their cached extents,
        changed ones streamed from disk at flush, in packing groups."""
        now = time.time_ns()
        cache = self._cached()
        staging = Staging(self.fs, self.fs.kv.empty())
        staging.tx.put_info((), Info.dir(0o755))
        files: set[bytes] = set()
        readers: dict[bytes, _HashingReader] = {}

        def opener(e: HostEntry):
            return lambda: readers.setdefault(b"/".join(e.path), _HashingReader(self.host_path(e.path)))

        for e in self.scan():
            if not e.is_file:
                staging.tx.put_info(e.path, e.info())
                continue
            raw = b"/".join(e.path)
            files.add(raw)
            row = cache.get(raw)
            if row is not None and row[0] is not None and row[0] == signature(e.stat):
                info, extents = _decode_entries(row[2])
                staging.put_file(e.path, info, extents=extents)
            else:
                staging.put_file(e.path, e.info(), source=opener(e), size_hint=e.stat.st_size, tag=e)
        rows = []
        done = [0, 0]  # files, bytes

        def chunked(e: HostEntry, size: int, extents: list[tuple[int, Extent]]) -> None:
            raw = b"/".join(e.path)
            reader = readers.pop(raw)
            rows.append((raw, self._trusted_sig(e.stat, now), reader.hash.digest(),
                         _encode_entries(e.info(size), extents)))
            done[0] += 1
            done[1] += size
            if progress:
                progress(*done)

        root = staging.flush(chunked)
        # The cache must never name blobs that are not durable: a process killed after
        # remembering but before the store's flush would hand lost extents to the next commit.
        self.fs.store.flush()
        self._remember(rows, forget=cache.keys() - files)
        return root

    # -- status ------------------------------------------------------------------------

    def tracked(self, root: Root) -> dict[bytes, tuple[Info, list[tuple[int, Extent]]]]:
        """Every path of a root (root dir excluded) with its Info and extents."""
        out: dict[bytes, tuple[Info, list]] = {}
        for k, v in self.fs.kv.iterate(root):
            if keys.is_extent_key(k):
                path = b"/".join(keys.path_of(k))
                out[path][1].append((keys.extent_end(k), Extent.from_bytes(v)))
            elif k != b"/":
                out[b"/".join(keys.path_of(k))] = (Info.from_bytes(v), [])
        return out

    def status(self, base: Root) -> list[Change]:
        """Paths where the working directory differs from `base`, in path order."""
        now = time.time_ns()
        tracked = self.tracked(base)
        cache = self._cached()
        changes: list[Change] = []
        refreshed = []
        seen = set()
        for e in self.scan():
            raw = b"/".join(e.path)
            seen.add(raw)
            old = tracked.get(raw)
            if old is None:
                changes.append(Change(os.fsdecode(raw), ADDED))
                continue
            info, extents = old
            if not self._same(e, info, extents, cache.get(raw), now, refreshed):
                changes.append(Change(os.fsdecode(raw), MODIFIED))
        for raw in tracked.keys() - seen:
            changes.append(Change(os.fsdecode(raw), REMOVED))
        if refreshed:
            self._remember(refreshed)
        return sorted(changes, key=lambda c: keys.info_key(keys.parse_path(c.path)))

    def dirty(self, base: Root, paths: list[str]) -> list[str]:
        """Those of `paths` that status(base) would list, looking at those paths only: one
        lstat each (plus a read of a file whose stat signature changed), not a scan of the
        whole directory, so a merge touching 20 paths of a 100k-file tree checks 20."""
        now = time.time_ns()
        ignore = Ignore.load(self.root)
        tx = Tx(self.fs, base)
        out, refreshed = [], []
        for text in paths:
            p = keys.parse_path(text)
            if not p:
                continue
            info = tx.info(p)
            e = self._host_entry(p, ignore)
            if e is None or info is None:
                if (e is None) != (info is None):
                    out.append(text)
                continue
            extents = [(end, x) for _, end, x in tx.extents(p)]
            row = self.db.execute("SELECT sig, hash, entries FROM files WHERE path=?", (b"/".join(p),)).fetchone()
            if not self._same(e, info, extents, row, now, refreshed):
                out.append(text)
        if refreshed:
            self._remember(refreshed)
        return out

    def _host_entry(self, path: keys.Path, ignore: Ignore) -> HostEntry | None:
        """The host path as scan() would yield it, or None (missing, or hidden by .gotignore)."""
        try:
            s = os.lstat(self.host_path(path))
            if not all(st.S_ISDIR(os.lstat(self.host_path(path[:i])).st_mode) for i in range(1, len(path))):
                return None  # below a symlink or a file: scan() never gets there
        except (FileNotFoundError, NotADirectoryError):
            return None
        for i in range(1, len(path) + 1):
            is_dir = i < len(path) or st.S_ISDIR(s.st_mode)
            if ignore.ignored(os.fsdecode(b"/".join(path[:i])), is_dir):
                return None
        if not (st.S_ISDIR(s.st_mode) or st.S_ISREG(s.st_mode) or st.S_ISLNK(s.st_mode)):
            return None
        target = os.fsencode(os.readlink(self.host_path(path))) if st.S_ISLNK(s.st_mode) else b""
        return HostEntry(path, s, target)

    def _same(self, e: HostEntry, info: Info, extents, row, now: int, refreshed: list) -> bool:
        """Does the host path hold what the tree records? Reads content only when it must."""
        if e.is_dir or not e.is_file:
            return e.info().to_bytes() == info.to_bytes()
        if not info.is_file or st.S_IMODE(e.stat.st_mode) != info.mode or e.stat.st_size != info.size:
            return False
        stored = _encode_entries(Info.file(info.mode, info.size), extents)
        if row is not None and row[0] == signature(e.stat) and row[2] == stored:
            return True
        tree_hash = row[1] if row is not None and row[2] == stored else self._tree_hash(extents)
        host_hash = self._host_hash(e.path)
        if host_hash != tree_hash:
            return False
        refreshed.append((b"/".join(e.path), self._trusted_sig(e.stat, now), host_hash, stored))
        return True

    def _host_hash(self, path: keys.Path) -> bytes:
        h = blake3.blake3()
        with open(self.host_path(path), "rb", buffering=0) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.digest()

    def _tree_hash(self, extents) -> bytes:
        h = blake3.blake3()
        pos = 0
        for end, extent in extents:
            start = end - extent.length
            if start > pos:
                h.update(bytes(start - pos))
            h.update(self.fs.data.read_extent(extent))
            pos = end
        return h.digest()

    # -- checkout ----------------------------------------------------------------------

    def checkout(self, base: Root, target: Root, *, force: bool = False, paths: list[str] | None = None) -> list[Change]:
        """Make the working directory hold `target` (or just `paths` of it); return what changed.

        Refuses (DirtyWorkingCopy) when a path it must touch has uncommitted changes against
        `base`, unless force. Never writes outside the working directory.
        """
        if paths:
            wanted = [keys.parse_path(p) for p in paths]
            plan = self._plan_paths(target, wanted)
        else:
            plan = [Change(c.path, c.kind) for c in fs_diff(self.fs, base, target)]
            dirty = {c.path for c in self.status(base)}
            conflicts = [c.path for c in plan if c.path in dirty]
            if conflicts and not force:
                raise DirtyWorkingCopy(conflicts)
            if force:
                plan = self._with_dirty_resets(plan, dirty, target)
        self._apply(plan, target)
        return plan

    def write_paths(self, target: Root, plan: list[Change]) -> None:
        """Make each path of `plan` hold what `target` holds (REMOVED: delete it from the host),
        with no check for local edits: for callers that made that check themselves or own
        those paths (a merge writing its result, and `merge --abort` putting them back)."""
        self._apply(plan, target)

    def _plan_paths(self, target: Root, wanted: list[keys.Path]) -> list[Change]:
        plan = []
        tx = Tx(self.fs, target)
        for p in wanted:
            for path, _ in walk(tx, p):
                plan.append(Change(keys.show(path), MODIFIED))
        return plan

    def _with_dirty_resets(self, plan: list[Change], dirty: set[str], target: Root) -> list[Change]:
        """--force: also reset tracked paths with local edits; untracked files stay, as in git."""
        planned = {c.path for c in plan}
        tx = Tx(self.fs, target)
        for path in sorted(dirty - planned):
            if tx.info(keys.parse_path(path)) is not None:
                plan.append(Change(path, MODIFIED))
        return plan

    def _apply(self, plan: list[Change], target: Root) -> None:
        now = time.time_ns()
        m = Materializer(self.fs, target, self.root)
        removed = [c for c in plan if c.kind == REMOVED]
        for c in sorted(removed, key=lambda c: c.path.count("/"), reverse=True):
            m.remove(keys.parse_path(c.path))
        rows = []
        forget = [os.fsencode(c.path) for c in removed]
        for c in sorted((c for c in plan if c.kind != REMOVED), key=lambda c: keys.info_key(keys.parse_path(c.path))):
            path = keys.parse_path(c.path)
            written = m.write(path)
            if written is not None:
                info, extents, digest = written
                s = os.lstat(self.host_path(path))
                rows.append((b"/".join(path), self._trusted_sig(s, now), digest,
                             _encode_entries(info, extents)))
        self._remember(rows, forget)

    def referenced_cids(self) -> set[bytes]:
        """Data blobs the stat cache may hand to the next commit; gc keeps them."""
        out = set()
        for (blob,) in self.db.execute("SELECT entries FROM files"):
            out.update(e.ref.cid for _, e in _decode_entries(blob)[1])
        return out
