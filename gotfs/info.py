"""Info: what a path is — type, mode, size, symlink target, xattrs, optional mtime.

Canonical bytes: the same Info always encodes to the same bytes (xattrs sorted by name), so
equal metadata dedups and diffs compare by bytes. Layout (little endian):

    u8 version | u8 type | u32 mode | u64 size | u8 flags | [i64 mtime_ns if flags & 1]
    u16 target length | target
    u16 xattr count | per xattr: u8 name length | name | u32 value length | value
"""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum

from gotkv.errors import CorruptNode, InvalidInput

_HEAD = struct.Struct("<BBIQB")
_MTIME = struct.Struct("<q")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
VERSION = 1
MAX_XATTR_VALUE = 64 << 10


class Kind(IntEnum):
    DIR = 1
    FILE = 2
    SYMLINK = 3


@dataclass(frozen=True, slots=True)
class Info:
    """Metadata of one path. `mode` holds permission bits only (type is `kind`)."""

    kind: Kind
    mode: int = 0o644
    size: int = 0
    target: bytes = b""
    xattrs: tuple[tuple[bytes, bytes], ...] = field(default=())
    mtime_ns: int | None = None

    def __post_init__(self) -> None:
        if self.mode & ~0o7777:
            raise InvalidInput(f"mode {self.mode:o} has bits beyond permissions")
        if self.size < 0 or self.size >= 1 << 63:
            raise InvalidInput(f"size {self.size} out of range")
        if self.kind != Kind.SYMLINK and self.target:
            raise InvalidInput("only a symlink has a target")
        names = [n for n, _ in self.xattrs]
        if names != sorted(set(names)):
            object.__setattr__(self, "xattrs", tuple(sorted(dict(self.xattrs).items())))
        for n, v in self.xattrs:
            if not 0 < len(n) <= 255 or len(v) > MAX_XATTR_VALUE:
                raise InvalidInput(f"xattr {n!r}: names are 1..255 bytes, values at most {MAX_XATTR_VALUE}")

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

    @property
    def is_symlink(self) -> bool:
        return self.kind == Kind.SYMLINK

    def st_mode(self) -> int:
        """The POSIX st_mode (type bits and permissions)."""
        return {Kind.DIR: stat.S_IFDIR, Kind.FILE: stat.S_IFREG, Kind.SYMLINK: stat.S_IFLNK}[self.kind] | self.mode

    def with_(self, **changes) -> Info:
        return replace(self, **changes)

    def xattr(self, name: bytes) -> bytes | None:
        return dict(self.xattrs).get(name)

    def to_bytes(self) -> bytes:
        flags = 0 if self.mtime_ns is None else 1
        parts = [_HEAD.pack(VERSION, self.kind, self.mode, self.size, flags)]
        if flags:
            parts.append(_MTIME.pack(self.mtime_ns))
        parts += [_U16.pack(len(self.target)), self.target, _U16.pack(len(self.xattrs))]
        for n, v in self.xattrs:
            parts += [bytes([len(n)]), n, _U32.pack(len(v)), v]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Info:
        """Parse; raises CorruptNode on any malformed or trailing bytes."""
        try:
            version, kind, mode, size, flags = _HEAD.unpack_from(data)
            if version != VERSION:
                raise CorruptNode("info", f"unknown version {version}")
            o = _HEAD.size
            mtime = None
            if flags & 1:
                mtime = _MTIME.unpack_from(data, o)[0]
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
            return cls(Kind(kind), mode, size, target, tuple(xattrs), mtime)
        except (struct.error, IndexError, ValueError) as e:
            raise CorruptNode("info", f"malformed ({e})") from None
