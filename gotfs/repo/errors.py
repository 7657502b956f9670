"""Repository errors: one line each, saying what is wrong and what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gotkv.errors import BlobNotFound, GotError, IntegrityError, InvalidInput, NotFound


class RepoNotFound(NotFound):
    def __init__(self, path):
        super().__init__(f"not a got repository (or any parent up to /): {path}; run `got init`")


class RepoExists(GotError):
    exit_code = 1

    def __init__(self, path):
        super().__init__(f"a got repository already exists at {path}")


class RefNotFound(NotFound):
    def __init__(self, spec: str):
        super().__init__(f"unknown revision {spec!r}; see `got log` and `got branch`")
        self.spec = spec


class AmbiguousRef(InvalidInput):
    def __init__(self, spec: str, count: int):
        super().__init__(f"short id {spec!r} matches {count} commits; give more digits")


class BranchMoved(GotError):
    """A compare-and-swap on a ref lost: another process moved it first."""

    exit_code = 1

    def __init__(self, name: str):
        super().__init__(f"{name} was updated by another process at the same time; nothing was lost, retry")
        self.name = name


class BranchExists(GotError):
    exit_code = 1

    def __init__(self, name: str):
        super().__init__(f"{name} already exists")


class DirtyWorkingCopy(GotError):
    exit_code = 1

    def __init__(self, paths: list[str]):
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(f"uncommitted changes would be overwritten: {shown}; commit them or use --force")
        self.paths = paths


class NothingToCommit(GotError):
    exit_code = 1

    def __init__(self):
        super().__init__("nothing to commit, working tree clean")


class RepoLocked(GotError):
    exit_code = 1

    def __init__(self, what: str):
        super().__init__(what)


class WorkdirBehind(GotError):
    """The branch moved without the working directory (a read-write mount committed to it)."""

    exit_code = 1

    def __init__(self, branch: str):
        super().__init__(f"{branch} has commits this working directory does not have (made through a "
                         f"mount); run `got checkout {branch}` to bring it up to date, then commit")


class MergeInProgress(GotError):
    """A merge stopped by conflicts waits in this working directory."""

    exit_code = 1

    def __init__(self):
        super().__init__("a merge is in progress: resolve its conflicts and run `got merge --continue`, "
                         "or `got merge --abort`")


class RefsDamaged(GotError):
    """refs.sqlite disagrees with the ref log: refs were lost or replaced behind got's back."""

    exit_code = 1

    def __init__(self, names: list[str]):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        super().__init__(f"refs.sqlite disagrees with refs.log on {shown}, so gc deletes nothing; "
                         f"run `got fsck` to see what differs and `got fsck --repair` to restore the logged refs")
        self.names = names


class ConfigDamaged(GotError):
    """`.got/config.json` exists but cannot be read: the repository is there, its settings are not."""

    exit_code = 1

    def __init__(self, path, cause: Exception):
        super().__init__(f"{path} is damaged ({type(cause).__name__}: {cause}); restore it from a backup or "
                         f"another clone's .got/config.json (it holds the repository's key, without which "
                         f"nothing stored can be read)")
        self.path = path


class DamagedData(GotError):
    """A file's stored data is missing or corrupt: names the file (and, once known, the commit)."""

    exit_code = 1

    def __init__(self, path: str, cause: GotError, where: str = ""):
        at = f" in {where}" if where else ""
        super().__init__(f"file {path!r}{at} cannot be read: {cause} (`got fsck --read-data` lists every "
                         f"damaged file and the commits that survive)")
        self.path, self.cause, self.where = path, cause, where

    def at(self, where: str) -> DamagedData:
        """The same error, saying which commit (or tree) the file is in."""
        return self if self.where else DamagedData(self.path, self.cause, where)


@contextlib.contextmanager
def naming_file(path: str, where: str = "") -> Iterator[None]:
    """Turn a data blob's IntegrityError or BlobNotFound inside the block into DamagedData
    naming `path` (and `where`: the commit)."""
    try:
        yield
    except (IntegrityError, BlobNotFound) as e:
        raise DamagedData(path, e, where) from e
