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


class PathError(GotError):
    """An error about one path; subclasses set `errno` and the message after the path."""

    exit_code = 2
    says = ""

    def __init__(self, path: str):
        super().__init__(f"{path or '/'}: {self.says}")
        self.path = path


class PathNotFound(PathError, NotFound):
    errno = _errno.ENOENT
    exit_code = 1
    says = "no such file or directory"


class NotADirectory(PathError):
    errno = _errno.ENOTDIR
    says = "not a directory"


class IsADirectory(PathError):
    errno = _errno.EISDIR
    says = "is a directory"


class AlreadyExists(PathError):
    errno = _errno.EEXIST
    says = "already exists"


class DirectoryNotEmpty(PathError):
    errno = _errno.ENOTEMPTY
    says = "directory not empty (remove it recursively)"


class NotAFile(GotError):
    """A regular-file operation met a symlink (or other non-file)."""

    errno = _errno.EINVAL
    exit_code = 2

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: is a {what}, not a regular file")
        self.path = path


class UnsafeExport(GotError):
    """An export would write outside its target directory."""

    errno = _errno.EPERM
    exit_code = 2
