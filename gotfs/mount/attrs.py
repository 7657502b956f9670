"""POSIX attribute rules of the writable mount: owners of new entries, and which change
moves which timestamp. Pure functions on Info; the caller stores what they return.

Timestamps (stored in Info, see gotfs/info.py):

- mtime: a file's when its data or size changes; a directory's when an entry is added,
  removed or renamed in it (create, mknod, mkdir, symlink, unlink, rmdir, rename). Those
  also set the directory's ctime, which is why `touched` stores no ctime (none = the mtime).
- ctime: every change of metadata too: chmod, chown, utimens, xattrs, rename of the entry
  itself, and an unlink of a file still open (its link count drops to 0).
- atime: noatime, plus whatever utimensat sets. Reads never change it: on a read-only mount
  they cannot, and on a writable one each read would otherwise be a tree change (a new root
  to publish per read) for a value few programs use; relatime would still write on the first
  read after each change. An atime never set reads as the mtime; one set explicitly is kept
  and reads back as set. The kernel agrees: FUSE inodes are S_NOATIME, so it never moves
  atime on its own either.

Owners: an entry made through the mount belongs to the caller (the FUSE request's uid and
gid), with the BSD/System V rule for set-group-ID directories (the entry takes the
directory's group; a new subdirectory inherits the bit). An owner equal to the user serving
the mount is not stored (Info's "absent owner"), so trees made by one user carry no owner
fields, exactly as those made by `got commit` or before Info version 2. Whether a caller may
chown is the kernel's decision: the mount runs with default_permissions.
"""

from __future__ import annotations

import stat

from gotfs.info import Info


def owner_of(info: Info, default: tuple[int, int]) -> tuple[int, int]:
    """(uid, gid) of an entry; an absent owner is the serving user `default`."""
    return (info.uid, info.gid) if info.uid is not None else default


def with_owner(info: Info, uid: int, gid: int, default: tuple[int, int]) -> Info:
    """`info` owned by uid:gid, stored only when it is not the serving user `default`."""
    owner = (None, None) if (uid, gid) == default else (uid, gid)
    if (info.uid, info.gid) == owner:
        return info
    return info.with_(uid=owner[0], gid=owner[1])


def new_entry(info: Info, parent: Info, caller: tuple[int, int], default: tuple[int, int]) -> Info:
    """A new entry made by `caller` in directory `parent`: its owner (and set-group-ID bit)."""
    uid, gid = caller
    if parent.mode & stat.S_ISGID:
        gid = owner_of(parent, default)[1]
        if info.is_dir:
            info = info.with_(mode=info.mode | stat.S_ISGID)
    return with_owner(info, uid, gid, default)


def set_attrs(info: Info, now_ns: int, default: tuple[int, int], *, mode: int | None = None,
              mtime_ns: int | None = None, atime_ns: int | None = None, uid: int | None = None,
              gid: int | None = None) -> Info:
    """What a setattr asks beyond the size (None: unchanged): permission bits, mtime, atime
    and owner, and the ctime that every setattr moves, as one new Info (one validation and
    one encoding per request: tar -x sends three setattrs a file)."""
    changes: dict = {"ctime_ns": now_ns}
    if mode is not None:
        changes["mode"] = mode & 0o7777
    if mtime_ns is not None:
        changes["mtime_ns"] = mtime_ns
    if atime_ns is not None:
        changes["atime_ns"] = atime_ns
    if uid is not None or gid is not None:
        old_uid, old_gid = owner_of(info, default)
        owner = (old_uid if uid is None else uid, old_gid if gid is None else gid)
        changes["uid"], changes["gid"] = (None, None) if owner == default else owner
    return info.with_(**changes)


def touched(info: Info, now_ns: int) -> Info:
    """A directory whose entries changed: mtime and ctime now."""
    return info.with_(mtime_ns=now_ns, ctime_ns=None)


def changed(info: Info, now_ns: int) -> Info:
    """An entry whose metadata changed: ctime now (dropped if not after the mtime: see Info)."""
    return info.with_(ctime_ns=now_ns)
