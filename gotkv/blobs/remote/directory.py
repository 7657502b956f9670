"""DirectoryObjectStore: a remote on a plain directory (a USB disk, an NFS share).

Objects are files under the directory, keys are their relative paths. A put writes a
temporary file beside its target, fsyncs it, and link(2)s it into place: link refuses an
existing name atomically (on local filesystems and on NFS alike), which is exactly the
create-only write the journal's compare-and-swap needs, and a reader never sees a half-written
object. The directory is fsynced after the link, so a returned put survives a crash.

Costs: a put is one file write, one fsync of it and one of its directory; a get is one read.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from gotkv.blobs.remote.objects import ContainerNotFound, ObjectExists, ObjectNotFound, RemoteError
from gotkv.osio import write_all

_TMP = ".tmp-"


class DirectoryObjectStore:
    """An ObjectStore in a directory. Thread-safe (each call opens its own files)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        self.url = f"file://{self.path}"
        self.requests: Counter[str] = Counter()  # by call, as an engine's requests would be

    def _file(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/") or _TMP in key:
            raise RemoteError(f"{self.url}: invalid object key {key!r}")
        return self.path / key

    def put(self, key: str, data: bytes | memoryview) -> None:
        self.requests["put"] += 1
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{_TMP}{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise ObjectExists(self.url, key) from None
            _fsync_dir(target.parent)
        except OSError as e:
            raise RemoteError(f"{self.url}: cannot write {key}: {e.strerror or e}") from None
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def get(self, key: str) -> bytes:
        self.requests["get"] += 1
        try:
            with open(self._file(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            if not self.path.is_dir():
                raise ContainerNotFound(f"{self.url}: no such directory") from None
            raise ObjectNotFound(self.url, key) from None
        except OSError as e:
            raise RemoteError(f"{self.url}: cannot read {key}: {e.strerror or e}") from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get_ranges(key, [(start, end)])[0]

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        self.requests["get_ranges"] += 1
        try:
            fd = os.open(self._file(key), os.O_RDONLY)
        except FileNotFoundError:
            raise ObjectNotFound(self.url, key) from None
        except OSError as e:
            raise RemoteError(f"{self.url}: cannot read {key}: {e.strerror or e}") from None
        try:
            out = []
            for start, end in ranges:
                data = os.pread(fd, end - start, start)
                if len(data) != end - start:
                    raise RemoteError(f"{self.url}: {key} is shorter than expected (truncated?)")
                out.append(data)
            return out
        finally:
            os.close(fd)

    def exists(self, key: str) -> bool:
        self.requests["exists"] += 1
        return self._file(key).is_file()

    def delete(self, keys: Iterable[str]) -> None:
        self.requests["delete"] += 1
        for key in keys:
            try:
                os.unlink(self._file(key))
            except FileNotFoundError:
                pass
            except OSError as e:
                raise RemoteError(f"{self.url}: cannot delete {key}: {e.strerror or e}") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        self.requests["list"] += 1
        found = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel = Path(dirpath).relative_to(self.path).as_posix()
            base = "" if rel == "." else rel + "/"
            found.extend(base + name for name in filenames if not name.startswith(_TMP)
                         and (base + name).startswith(prefix))
        return iter(sorted(found))

    def ensure_container(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RemoteError(f"{self.url}: cannot create the directory: {e.strerror or e}") from None
        if not os.access(self.path, os.W_OK):
            raise RemoteError(f"{self.url}: the directory is not writable")

    def close(self) -> None:
        pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # some filesystems refuse a dir fsync
            raise
    finally:
        os.close(fd)
