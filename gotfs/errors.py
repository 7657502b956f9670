"""Filesystem errors: each a GotError with the errno the mount answers the kernel with."""

from __future__ import annotations

import errno as _errno

from gotkv.errors import GotError, InvalidInput, NotFound


class InvalidPath(InvalidInput):
    """A path has an empty, '.' or '..' component, a NUL byte, or is too long."""

    def __init__(self, path, why: str, err: int = _errno.EINVAL):
        super().__init__(f"invalid path {path!r}: {why}")
        self.path = path
        self.errno = err


class PathNotFound(NotFound):
    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: no such file or directory")
        self.path = path


class NotADirectory(GotError):
    errno = _errno.ENOTDIR
    exit_code = 2

    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: not a directory")
        self.path = path


class IsADirectory(GotError):
    errno = _errno.EISDIR
    exit_code = 2

    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: is a directory")
        self.path = path


class NotAFile(GotError):
    """A regular-file operation met a symlink (or other non-file)."""

    errno = _errno.EINVAL
    exit_code = 2

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: is a {what}, not a regular file")
        self.path = path


class AlreadyExists(GotError):
    errno = _errno.EEXIST
    exit_code = 2

    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: already exists")
        self.path = path


class DirectoryNotEmpty(GotError):
    errno = _errno.ENOTEMPTY
    exit_code = 2

    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: directory not empty (remove it recursively)")
        self.path = path


class UnsafeExport(GotError):
    """An export would write outside its target directory."""

    errno = _errno.EPERM
    exit_code = 2
