"""Info: what a path is — kind, mode, size, symlink target, xattrs, and optional POSIX extras
(mtime, owner, atime, ctime, device number).

Canonical bytes: the same Info always encodes to the same bytes (xattrs sorted by name), so
equal metadata dedups and diffs compare by bytes. Layout (little endian):

    u8 version | u8 kind | u32 mode | u64 size | u8 flags
    [i64 mtime_ns if flags & 1]
    [u32 uid | u32 gid if flags & 2]      version 2 only, as are the fields below
    [i64 atime_ns if flags & 4]
    [i64 ctime_ns if flags & 8]
    [u64 rdev if flags & 16]
    u16 target length | target
    u16 xattr count | per xattr: u8 name length | name | u32 value length | value

Version 2 added the owner, atime, ctime, rdev and the special kinds (FIFO, SOCKET, CHAR_DEVICE,
BLOCK_DEVICE). An Info that uses none of them is still written as version 1, byte for byte
as before, so trees made before version 2 keep their roots (history independence across the
upgrade) and old Info bytes decode unchanged. Every extra is stored only when it says
something: an absent owner reads as the user serving the tree (the mount's uid/gid), an
absent atime or ctime as the mtime; an atime equal to the mtime, and a ctime not after it
(a ctime never reads earlier than the mtime), are dropped.
"""

from __future__ import annotations

import stat
import struct
from enum import IntEnum

from gotkv.errors import CorruptNode, InvalidInput
from gotkv.value import Value

_HEAD = struct.Struct("<BBIQB")
_MTIME = struct.Struct("<q")
_OWNER = struct.Struct("<II")
_RDEV = struct.Struct("<Q")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
VERSION = 2  # the newest this code writes; see the module docstring for what 1 lacks
_V1_FLAGS = 1  # mtime: all a version-1 Info can carry
_MTIME_F, _OWNER_F, _ATIME_F, _CTIME_F, _RDEV_F = 1, 2, 4, 8, 16
MAX_XATTR_VALUE = 64 << 10


class Kind(IntEnum):
    DIR = 1
    FILE = 2
    SYMLINK = 3
    FIFO = 4  # version 2 on
    SOCKET = 5
    CHAR_DEVICE = 6
    BLOCK_DEVICE = 7


_IFMT = {Kind.DIR: stat.S_IFDIR, Kind.FILE: stat.S_IFREG, Kind.SYMLINK: stat.S_IFLNK, Kind.FIFO: stat.S_IFIFO,
         Kind.SOCKET: stat.S_IFSOCK, Kind.CHAR_DEVICE: stat.S_IFCHR, Kind.BLOCK_DEVICE: stat.S_IFBLK}
_KIND_OF_IFMT = {v: k for k, v in _IFMT.items()}
SPECIAL = frozenset({Kind.FIFO, Kind.SOCKET, Kind.CHAR_DEVICE, Kind.BLOCK_DEVICE})
_DEVICES = frozenset({Kind.CHAR_DEVICE, Kind.BLOCK_DEVICE})
_DECODED_MAX = 4096  # encodings whose Info from_bytes remembers (emptied when full)
_DECODED_BYTES = 512  # ...each at most this long (the table stays under ~4 MiB)
_KINDS = {int(k): k for k in Kind}  # a stored kind number -> Kind, without EnumType.__call__
_U32_MAX = (1 << 32) - 1


class Info(Value):
    """Metadata of one path. `mode` holds permission bits only (type is `kind`).

    uid and gid are both set or both None (the owner serving the tree); atime_ns and ctime_ns
    None mean "the same as mtime_ns" (normalised to None when equal to it, and a ctime when
    before it too); rdev is a device number, for device nodes only.
    """

    __slots__ = ("kind", "mode", "size", "target", "xattrs", "mtime_ns", "uid", "gid", "atime_ns", "ctime_ns",
                 "rdev")
    kind: Kind
    mode: int
    size: int
    target: bytes
    xattrs: tuple[tuple[bytes, bytes], ...]
    mtime_ns: int | None
    uid: int | None
    gid: int | None
    atime_ns: int | None
    ctime_ns: int | None
    rdev: int

    def __init__(self, kind: Kind, mode: int = 0o644, size: int = 0, target: bytes = b"",
                 xattrs: tuple[tuple[bytes, bytes], ...] = (), mtime_ns: int | None = None,
                 uid: int | None = None, gid: int | None = None, atime_ns: int | None = None,
                 ctime_ns: int | None = None, rdev: int = 0) -> None:
        if mode & ~0o7777:
            raise InvalidInput(f"mode {mode:o} has bits beyond permissions")
        if size < 0 or size >= 1 << 63:
            raise InvalidInput(f"size {size} out of range")
        if kind != Kind.SYMLINK and target:
            raise InvalidInput("only a symlink has a target")
        if kind in SPECIAL and size:
            raise InvalidInput(f"a {kind.name.lower()} has no size")
        if rdev and kind not in _DEVICES:
            raise InvalidInput("only a device node has a device number")
        if not 0 <= rdev < 1 << 64:
            raise InvalidInput(f"device number {rdev} out of range")
        if (uid is None) != (gid is None):
            raise InvalidInput("uid and gid are set together")
        if uid is not None and not (0 <= uid <= _U32_MAX and 0 <= gid <= _U32_MAX):
            raise InvalidInput(f"owner {uid}:{gid} out of range")
        if atime_ns is not None and atime_ns == mtime_ns:
            atime_ns = None
        if ctime_ns is not None and mtime_ns is not None and ctime_ns <= mtime_ns:
            ctime_ns = None
        if xattrs:
            names = [n for n, _ in xattrs]
            if names != sorted(set(names)):
                xattrs = tuple(sorted(dict(xattrs).items()))
            for n, v in xattrs:
                if not 0 < len(n) <= 255 or len(v) > MAX_XATTR_VALUE:
                    raise InvalidInput(f"xattr {n!r}: names are 1..255 bytes, values at most {MAX_XATTR_VALUE}")
        put = object.__setattr__  # one call per field, as a frozen dataclass's __init__ makes
        put(self, "kind", kind)
        put(self, "mode", mode)
        put(self, "size", size)
        put(self, "target", target)
        put(self, "xattrs", xattrs)
        put(self, "mtime_ns", mtime_ns)
        put(self, "uid", uid)
        put(self, "gid", gid)
        put(self, "atime_ns", atime_ns)
        put(self, "ctime_ns", ctime_ns)
        put(self, "rdev", rdev)

    @classmethod
    def dir(cls, mode: int = 0o755, **kw) -> Info:
        return cls(Kind.DIR, mode, **kw)

    @classmethod
    def file(cls, mode: int = 0o644, size: int = 0, **kw) -> Info:
        return cls(Kind.FILE, mode, size, **kw)

    @classmethod
    def symlink(cls, target: bytes, **kw) -> Info:
        return cls(Kind.SYMLINK, 0o777, len(target), target, **kw)

    @property
    def is_dir(self) -> bool:
        return self.kind == Kind.DIR

    @property
    def is_file(self) -> bool:
        return self.kind == Kind.FILE

    @classmethod
    def special(cls, st_mode: int, rdev: int = 0, **kw) -> Info:
        """A FIFO, socket or device node from an st_mode (type bits and permissions)."""
        kind = _KIND_OF_IFMT.get(stat.S_IFMT(st_mode))
        if kind not in SPECIAL:
            raise InvalidInput(f"st_mode {st_mode:o} is not a FIFO, socket or device node")
        return cls(kind, stat.S_IMODE(st_mode), rdev=rdev if kind in _DEVICES else 0, **kw)

    @property
    def is_symlink(self) -> bool:
        return self.kind == Kind.SYMLINK

    @property
    def is_special(self) -> bool:
        """A FIFO, socket or device node: an Info and nothing else (no data)."""
        return self.kind in SPECIAL

    def st_mode(self) -> int:
        """The POSIX st_mode (type bits and permissions)."""
        return _IFMT[self.kind] | self.mode

    def with_(self, **changes) -> Info:
        """A copy with some fields changed, validated again: Value.replace, by position (a
        writable mount makes one or two per request)."""
        if not changes.keys() <= _FIELDS:
            return self.replace(**changes)  # (raises TypeError naming the unknown field)
        get = changes.get
        return Info(get("kind", self.kind), get("mode", self.mode), get("size", self.size),
                    get("target", self.target), get("xattrs", self.xattrs), get("mtime_ns", self.mtime_ns),
                    get("uid", self.uid), get("gid", self.gid), get("atime_ns", self.atime_ns),
                    get("ctime_ns", self.ctime_ns), get("rdev", self.rdev))

    def xattr(self, name: bytes) -> bytes | None:
        return dict(self.xattrs).get(name)

    def to_bytes(self) -> bytes:
        flags = ((self.mtime_ns is not None) * _MTIME_F | (self.uid is not None) * _OWNER_F
                 | (self.atime_ns is not None) * _ATIME_F | (self.ctime_ns is not None) * _CTIME_F
                 | bool(self.rdev) * _RDEV_F)
        version = 1 if flags & ~_V1_FLAGS == 0 and self.kind <= Kind.SYMLINK else VERSION
        parts = [_HEAD.pack(version, self.kind, self.mode, self.size, flags)]
        if flags & _MTIME_F:
            parts.append(_MTIME.pack(self.mtime_ns))
        if flags & _OWNER_F:
            parts.append(_OWNER.pack(self.uid, self.gid))
        if flags & _ATIME_F:
            parts.append(_MTIME.pack(self.atime_ns))
        if flags & _CTIME_F:
            parts.append(_MTIME.pack(self.ctime_ns))
        if flags & _RDEV_F:
            parts.append(_RDEV.pack(self.rdev))
        parts += [_U16.pack(len(self.target)), self.target, _U16.pack(len(self.xattrs))]
        for n, v in self.xattrs:
            parts += [bytes([len(n)]), n, _U32.pack(len(v)), v]
        return b"".join(parts)

    def to_bytes_kept(self) -> bytes:
        """to_bytes(), with the encoding entered in from_bytes's table, so that reading it back
        answers this Info with no parse. For what is read back soon after it is stored: a
        transaction's puts (Tx.put_info), which a writable mount reads on the next request
        about the file (tar -x stores a file's Info four times and reads it after each).
        Costs one dict insert. An Info whose fields are not of the types a parse gives (a list
        of xattrs, a bytearray) is not entered, so that from_bytes never answers with one."""
        raw = self.to_bytes()
        if (len(raw) <= _DECODED_BYTES and self.kind.__class__ is Kind and self.target.__class__ is bytes
                and (not self.xattrs or _plain_xattrs(self.xattrs))):
            if len(_DECODED) >= _DECODED_MAX:
                _DECODED.clear()
            _DECODED[raw] = self
        return raw

    @classmethod
    def from_bytes(cls, data: bytes) -> Info:
        """Parse; raises CorruptNode on any malformed or trailing bytes.

        The same few Infos are decoded over and over (a read-write mount looks up a file's
        Info on every getattr, read, fsync and rename, and a rename's checks read its
        directories' several times): an encoding decoded before is answered from a bounded
        table, a dict lookup instead of a parse and its checks (figures: docs/benchmarks.md,
        "Programs in a read-write mount"). Infos are immutable, so the one object may be
        shared. Only short encodings are kept: with large xattr values the table would
        hold hundreds of MiB."""
        if data.__class__ is bytes and len(data) <= _DECODED_BYTES:
            info = _DECODED.get(data)
            if info is None:
                info = cls._parse(data)
                if len(_DECODED) >= _DECODED_MAX:
                    _DECODED.clear()
                _DECODED[data] = info
            return info
        return cls._parse(data)

    @classmethod
    def _parse(cls, data: bytes) -> Info:
        try:
            version, kind, mode, size, flags = _HEAD.unpack_from(data)
            if version not in (1, VERSION):
                raise CorruptNode("info", f"unknown version {version}")
            if flags & ~(_V1_FLAGS if version == 1 else 31) or (version == 1 and kind > Kind.SYMLINK):
                raise CorruptNode("info", f"flags {flags:#x} or kind {kind} unknown in version {version}")
            o = _HEAD.size
            mtime = uid = gid = atime = ctime = None
            rdev = 0
            if flags & _MTIME_F:
                mtime = _MTIME.unpack_from(data, o)[0]
                o += 8
            if flags & _OWNER_F:
                uid, gid = _OWNER.unpack_from(data, o)
                o += 8
            if flags & _ATIME_F:
                atime = _MTIME.unpack_from(data, o)[0]
                o += 8
            if flags & _CTIME_F:
                ctime = _MTIME.unpack_from(data, o)[0]
                o += 8
            if flags & _RDEV_F:
                rdev = _RDEV.unpack_from(data, o)[0]
                o += 8
            (tlen,) = _U16.unpack_from(data, o)
            target = data[o + 2:o + 2 + tlen]
            o += 2 + tlen
            (count,) = _U16.unpack_from(data, o)
            o += 2
            xattrs = []
            for _ in range(count):
                nlen = data[o]
                name = data[o + 1:o + 1 + nlen]
                o += 1 + nlen
                (vlen,) = _U32.unpack_from(data, o)
                xattrs.append((name, data[o + 4:o + 4 + vlen]))
                o += 4 + vlen
            if o != len(data) or len(target) != tlen:
                raise CorruptNode("info", "length mismatch")
            redundant = mtime is not None and (atime == mtime or (ctime is not None and ctime <= mtime))
            if ((flags & _RDEV_F and not rdev) or redundant
                    or (version != 1 and not flags & ~_V1_FLAGS and kind <= Kind.SYMLINK)):
                raise CorruptNode("info", "not in canonical form")  # two encodings of one Info
            return cls(_KINDS[kind], mode, size, target, tuple(xattrs), mtime, uid, gid, atime, ctime, rdev)
        except (struct.error, IndexError, KeyError, ValueError, InvalidInput) as e:
            raise CorruptNode("info", f"malformed ({e})") from None


_DECODED: dict[bytes, Info] = {}  # see Info.from_bytes
_FIELDS = frozenset(Info.__slots__)


def _plain_xattrs(xattrs) -> bool:
    """xattrs as a parse gives them: a tuple of (bytes, bytes) tuples."""
    return xattrs.__class__ is tuple and all(
        p.__class__ is tuple and p[0].__class__ is bytes and p[1].__class__ is bytes for p in xattrs)
