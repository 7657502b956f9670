"""The one error root for got, and the failures of the storage layers.

Every failure a user can cause or meet is a `GotError`: it carries an `errno` (used by the
mount to answer the kernel) and an `exit_code` (used by the CLI), and its message says what
failed and, where there is one, how to fix it. Higher layers (gotfs, the repo, the CLI)
subclass `GotError` in their own `errors` modules; nothing here knows about them.

Bad input never surfaces as AssertionError, KeyError or a bare struct.error.
"""

from __future__ import annotations

import errno as _errno


class GotError(Exception):
    """Base of every error got raises on purpose."""

    errno: int = _errno.EIO
    exit_code: int = 1


class InvalidInput(GotError, ValueError):
    """The caller passed something malformed (a key too long, unsorted entries, bad text)."""

    errno = _errno.EINVAL
    exit_code = 2


class InvalidRef(InvalidInput):
    """A ref's text or bytes are not of the expected form."""


class InvalidKey(InvalidInput):
    """A gotkv key is not bytes, or is longer than the limit."""


class InvalidValue(InvalidInput):
    """A gotkv value is not bytes, or is longer than the limit."""


class NotFound(GotError, LookupError):
    """Something asked for by name or key does not exist."""

    errno = _errno.ENOENT


class KeyNotFound(NotFound):
    """A gotkv key has no entry in the tree."""

    def __init__(self, key: bytes):
        super().__init__(f"no entry for key {key!r}")
        self.key = key


class BlobNotFound(NotFound):
    """A store has no blob with this content id: the repo is incomplete or the id is wrong."""

    def __init__(self, cid: bytes, where: str = ""):
        at = f" in {where}" if where else ""
        super().__init__(f"blob {cid.hex()} not found{at}; run `got fsck` to check the repository")
        self.cid = cid


class IntegrityError(GotError):
    """Stored bytes failed their hash or authentication tag: corruption or tampering."""

    def __init__(self, what: str, detail: str):
        super().__init__(f"integrity check failed for {what}: {detail}; the stored data is corrupt")
        self.what = what


class CorruptNode(IntegrityError):
    """A blob decoded and verified, but is not a well-formed gotkv node."""


class BlobTooLarge(InvalidInput):
    """A blob exceeds the store's max_size."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"blob of {size} bytes exceeds the limit of {limit} bytes")
        self.size, self.limit = size, limit


class StoreClosed(GotError):
    """A store was used after close()."""


class DamagedFile(GotError):
    """A file got keeps its state in (an SQLite database) cannot be read: name it and the way out."""

    def __init__(self, path, detail: str, remedy: str):
        super().__init__(f"{path} is damaged ({detail}); {remedy}")
        self.path = path


class DiskFull(GotError):
    """The disk refused a write for want of space; what was committed before is intact."""

    errno = _errno.ENOSPC

    def __init__(self, path, detail: str = "no space left on device"):
        super().__init__(f"the disk holding {path} is full ({detail}); nothing was recorded: "
                         f"free some space and retry")
        self.path = path
