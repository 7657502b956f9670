"""The intent journal: what a read-write mount's fsync made durable without publishing a root.

A full flush (chunk the file's bytes, commit the tree, sync the store, record the root) costs
far more than a program's fsync of a few KiB appended to a file. So fsync of a file appends
to a journal instead: the changes of names not journaled yet (creates, removes, renames,
each with the Infos it left), the file's writes, truncates and attribute changes not
journaled yet, then its Info as it stands; and one fdatasync. The expensive flush happens later (a close, the timer, `got commit`, unmount);
once it is published the journal is obsolete and is emptied.

File layout: one *segment*, a header record naming the published root it applies on top of
(its base), then one record per journaling fsync, then a zero length (the end). A record is
framed as `u32 length + body`; the body is sealed with a key derived from the repository secret
(gotkv.blobs.remote.seal's Sealer, with this journal's own key context), each record bound
to its segment and position by the AEAD's associated data, so records cannot be moved
between segments or reordered. An unencrypted repository stores the plaintext followed by
its BLAKE3 hash. A record that is cut short or fails its check ends the segment: a torn
append (a crash mid-write) loses only that last fsync, which had not returned.

The file is overwritten in place, never shortened: a publish empties it by an end marker at
offset 0, a new segment starts there over the old one (whose base that publish superseded),
and the file grows by zeros, `_EXTEND` bytes at a time, ahead of the appends. An fdatasync of
bytes written inside the file's size commits no metadata (the size and the block map do not
change), which on ext4 saves a journal commit per fsync (figures: docs/benchmarks.md,
"Programs in a read-write mount"). Whatever lies past a segment's end (zeros, or an older
segment's records, which fail their check: bound to another segment) is never taken for a
record of it.

Replay (`replay`) applies a segment's records to its base through the region phases
(gotfs/regions.py) the mount's own flush uses, so it yields the root a full flush of the same
changes would have published. Who replays, and when, is gotfs/repo/recovery.py's business.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from dataclasses import dataclass, field

from gotfs import dirs, files, regions
from gotfs.info import Info
from gotfs.keys import Path
from gotfs.pieces import DirtyFile
from gotfs.tx import Tx
from gotkv.errors import IntegrityError
from gotkv.osio import pwrite_all
from gotkv.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gotfs.fs import FS

log = logging.getLogger(__name__)

_MAGIC = b"got intent journal 1\n"
_CONTEXT = "got mount intent journal v1"
_HASH = 32  # BLAKE3 digest after an unencrypted body
_SEGMENT_ID = 16
_NO_TIME = (1 << 64) - 1
_END = struct.pack(">I", 0)  # a zero length: the segment ends here
_EXTEND = 1 << 20  # the file grows by this many zeros at a time (see the module docstring)


@dataclass(frozen=True, slots=True)
class Write:
    """Bytes written at an offset, and the time of the write (the file's mtime once flushed)."""

    offset: int
    data: bytes | memoryview
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class SetAttr:
    """A setattr of the file: a truncate to `size` (None: none), and whether it set the mtime
    (which then no longer comes from the writes buffered before it)."""

    size: int | None
    sets_mtime: bool


Op = Write | SetAttr


@dataclass(frozen=True, slots=True)
class Named:
    """A change of names: `kind` "made" (an entry at dst), "removed" (src, with what is
    below it) or "moved" (src to dst, replacing what was there); then `puts`, Infos as they
    stood right after it (the new entry's, the directories whose entries changed, a moved
    entry's unless it is a regular file); a moved regular file takes `ctime_ns` instead
    (its size and mtime are its data's, which its own records bring)."""

    kind: str
    src: Path | None
    dst: Path | None
    puts: tuple[tuple[Path, Info], ...]
    ctime_ns: int | None = None


@dataclass(slots=True)
class FileRecord:
    """One fsync's entry: the changes of names not journaled yet (applied first), then the
    file's changes since what the journal already held, and its Info as it stood at the
    fsync (mode, times, owner, xattrs; its size before buffered writes)."""

    path: Path
    ops: list[Op]
    info: Info
    names: list[Named] = field(default_factory=list)


@dataclass(slots=True)
class Segment:
    """What `read` found: the base root and every whole record (`problem` says why the rest,
    if any, was ignored)."""

    base: Root
    records: list[FileRecord] = field(default_factory=list)
    problem: str | None = None


# -- encoding ----------------------------------------------------------------------------

_KINDS = {"made": b"m", "removed": b"r", "moved": b"v"}
_KIND_OF = {v: k for k, v in _KINDS.items()}


def _path_bytes(path: Path | None) -> bytes:
    if path is None:
        return struct.pack(">H", 0xFFFF)
    return struct.pack(">H", len(path)) + b"".join(struct.pack(">I", len(c)) + c for c in path)


def _info_bytes(info: Info) -> bytes:
    raw = info.to_bytes()
    return struct.pack(">I", len(raw)) + raw


def _encode_record(rec: FileRecord) -> bytes:
    parts = [struct.pack(">I", len(rec.names))]
    for n in rec.names:
        ctime = _NO_TIME if n.ctime_ns is None else n.ctime_ns
        parts += [_KINDS[n.kind], _path_bytes(n.src), _path_bytes(n.dst), struct.pack(">QH", ctime, len(n.puts))]
        for path, info in n.puts:
            parts += [_path_bytes(path), _info_bytes(info)]
    parts.append(_path_bytes(rec.path))
    parts.append(_info_bytes(rec.info))
    parts.append(struct.pack(">I", len(rec.ops)))
    for op in rec.ops:
        if isinstance(op, Write):
            parts.append(struct.pack(">cQQI", b"w", op.offset, op.mtime_ns, len(op.data)))
            parts.append(bytes(op.data))
        else:
            size = _NO_TIME if op.size is None else op.size
            parts.append(struct.pack(">cQ?", b"a", size, op.sets_mtime))
    return b"".join(parts)


def _decode_record(body: bytes) -> FileRecord:
    at = 0

    def take(fmt: str) -> tuple:
        nonlocal at
        vals = struct.unpack_from(fmt, body, at)
        at += struct.calcsize(fmt)
        return vals

    def blob(n: int) -> bytes:
        nonlocal at
        if at + n > len(body):
            raise ValueError("short record")
        at += n
        return body[at - n:at]

    def path_of() -> Path | None:
        (n,) = take(">H")
        return None if n == 0xFFFF else tuple(blob(take(">I")[0]) for _ in range(n))

    def info_of() -> Info:
        return Info.from_bytes(blob(take(">I")[0]))

    names = []
    for _ in range(take(">I")[0]):
        kind = _KIND_OF[blob(1)]
        src, dst = path_of(), path_of()
        ctime, nputs = take(">QH")
        puts = tuple((path_of(), info_of()) for _ in range(nputs))
        names.append(Named(kind, src, dst, puts, None if ctime == _NO_TIME else ctime))
    path = path_of()
    info = info_of()
    ops: list[Op] = []
    for _ in range(take(">I")[0]):
        (kind,) = take(">c")
        if kind == b"w":
            off, mtime, length = take(">QQI")
            ops.append(Write(off, blob(length), mtime))
        elif kind == b"a":
            size, sets = take(">Q?")
            ops.append(SetAttr(None if size == _NO_TIME else size, sets))
        else:
            raise ValueError(f"unknown op {kind!r}")
    if at != len(body):
        raise ValueError("trailing bytes in a record")
    return FileRecord(path, ops, info, names)


class _Box:
    """Seals (or, unencrypted, checksums) one body, bound to its segment and position."""

    def __init__(self, secret: bytes | None):
        self._sealer = None
        if secret is not None:
            from gotkv.blobs.remote.seal import Sealer
            self._sealer = Sealer(secret, context=_CONTEXT)

    @staticmethod
    def _aad(segment: bytes, index: int) -> bytes:
        return _MAGIC + segment + struct.pack(">Q", index)

    def seal(self, body: bytes, segment: bytes, index: int) -> bytes:
        if self._sealer is not None:
            return self._sealer.seal(body, aad=self._aad(segment, index))
        import blake3
        return body + blake3.blake3(self._aad(segment, index) + body).digest()

    def open(self, sealed: bytes, segment: bytes, index: int) -> bytes:
        if self._sealer is not None:
            return self._sealer.open(sealed, what=f"journal record {index}", aad=self._aad(segment, index))
        import blake3
        body, digest = sealed[:-_HASH], sealed[-_HASH:]
        if len(sealed) < _HASH or blake3.blake3(self._aad(segment, index) + body).digest() != digest:
            raise IntegrityError(f"journal record {index}", "checksum mismatch")
        return body


def _frame(sealed: bytes) -> bytes:
    return struct.pack(">I", len(sealed)) + sealed


# -- writing -----------------------------------------------------------------------------

class Journal:
    """The writing end of one mount's journal file. Not thread-safe: the mount serialises
    calls (its flush lock). Each `append` costs one write and one fdatasync of the record.

    One writer per file: `claim` takes an exclusive flock, held until `close` (or the
    process's death), so a second mount of the branch goes without a journal and recovery
    never replays a journal a live mount still writes (`owned`)."""

    def __init__(self, path: str | os.PathLike, secret: bytes | None):
        self.path = os.fspath(path)
        self._box = _Box(secret)
        self._fd: int | None = None
        self._segment: bytes | None = None  # the current segment's id (None: none begun)
        self._index = 0
        self._end = 0  # where the current segment's next record goes (its end marker's place)
        self._size = 0  # the file's size: bytes before it are overwritten in place

    def claim(self) -> bool:
        """Open the file and lock it for this writer; False (and nothing held) if another
        process holds it."""
        if self._fd is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            self._size = os.fstat(fd).st_size
        return True

    def _open(self) -> int:
        if self._fd is None and not self.claim():
            raise OSError(f"the journal {self.path} is held by another process")
        return self._fd

    @property
    def end(self) -> int:
        """Where the current segment ends (its end marker; 0 when none is begun)."""
        return self._end if self._segment is not None else 0

    @property
    def begun(self) -> bool:
        """True once a segment is begun (and until `reset`)."""
        return self._segment is not None

    def append(self, rec: FileRecord, *, base: Root | None = None) -> None:
        """Make `rec` durable. `base` (required when no segment is begun) begins a new segment
        on that root, over whatever the file held: header and record land with one
        fdatasync. Raises OSError when the disk refuses; the caller then must not count on it
        (nor on the segment: the next append begins a new one)."""
        fd = self._open()
        out = []
        if self._segment is None:
            if base is None:
                raise ValueError("a journal's first record needs the root it applies on")
            segment = os.urandom(_SEGMENT_ID)
            header = _MAGIC + segment + str(base).encode()
            out.append(_frame(self._box.seal(header, b"", 0)))
            at, index = 0, 1
        else:
            segment, at, index = self._segment, self._end, self._index
        out.append(_frame(self._box.seal(_encode_record(rec), segment, index)))
        out.append(_END)
        data = b"".join(out)
        stop = at + len(data)
        if stop > self._size:  # grow by zeros ahead, so that the next appends overwrite
            size = -(-stop // _EXTEND) * _EXTEND
            data += bytes(size - stop)
        self._segment = None  # until this append is on disk
        pwrite_all(fd, data, at)
        self._size = max(self._size, at + len(data))
        os.fdatasync(fd)
        self._segment, self._index, self._end = segment, index + 1, stop - len(_END)

    def reset(self) -> None:
        """The base was superseded by a published root: empty the journal, by an end marker
        at its start (no sync needed: a segment on a superseded base is dropped at replay
        anyway). The next append begins a new segment there."""
        self._segment = None
        if self._fd is not None and self._size:
            os.pwrite(self._fd, _END, 0)

    def close(self, *, remove: bool = False) -> None:
        """Close the file; with remove=True (nothing left to replay) delete it too."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._segment = None
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


# -- reading and replay ----------------------------------------------------------------

def owned(path: str | os.PathLike) -> bool:
    """True if a live writer holds the journal at `path` (see Journal.claim)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (releases the probe's lock)
    return False


def read(path: str | os.PathLike, secret: bytes | None) -> Segment | None:
    """The segment in the journal file at `path`: its base and every whole record, up to the
    first that is cut short or fails its check (Segment.problem says which). None if there is
    no file, it is empty, or its header itself is unreadable (logged). Cost: reads the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    if not raw:
        return None
    box = _Box(secret)
    bodies, problem = _bodies(raw)
    if not bodies and problem is None:  # emptied (Journal.reset)
        return None
    if not bodies:
        log.warning("journal %s: no whole header (%s); ignored", path, problem or "empty")
        return None
    try:
        header = box.open(bodies[0], b"", 0)
        if not header.startswith(_MAGIC) or len(header) <= len(_MAGIC) + _SEGMENT_ID:
            raise ValueError("not a got journal header")
        segment = header[len(_MAGIC):len(_MAGIC) + _SEGMENT_ID]
        base = Root.parse(header[len(_MAGIC) + _SEGMENT_ID:].decode())
    except Exception as e:  # (IntegrityError, ValueError, and whatever a bad root text raises)
        log.warning("journal %s: unreadable header (%s); ignored", path, e)
        return None
    seg = Segment(base)
    for i, sealed in enumerate(bodies[1:], start=1):
        try:
            seg.records.append(_decode_record(box.open(sealed, segment, i)))
        except Exception as e:
            problem = f"record {i} {e}"
            break
    if problem is not None:
        seg.problem = problem
        log.warning("journal %s: %s; replaying the %d whole records before it", path, problem, len(seg.records))
    return seg


def _bodies(raw: bytes) -> tuple[list[bytes], str | None]:
    """Split the framed bodies off `raw`; the problem with a cut-short tail, if any."""
    out = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            return out, f"a torn length at byte {at}"
        (n,) = struct.unpack_from(">I", raw, at)
        if n == 0:  # the end marker (what follows is zeros or an older segment)
            return out, None
        if at + 4 + n > len(raw):
            return out, f"a torn record at byte {at} ({len(raw) - at - 4} of {n} bytes)"
        out.append(raw[at + 4:at + 4 + n])
        at += 4 + n
    return out, None


def _rename_dirty(dirty: dict[Path, DirtyFile], n: Named) -> None:
    """Buffered bytes follow their file across a change of names, and go with it."""
    if n.kind == "made":
        return
    gone = [p for p in dirty if p[:len(n.src)] == n.src or (n.dst is not None and p[:len(n.dst)] == n.dst)]
    moved = {n.dst + p[len(n.src):]: dirty[p] for p in gone if n.kind == "moved" and p[:len(n.src)] == n.src}
    for p in gone:
        del dirty[p]
    dirty.update(moved)


def replay(fs: FS, base: Root, records: list[FileRecord], *, gap: int = regions.GROUP_GAP) -> Root:
    """`base` with the records applied, as the mount's flush would have applied the same
    changes: truncates into a transaction at once, writes buffered per file (newest bytes win)
    and put in place by the region phases (plan, chunk, apply). Returns the new root; posts
    the new chunks (durable once the store is flushed). A record for a path that is no longer
    a file in `base` raises what the tree raises (the caller dropped an obsolete journal
    before). Cost: one flush of the journaled bytes."""
    tx = Tx(fs, base)
    dirty: dict[Path, DirtyFile] = {}
    for rec in records:
        for n in rec.names:
            _rename_dirty(dirty, n)
            if n.kind == "removed":
                dirs.remove(tx, n.src, recursive=True)
            elif n.kind == "moved":
                dirs.rename(tx, n.src, n.dst)
                if n.ctime_ns is not None:
                    tx.put_info(n.dst, tx.require(n.dst).with_(ctime_ns=n.ctime_ns))
            for path, info in n.puts:
                tx.put_info(path, info)
        tx.require_file(rec.path)
        df = dirty.setdefault(rec.path, DirtyFile())
        for op in rec.ops:
            if isinstance(op, Write):
                df.write(op.offset, bytes(op.data))
                df.mtime_ns = op.mtime_ns
            else:
                if op.size is not None:
                    df.drop_from(op.size)
                    files.truncate(tx, rec.path, op.size)
                if op.sets_mtime:
                    df.mtime_ns = None
        tx.put_info(rec.path, rec.info)
    plans = [regions.plan(tx, path, df, mtime_ns=df.mtime_ns, gap=gap) for path, df in dirty.items() if df]
    regions.chunk(fs.data, plans)
    for p in plans:
        regions.apply(tx, p.path, p)
    return tx.commit() if len(tx.batch) else base
