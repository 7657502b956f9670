"""Import: copy a host directory tree into a gotfs filesystem as one transaction (see the
package docstring for the whole picture)."""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from typing import TYPE_CHECKING, BinaryIO, Callable

from gotfs import dirs, keys
from gotfs.errors import InvalidPath, NotADirectory
from gotfs.info import MAX_XATTR_VALUE, Info
from gotfs.keys import MAX_NAME, MAX_PATH, Path
from gotfs.porting.host import HostPath, PortingWarning
from gotfs.staging import Staging
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS

_NOXATTR = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA, errno.EPERM, errno.EACCES}


def import_dir(fs: FS, root: Root, host: HostPath, dest: str = "", *, mtimes: bool = False,
               ignore: Callable[[str], bool] | None = None,
               progress: Callable[[int, int], None] | None = None) -> Root:
    """Copy the host directory `host` into the filesystem at `dest`; return the new root.

    Afterwards `dest` mirrors `host` exactly: its old subtree is deleted and rebuilt in the
    same transaction (missing parents of `dest` are created), so the result is one new root
    and `root` itself is untouched; a failure leaves nothing behind but unreferenced blobs.
    The host root's own mode/xattrs/mtime become those of `dest`.

    One write path: every entry is staged in a Staging (gotfs.staging) and flushed once, so
    the regular files are chunked as the working copy's commit chunks them: in path order, in
    packing groups (gotfs.packing), a thousand small files sharing a few blobs instead of
    making a thousand, while the chunker's threads hash and compress as the next files are
    read. By history independence the root is the one a Staging or a commit of the same
    tree makes. Files are opened one at a time at flush (O_NOFOLLOW) and streamed, so memory
    is bounded whatever the file sizes: a small record per file, besides the batch of keys.

    Determinism: entries are visited in sorted name order, so an unchanged tree imports to
    the same root. mtimes default to off for that reason (a `touch` would otherwise change the
    root); pass mtimes=True to record st_mtime_ns on files, directories and symlinks.

    `ignore(relpath)` gets each entry's '/'-separated path relative to `host` (str, undecodable
    bytes as surrogate escapes); returning True skips the entry, and a whole subtree for a
    directory. `progress(files_done, bytes_done)` is called after each regular file is stored.

    Cost: per entry one lstat (DirEntry.stat), one listxattr, and for files an open, an fstat
    (to refuse anything that turned into a non-file since the scan) and sequential reads;
    data flows at the chunker's speed. In the store: about one data blob per ~1 MiB of a
    large file and one or two per packing group of small files (32-512 KiB; none for chunks
    already stored), and one mutate whose node writes are those of the new subtree,
    O(entries), plus O(depth) on the path to it. The caller flushes the store before
    publishing the root.

    Raises NotADirectory if `host` is not a directory, InvalidPath for a name or path too long
    for gotfs, and OSError for host files that cannot be read (nothing is committed then).
    """
    top = os.fsencode(host)
    try:
        st = os.stat(top)
    except FileNotFoundError:
        raise NotADirectory(os.fsdecode(top)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectory(os.fsdecode(top))
    dest_path = keys.parse_path(dest)
    staging = Staging(fs, root)
    tx = staging.tx
    if dest_path:
        tx.delete_span(keys.subtree_span(dest_path))
        if len(dest_path) > 1:
            dirs.mkdir(tx, dest_path[:-1], 0o755, parents=True)
    else:
        tx.delete_span(keys.children_span(()))
    skipped: list[str] = []
    staging.put_info(dest_path, Info.dir(stat.S_IMODE(st.st_mode), xattrs=_read_xattrs(top, skipped),
                                         mtime_ns=st.st_mtime_ns if mtimes else None))
    _walk(staging, top, dest_path, mtimes, ignore, skipped)
    done = [0, 0]

    def chunked(_tag, size: int, _extents) -> None:
        done[0] += 1
        done[1] += size
        progress(done[0], done[1])

    new_root = staging.flush(chunked if progress is not None else None)
    if skipped:
        warnings.warn(f"import skipped {len(skipped)} xattr(s) too large for gotfs: "
                      f"{', '.join(skipped[:5])}", PortingWarning, stacklevel=2)
    return new_root


def _walk(staging: Staging, top: bytes, dest: Path, mtimes: bool, ignore: Callable[[str], bool] | None,
          skipped: list[str]) -> None:
    """Depth-first, sorted by name: stage every entry below `top` (unchecked: the subtree
    was deleted, and each directory is staged before anything below it); regular files as
    sources that are opened at flush. An explicit stack, not recursion, so depth is limited
    only by gotfs's path length."""
    def scan(d: bytes) -> list[os.DirEntry]:
        with os.scandir(d) as it:
            return sorted(it, key=lambda e: e.name)

    base_len = len(b"/".join(dest))
    # (iterator over sorted entries, gotfs path of the dir, relative host path prefix)
    stack = [(iter(scan(top)), dest, b"")]
    while stack:
        it, parent, rel_dir = stack[-1]
        entry = next(it, None)
        if entry is None:
            stack.pop()
            continue
        name = entry.name
        rel = rel_dir + name
        if ignore is not None and ignore(os.fsdecode(rel)):
            continue
        path = parent + (name,)
        _check_name(name, rel)
        if base_len + len(rel) + (1 if dest else 0) > MAX_PATH:
            raise InvalidPath(os.fsdecode(rel), f"a path is at most {MAX_PATH} bytes", errno.ENAMETOOLONG)
        st = entry.stat(follow_symlinks=False)
        mtime_ns = st.st_mtime_ns if mtimes else None
        if entry.is_symlink():
            staging.put_info(path, Info.symlink(os.readlink(entry.path), xattrs=_read_xattrs(entry.path, skipped),
                                                mtime_ns=mtime_ns))
        elif entry.is_dir(follow_symlinks=False):
            staging.put_info(path, Info.dir(stat.S_IMODE(st.st_mode), xattrs=_read_xattrs(entry.path, skipped),
                                            mtime_ns=mtime_ns))
            stack.append((iter(scan(entry.path)), path, rel + b"/"))
        elif entry.is_file(follow_symlinks=False):
            info = Info.file(stat.S_IMODE(st.st_mode), 0, xattrs=_read_xattrs(entry.path, skipped), mtime_ns=mtime_ns)
            staging.put_file(path, info, source=_opener(entry.path), size_hint=st.st_size, tag=path)
        else:
            staging.put_info(path, Info.special(st.st_mode, st.st_rdev, mtime_ns=mtime_ns))


def _check_name(name: bytes, rel: bytes) -> None:
    if len(name) > MAX_NAME:
        raise InvalidPath(os.fsdecode(rel), f"a name is at most {MAX_NAME} bytes", errno.ENAMETOOLONG)


def _opener(path: bytes) -> Callable[[], BinaryIO]:
    """Open a host file for the staging's flush when its turn comes: never through a symlink, never a
    fifo or device swapped in since the scan (O_NONBLOCK keeps a fifo from hanging the open)."""
    def open_() -> BinaryIO:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "no longer a regular file (changed during import)", os.fsdecode(path))
            return io.FileIO(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
    return open_


def _read_xattrs(path: bytes, skipped: list[str]) -> tuple[tuple[bytes, bytes], ...]:
    """The entry's xattrs (not following symlinks); () where the host has none or refuses."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in _NOXATTR:
            return ()
        raise
    out = []
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            if e.errno in _NOXATTR:
                continue
            raise
        raw = os.fsencode(name)
        if len(raw) > 255 or len(value) > MAX_XATTR_VALUE:
            skipped.append(f"{os.fsdecode(path)}:{name}")
            continue
        out.append((raw, value))
    return tuple(sorted(out))
