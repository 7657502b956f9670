"""Where a got:// path's revision comes from: a repository or a remote (gotfs.repo.fsspec_fs).

`_Loc` is a parsed path (revision, commit, root, the path inside); `_RepoSource` resolves
revisions in a repository (a few SQLite lookups each), `_RemoteSource` on remotes (their
branch table, read once and on refresh). Also the errors fsspec callers expect (OSError
subclasses with errno) made from got's.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from dataclasses import dataclass

from gotfs.errors import (AlreadyExists, DirectoryNotEmpty, IsADirectory, NotADirectory, NotAFile,
                          PathNotFound)
from gotfs.fs import FS
from gotfs.repo import lazy
from gotfs.repo.commit import Commit
from gotfs.repo.errors import RefNotFound, RepoNotFound
from gotfs.repo.remotes import parse_key
from gotfs.repo.repo import Repo
from gotkv.blobs.ref import Ref
from gotkv.blobs.router import StoreRouter
from gotkv.errors import InvalidInput
from gotkv.root import Root

_ANCESTRY = re.compile(r"(.+?)((?:~\d*|\^)*)")


@dataclass(frozen=True, slots=True)
class _Loc:
    """Where a path points: a revision (as spelled), its commit and tree, a path in it."""

    rev: str
    inner: str
    commit: Ref
    root: Root
    colon: bool  # spelled REV:PATH

    def name(self, inner: str) -> str:
        """The fsspec path of `inner` in this revision, in the spelling the caller used."""
        if self.colon:
            return f"{self.rev}:{inner}"
        return f"{self.rev}/{inner}" if inner else self.rev


class _Source:
    """What the filesystem reads: an FS, revisions to resolve, commits to read."""

    fs: FS

    def resolve(self, rev: str) -> Ref | None: ...
    def read_commit(self, ref: Ref) -> Commit: ...
    def branches(self) -> list[str]: ...
    def refresh(self) -> None: ...
    def close(self) -> None: ...


class _RepoSource(_Source):
    def __init__(self, path: str):
        try:
            self.repo = Repo.open(os.path.expanduser(path))
        except RepoNotFound as e:
            raise FileNotFoundError(str(e)) from e
        self.fs = self.repo.fs

    def resolve(self, rev: str) -> Ref | None:
        try:
            return self.repo.resolve(rev)
        except RefNotFound:
            return None

    def read_commit(self, ref: Ref) -> Commit:
        return self.repo.read_commit(ref)

    def branches(self) -> list[str]:
        return sorted(self.repo.branches())

    def refresh(self) -> None:
        """Branches are read on every call: nothing to refresh."""

    def close(self) -> None:
        self.repo.close()


class _RemoteSource(_Source):
    """A remote's snapshot with no repository (gotfs.repo.lazy); its branch table is read at
    open and by refresh()."""

    def __init__(self, urls: list[str], secret: bytes, cache_dir, cache_size: int):
        try:
            self.snap = lazy.open_remote_snapshot(urls, secret, None, cache_dir=cache_dir, cache_size=cache_size)
        except RefNotFound as e:  # a remote with no branch
            raise FileNotFoundError(str(e)) from e
        self.fs = self.snap.fs
        store = self.snap.store
        self._remote = (store.stores[0] if isinstance(store, StoreRouter) else store).remote
        self._heads = self._read_heads(refresh=False)

    def _read_heads(self, refresh: bool) -> dict[str, Ref]:
        return {n[len("heads/"):]: Ref.parse(v) for n, v in self._remote.refs(refresh=refresh).items()
                if n.startswith("heads/")}

    def resolve(self, rev: str) -> Ref | None:
        m = _ANCESTRY.fullmatch(rev)
        if m is None:
            return None
        base, suffix = m.group(1), m.group(2)
        base = base[len("heads/"):] if base.startswith("heads/") else base
        ref = self._heads.get(base)
        if ref is None and len(base) == 128 and re.fullmatch(r"[0-9a-fA-F]+", base):
            ref = Ref.parse(base.lower())
        if ref is None:
            return None
        for step in re.findall(r"~\d*|\^", suffix):
            for _ in range(int(step[1:] or 1) if step[0] == "~" else 1):
                parents = self.read_commit(ref).parents
                if not parents:
                    return None
                ref = parents[0]
        return ref

    def read_commit(self, ref: Ref) -> Commit:
        return lazy.read_commit(self.fs, ref)

    def branches(self) -> list[str]:
        return sorted(self._heads)

    def refresh(self) -> None:
        self._heads = self._read_heads(refresh=True)

    def close(self) -> None:
        self.snap.close()


def _default_author() -> str:
    env = os.environ.get("GOT_AUTHOR", "").strip()
    if env:
        return env
    return f"{os.environ.get('USER') or os.environ.get('LOGNAME') or 'got'}@{socket.gethostname()}"


def _secret(key: str | None, key_file: str | None) -> bytes:
    if key:
        return parse_key(key)
    if key_file:
        try:
            with open(os.path.expanduser(key_file)) as f:
                return parse_key(f.read())
        except OSError as e:
            raise InvalidInput(f"cannot read key file {key_file}: {e.strerror}") from None
    if os.environ.get("GOT_KEY"):
        return parse_key(os.environ["GOT_KEY"])
    raise InvalidInput("a remote needs its key: pass key= (the line `got key export` prints), "
                       "key_file=, or set GOT_KEY")


def _os_error(e: Exception, where: str) -> OSError:
    """The builtin OSError fsspec callers expect for a gotfs path error, with a clear message."""
    msg = f"{e} ({where})"
    for kind, builtin in ((PathNotFound, FileNotFoundError), (NotADirectory, NotADirectoryError),
                          (IsADirectory, IsADirectoryError), (AlreadyExists, FileExistsError)):
        if isinstance(e, kind):
            return builtin(msg)
    if isinstance(e, DirectoryNotEmpty):
        return OSError(errno.ENOTEMPTY, msg)
    return OSError(errno.EINVAL, msg)  # NotAFile: a symlink where a file was wanted


_PATH_ERRORS = (PathNotFound, NotADirectory, IsADirectory, AlreadyExists, DirectoryNotEmpty, NotAFile)
