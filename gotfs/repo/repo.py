"""Repo: a got repository embedded in `.got/` beside a working directory.

    .got/config.json   format, tree-shape salt, encryption secret (never leaves this machine;
                       in plain text, or wrapped under a passphrase: keywrap.py), cipher; the
                       format is the codec's blob layout (see gotkv/blobs/codec.py)
    .got/store/        the LocalStore (packs + SQLite index) holding every blob
    .got/refs.sqlite   branches, tags, HEAD, working roots (Refs, compare-and-swap)
    .got/workcopy.sqlite  the stat cache of the working directory
    .got/lock          flock: writers hold it shared while they post and publish, gc exclusive

Repo itself opens, creates and locks a repository; its faces are mixins, one concept per
module: history.py (commits, HEAD, resolving specs, the log), branches.py (branches and tags),
workingroots.py (read-write mounts' working roots), workdir.py (the working directory).
config.py holds config.json, refnames.py the rules for ref names.

Publishing order is what makes crashes harmless: blobs are posted, the store is flushed
(durable), and only then is a ref moved by compare-and-swap. A process killed at any point
leaves every ref at a complete commit, old or new.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import time
from collections.abc import Callable, Iterator

from gotfs.repo import keywrap
from gotfs.repo.branches import Branches
from gotfs.repo.config import DOT, FORMAT, LEGACY_CIPHER, Config, write_atomic
from gotfs.repo.errors import RepoExists, RepoLocked, RepoNotFound, ConfigDamaged
from gotfs.repo.history import History
from gotfs.repo.refnames import DEFAULT_BRANCH, check_ref_name
from gotfs.repo.refs import Refs
from gotfs.repo.workdir import WorkingDirectory
from gotfs.repo.workingroots import WorkingRoots
from gotkv.errors import InvalidInput
from gotkv.params import Params

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path

    from gotfs.fs import FS
    from gotkv.blobs.codec import Codec
    from gotkv.blobs.local import LocalStore

# Names other modules import from here; they are defined in config.py and refnames.py.
__all__ = ["Repo", "Config", "DOT", "DEFAULT_BRANCH", "FORMAT", "LEGACY_CIPHER", "check_ref_name"]
_write_atomic = write_atomic


class Repo(History, Branches, WorkingRoots, WorkingDirectory):
    """Commits, branches, tags and working roots over one LocalStore; each face is a mixin
    (see the module docstring), this class opens, creates and locks."""

    def __init__(self, workdir: str | os.PathLike, config: Config):
        self._top = os.fspath(workdir)
        self.config = config
        self.refs = Refs(self.dot_file("refs.sqlite"))
        self._lock_fd: int | None = None

    # workdir and dot are pathlib Paths made on first use: opening a repository, reading its
    # refs and commits (`got log`, `got branch`) and a status that finds no change go by
    # `top` and `dot_file` (strings) and never import pathlib (with the urllib.parse and
    # ipaddress it imports, ~4 ms of a start).
    @property
    def top(self) -> str:
        """The working directory as given to open or init, as a string (see `workdir`)."""
        return self._top

    @functools.cached_property
    def workdir(self) -> Path:
        """The working directory: the directory that holds `.got/`."""
        from pathlib import Path

        return Path(self._top)

    @functools.cached_property
    def dot(self) -> Path:
        """The repository's own directory, `workdir/.got`."""
        return self.workdir / DOT

    def dot_file(self, *parts: str) -> str:
        """The path of `parts` under `.got/`, as a string: no pathlib (see `workdir`)."""
        return os.path.join(self._top, DOT, *parts)

    # The store and the codec are opened on first use: a command that reads only refs
    # (`got branch`, `got tag`) opens neither the store's index nor imports cryptography.
    @functools.cached_property
    def store(self) -> LocalStore:
        """The LocalStore holding every blob (opening it reads its SQLite index)."""
        from gotkv.blobs.local import LocalStore

        return LocalStore(self.dot_file("store"))

    @functools.cached_property
    def _commit_codec(self) -> Codec:
        """What commits are sealed with: the tree nodes' codec (FS's kv codec). Config.from_json
        has checked its cipher and layout."""
        from gotkv.blobs.codec import Codec

        return Codec(self.config.secret, level=3, cipher=self.config.cipher, layout=self.config.format)

    @functools.cached_property
    def fs(self) -> FS:
        """The filesystem over the store, built (and gotfs imported) on first use: commands
        that only read refs and commits (log, branch, tag) never pay for it."""
        from gotfs.fs import FS

        params = Params(self.config.salt, self.config.target_node_size, self.config.max_node_size)
        return FS(self.store, secret=self.config.secret, params=params, cipher=self.config.cipher,
                  layout=self.config.format)

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def init(cls, workdir: str | os.PathLike, *, encrypt: bool = True, branch: str = DEFAULT_BRANCH,
             passphrase: str | None = None) -> Repo:
        """Create `.got/` in `workdir` with a fresh secret (kept under `passphrase` if given);
        HEAD points at an unborn branch. Cost: as create, plus a key derivation with a
        passphrase. Raises RepoExists, InvalidInput for a passphrase without encryption."""
        import secrets  # here: only init needs it, and it costs every command's start (hmac, hashlib)

        if passphrase is not None and not encrypt:
            raise InvalidInput("a passphrase protects the key of an encrypted repository: drop --no-encrypt")
        secret = secrets.token_bytes(32) if encrypt else None
        wrapped = keywrap.wrap(secret, passphrase) if passphrase is not None else None
        config = Config(secrets.token_bytes(32), secret, wrapped=wrapped)
        return cls.create(workdir, config, branch=branch)

    @classmethod
    def create(cls, workdir: str | os.PathLike, config: Config, *, branch: str = DEFAULT_BRANCH) -> Repo:
        """Create `.got/` in `workdir` with the given settings (a clone takes its remote's).
        Cost: one atomic config write (mode 0600), an empty store and refs database, one refs
        transaction. Raises RepoExists if `.got/config.json` is there already."""
        from pathlib import Path

        workdir = Path(workdir).absolute()
        dot = workdir / DOT
        if (dot / "config.json").exists():
            raise RepoExists(dot)
        dot.mkdir(parents=True, exist_ok=True)
        write_atomic(dot / "config.json", config.to_json())
        os.chmod(dot / "config.json", 0o600)
        repo = cls(workdir, config)
        repo.store  # noqa: B018 - a new repository has its whole layout, store included
        repo.refs.set("HEAD", f"ref: heads/{check_ref_name(branch)}")
        return repo

    @classmethod
    def open(cls, start: str | os.PathLike = ".", passphrase: Callable[[], str] = keywrap.ask) -> Repo:
        """The repo whose `.got/` is in `start` or its nearest ancestor; inside a mount of a
        repository (`got mount`), that repository, whatever directory the mount sits in.
        `passphrase()` is asked only if its key is under one (default: GOT_PASSPHRASE, else a
        terminal prompt). Costs a few stats and one read of the kernel's mount table. Raises
        RepoNotFound if no ancestor holds one, ConfigDamaged for an unreadable config,
        WrongPassphrase / PassphraseNeeded for a key under a passphrase."""
        from gotfs.repo.mounttable import enclosing_mount

        here = os.path.abspath(start)
        mount = enclosing_mount(here)
        up = here
        while True:
            d = up
            if mount is not None and mount.workdir is not None and os.path.realpath(d) == os.fspath(
                    mount.mountpoint.parent):
                d = os.fspath(mount.workdir)
            cfg = os.path.join(d, DOT, "config.json")
            if os.path.exists(cfg):
                try:
                    with open(cfg, encoding="utf-8") as f:
                        return cls(d, Config.from_json(f.read(), passphrase))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise ConfigDamaged(cfg, e) from None
            if os.path.dirname(up) == up:
                raise RepoNotFound(here)
            up = os.path.dirname(up)

    def set_passphrase(self, passphrase: str | None) -> None:
        """Keep the secret under `passphrase` from now on (None: in plain text again). The
        secret itself, and so every blob and remote, is unchanged. Cost: a key derivation and
        one atomic, fsynced file write. Raises InvalidInput for an unencrypted repository."""
        if self.config.secret is None:
            raise InvalidInput("this repository is not encrypted: it has no key to protect")
        wrapped = keywrap.wrap(self.config.secret, passphrase) if passphrase is not None else None
        config = self.config.replace(wrapped=wrapped)
        if wrapped is not None:
            self.refs.drop_commit_bodies()  # kept only while the key is in plain text (History.read_commit)
        path = self.dot / "config.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
        with os.fdopen(fd, "w") as f:
            f.write(config.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.config = config

    def close(self) -> None:
        """Flush and close the store if it was opened, close the refs database. Cost: a
        store flush."""
        if "store" in self.__dict__:
            self.store.close()
        self.refs.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, name: str, how: int) -> Iterator[None]:
        """Hold flock `how` on `.got/<name>` for the block (released when the fd closes)."""
        fd = os.open(self.dot_file(name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, how)
            yield
        finally:
            os.close(fd)

    def writing(self):
        """Held (shared) while blobs are posted and published, so gc never sweeps them."""
        return self._flock("lock", fcntl.LOCK_SH)

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 30.0) -> Iterator[None]:
        """Held by gc: waits for writers to finish, and keeps new ones out. Raises RepoLocked
        if writers still hold the lock after `timeout` seconds (polled every 50 ms)."""
        fd = os.open(self.dot_file("lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RepoLocked("another got process is writing to this repository; try again") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)
