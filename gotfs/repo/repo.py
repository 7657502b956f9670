"""Repo: a got repository embedded in `.got/` beside a working directory.

    .got/config.json   format, tree-shape salt, encryption secret (never leaves this machine;
                       in plain text, or wrapped under a passphrase: keywrap.py), cipher; the
                       format is the codec's blob layout (see gotkv/blobs/codec.py)
    .got/store/        the LocalStore (packs + SQLite index) holding every blob
    .got/refs.sqlite   branches, tags, HEAD, working roots (Refs, compare-and-swap)
    .got/workcopy.sqlite  the stat cache of the working directory
    .got/lock          flock: writers hold it shared while they post and publish, gc exclusive

Publishing order is what makes crashes harmless: blobs are posted, the store is flushed
(durable), and only then is a ref moved by compare-and-swap. A process killed at any point
leaves every ref at a complete commit, old or new.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import heapq
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from gotkv.blobs.codec import DEFAULT_CIPHER, DEFAULT_LAYOUT, LAYOUTS, Codec
from gotfs.repo import keywrap
from gotfs.repo.commit import Commit, commit_id
from gotfs.repo.errors import (BranchExists, BranchMoved, MergeInProgress, NothingToCommit, RefNotFound,
                               RepoExists, RepoLocked, RepoNotFound, WorkdirBehind, ConfigDamaged, DamagedData)
from gotfs.repo.refs import Refs
from gotkv.blobs.local import LocalStore
from gotkv.blobs.ref import Ref
from gotkv.errors import InvalidInput
from gotkv.params import Params
from gotkv.root import Root

if TYPE_CHECKING:
    from gotfs.fs import FS

DOT = ".got"
DEFAULT_BRANCH = "main"
LEGACY_CIPHER = "chacha20-poly1305"  # what a config.json without a "cipher" field was sealed with
FORMAT = DEFAULT_LAYOUT  # written by this version: config "format" is the blob layout
_BRANCH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


@dataclass(frozen=True, slots=True)
class Config:
    salt: bytes
    secret: bytes | None
    target_node_size: int = 8192
    max_node_size: int = 65536
    cipher: str = DEFAULT_CIPHER
    format: int = FORMAT
    wrapped: dict | None = field(default=None, compare=False)  # the secret under a passphrase (keywrap.wrap)

    def to_json(self) -> str:
        doc = {"format": self.format, "salt": self.salt.hex()}
        if self.wrapped is not None:
            doc["wrapped_secret"] = self.wrapped
        else:
            doc["secret"] = self.secret.hex() if self.secret else None
        doc.update(target_node_size=self.target_node_size, max_node_size=self.max_node_size, cipher=self.cipher)
        return json.dumps(doc, indent=2)

    @classmethod
    def from_json(cls, text: str, passphrase: Callable[[], str] = keywrap.ask) -> Config:
        """The config in config.json's `text`; a wrapped secret is opened with `passphrase()`
        (keywrap.WrongPassphrase if it does not open it)."""
        doc = json.loads(text)
        fmt = doc.get("format", 1)
        if fmt not in LAYOUTS:
            raise ValueError(f"format {fmt!r} is not one this version of got reads "
                             f"({', '.join(map(str, LAYOUTS))}); it was made by a newer got")
        wrapped = doc.get("wrapped_secret")
        if wrapped is not None:
            secret = keywrap.unwrap(wrapped, passphrase())
        else:
            secret = bytes.fromhex(doc["secret"]) if doc["secret"] else None
        return cls(bytes.fromhex(doc["salt"]), secret, doc["target_node_size"], doc["max_node_size"],
                   doc.get("cipher", LEGACY_CIPHER), fmt, wrapped)


def check_ref_name(name: str, what: str = "branch") -> str:
    if (not name or name.startswith(("-", "/", ".")) or name.endswith(("/", ".lock")) or ".." in name
            or "//" in name or not set(name) <= _BRANCH_CHARS or name == "HEAD"):
        raise InvalidInput(f"invalid {what} name {name!r} (letters, digits, - _ . / only)")
    return name


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Repo:
    """Commits, branches, tags and working roots over one LocalStore."""

    def __init__(self, workdir: Path, config: Config):
        self.workdir = workdir
        self.dot = workdir / DOT
        self.config = config
        self.store = LocalStore(self.dot / "store")
        # What commits are sealed with: the tree nodes' codec (FS's kv codec). Built here, so a
        # config with an unknown cipher or layout fails at open.
        self._commit_codec = Codec(config.secret, level=3, cipher=config.cipher, layout=config.format)
        self.refs = Refs(self.dot / "refs.sqlite")
        self._lock_fd: int | None = None

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
        HEAD points at an unborn branch."""
        import secrets  # here: only init needs it, and it costs every command's start (hmac, hashlib)

        if passphrase is not None and not encrypt:
            raise InvalidInput("a passphrase protects the key of an encrypted repository: drop --no-encrypt")
        secret = secrets.token_bytes(32) if encrypt else None
        wrapped = keywrap.wrap(secret, passphrase) if passphrase is not None else None
        config = Config(secrets.token_bytes(32), secret, wrapped=wrapped)
        return cls.create(workdir, config, branch=branch)

    @classmethod
    def create(cls, workdir: str | os.PathLike, config: Config, *, branch: str = DEFAULT_BRANCH) -> Repo:
        """Create `.got/` in `workdir` with the given settings (a clone takes its remote's)."""
        workdir = Path(workdir).absolute()
        dot = workdir / DOT
        if (dot / "config.json").exists():
            raise RepoExists(dot)
        dot.mkdir(parents=True, exist_ok=True)
        _write_atomic(dot / "config.json", config.to_json())
        os.chmod(dot / "config.json", 0o600)
        repo = cls(workdir, config)
        repo.refs.set("HEAD", f"ref: heads/{check_ref_name(branch)}")
        return repo

    @classmethod
    def open(cls, start: str | os.PathLike = ".", passphrase: Callable[[], str] = keywrap.ask) -> Repo:
        """The repo whose `.got/` is in `start` or its nearest ancestor; inside a mount of a
        repository (`got mount`), that repository, whatever directory the mount sits in.
        `passphrase()` is asked only if its key is under one (default: GOT_PASSPHRASE, else a
        terminal prompt). Costs a few stats and one read of the kernel's mount table."""
        from gotfs.repo.mounttable import enclosing_mount

        here = Path(start).absolute()
        mount = enclosing_mount(here)
        for d in (here, *here.parents):
            if mount is not None and mount.workdir is not None and d.resolve() == mount.mountpoint.parent:
                d = mount.workdir
            cfg = d / DOT / "config.json"
            if cfg.exists():
                try:
                    return cls(d, Config.from_json(cfg.read_text(), passphrase))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise ConfigDamaged(cfg, e) from None
        raise RepoNotFound(here)

    def set_passphrase(self, passphrase: str | None) -> None:
        """Keep the secret under `passphrase` from now on (None: in plain text again). The
        secret itself, and so every blob and remote, is unchanged. One atomic file write."""
        if self.config.secret is None:
            raise InvalidInput("this repository is not encrypted: it has no key to protect")
        wrapped = keywrap.wrap(self.config.secret, passphrase) if passphrase is not None else None
        config = dataclasses.replace(self.config, wrapped=wrapped)
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
        fd = os.open(self.dot / name, os.O_RDWR | os.O_CREAT, 0o644)
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
        """Held by gc: waits for writers to finish, and keeps new ones out."""
        fd = os.open(self.dot / "lock", os.O_RDWR | os.O_CREAT, 0o644)
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

    # -- commits -----------------------------------------------------------------------

    def read_commit(self, ref: Ref) -> Commit:
        return Commit.from_bytes(self._commit_codec.decode(ref, self.store.get(ref.cid)))

    def _post_commit(self, commit: Commit) -> Ref:
        ref, stored = self._commit_codec.encode(commit.to_bytes())
        self.store.post(stored, ref.cid)
        return ref

    def head_branch(self) -> str | None:
        """The branch HEAD is on, or None when detached."""
        head = self.refs.get("HEAD") or f"ref: heads/{DEFAULT_BRANCH}"
        return head[len("ref: heads/"):] if head.startswith("ref: heads/") else None

    def head(self) -> Ref | None:
        """The commit HEAD points at, or None on an unborn branch."""
        branch = self.head_branch()
        value = self.refs.get(f"heads/{branch}") if branch else self.refs.get("HEAD")
        return Ref.parse(value) if value else None

    def head_root(self) -> Root:
        head = self.head()
        return self.read_commit(head).root if head else self.fs.new()

    def commit(self, root: Root, message: str, *, author: str = "got", branch: str | None = None,
               time_ns: int | None = None, retries: int = 5, workdir: bool = False) -> Ref:
        """Record `root` as a new commit on `branch` (default: HEAD's) and move it there.

        The move is a compare-and-swap: if another process commits to the branch in between,
        this commit is re-parented on the new head and tried again, so neither is lost.
        workdir=True also records the commit as the working directory's base, in the same
        transaction, so a crash can never leave the two disagreeing.
        """
        branch = branch or self.head_branch()
        name = f"heads/{check_ref_name(branch)}" if branch else "HEAD"
        with self.writing():
            for _ in range(retries + 1):
                old = self.refs.get(name)
                parents = (Ref.parse(old),) if old else ()
                commit = Commit(root, parents, author, time_ns or time.time_ns(), message)
                ref = self._post_commit(commit)
                self.store.flush()
                self.refs.index_commit(ref)
                try:
                    self.refs.cas(name, old, str(ref), also={"WORKDIR": str(ref)} if workdir else None)
                    return ref
                except BranchMoved:
                    continue
        raise BranchMoved(name)

    def resolve(self, spec: str) -> Ref:
        """A commit from `HEAD`, a branch, a tag, an id or unique id prefix, with `~N` / `^`."""
        base, steps = _split_ancestry(spec)
        ref = self._resolve_name(base)
        for _ in range(steps):
            parents = self.read_commit(ref).parents
            if not parents:
                raise RefNotFound(spec)
            ref = parents[0]
        return ref

    def _resolve_name(self, name: str) -> Ref:
        if name in ("HEAD", "@"):
            head = self.head()
            if head is None:
                raise RefNotFound("HEAD (no commits yet)")
            return head
        if name == "MERGE_HEAD" and self.refs.get("MERGE_HEAD"):  # the other side of a merge in progress
            return Ref.parse(self.refs.get("MERGE_HEAD"))
        for full in (name, f"heads/{name}", f"tags/{name}", f"remotes/{name}"):
            if full.startswith(("heads/", "tags/", "remotes/")):
                value = self.refs.get(full)
                if value:
                    return Ref.parse(value)
        text = name.lower()
        if len(text) >= 4 and all(c in "0123456789abcdef" for c in text):
            # 128 digits are a full ref (cid + key); anything shorter is an id or id prefix.
            ref = Ref.parse(text) if len(text) == 128 else self.refs.resolve_prefix(text)
            if ref is not None:
                return ref
        raise RefNotFound(name)

    def root_of(self, spec: str) -> Root:
        return self.read_commit(self.resolve(spec)).root

    def log(self, start: str = "HEAD") -> Iterator[tuple[Ref, Commit]]:
        """Commits reachable from `start`, newest first (by time, then id), each once."""
        try:
            first = self.resolve(start)
        except RefNotFound:
            if start == "HEAD" and self.head() is None:
                return
            raise
        seen = {first.cid}
        heap = [(-self.read_commit(first).time_ns, commit_id(first), first)]
        while heap:
            _, _, ref = heapq.heappop(heap)
            commit = self.read_commit(ref)
            yield ref, commit
            for p in commit.parents:
                if p.cid not in seen:
                    seen.add(p.cid)
                    heapq.heappush(heap, (-self.read_commit(p).time_ns, commit_id(p), p))

    # -- branches and tags -------------------------------------------------------------

    def branches(self) -> dict[str, Ref]:
        return {k[len("heads/"):]: Ref.parse(v) for k, v in self.refs.list("heads/").items()}

    def tags(self) -> dict[str, Ref]:
        return {k[len("tags/"):]: Ref.parse(v) for k, v in self.refs.list("tags/").items()}

    def create_branch(self, name: str, at: str = "HEAD") -> Ref:
        ref = self.resolve(at)
        try:
            self.refs.cas(f"heads/{check_ref_name(name)}", None, str(ref))
        except BranchMoved:
            raise BranchExists(f"branch {name!r}") from None
        return ref

    def delete_branch(self, name: str) -> None:
        if name == self.head_branch():
            raise InvalidInput(f"cannot delete branch {name!r}: HEAD is on it; switch first")
        value = self.refs.get(f"heads/{name}")
        if value is None:
            raise RefNotFound(name)
        self.refs.cas(f"heads/{name}", value, None)

    def create_tag(self, name: str, at: str = "HEAD") -> Ref:
        ref = self.resolve(at)
        try:
            self.refs.cas(f"tags/{check_ref_name(name, 'tag')}", None, str(ref))
        except BranchMoved:
            raise BranchExists(f"tag {name!r}") from None
        return ref

    def delete_tag(self, name: str) -> None:
        value = self.refs.get(f"tags/{name}")
        if value is None:
            raise RefNotFound(name)
        self.refs.cas(f"tags/{name}", value, None)

    def set_head(self, branch: str | None, detached: Ref | None = None) -> None:
        self.refs.set("HEAD", f"ref: heads/{branch}" if branch else str(detached))

    # -- the working directory ---------------------------------------------------------

    def workcopy(self, fs: FS | None = None):
        """The working directory; `fs` (default: the repo's) is where a checkout reads from."""
        from gotfs.repo.workcopy import WorkCopy
        return WorkCopy(self, fs)

    def status(self):
        """Changes in the working directory against the commit it holds (workdir_root)."""
        wc = self.workcopy()
        try:
            return wc.status(self.workdir_root())
        finally:
            wc.close()

    def workdir_root(self) -> Root:
        """The root of the commit the working directory holds: HEAD's, unless a read-write
        mount committed to the branch since (then the directory is behind until checked out)."""
        base = self.workdir_base()
        return self.read_commit(base).root if base is not None else self.head_root()

    def _workdir_lock(self):
        """Serialises commits and checkouts of this working directory between processes."""
        return self._flock("workdir.lock", fcntl.LOCK_EX)

    def workdir_base(self) -> Ref | None:
        """The commit the working directory was last committed as or checked out from."""
        value = self.refs.get("WORKDIR")
        return Ref.parse(value) if value else None

    def commit_workdir(self, message: str, *, author: str = "got", allow_empty: bool = False,
                       progress=None) -> tuple[Ref, Root]:
        """Snapshot the working directory and commit it on HEAD's branch.

        Refuses (WorkdirBehind) when the branch has moved past the commit the working
        directory is based on — a read-write mount committed to it — because committing the
        stale directory would silently revert those changes. NothingToCommit when the
        snapshot holds what HEAD's tree holds, unless allow_empty: the same root, or one that
        differs only in how unchanged bytes are laid out in blobs (a re-packed file after a
        checkout), which no status, diff or show could name. Metadata the working directory
        does not record (mtimes, xattrs) is kept from HEAD's tree (gotfs.repo.unrecorded).
        """
        from gotfs.diff import diff as fs_diff  # here, not at the top: read commands never load the FS layer
        from gotfs.repo.unrecorded import keep_unrecorded

        with self._workdir_lock(), self.writing(), self.store.discarding_on_full_disk():
            head, base = self.head(), self.workdir_base()
            if head is not None and base is not None and head != base:
                raise WorkdirBehind(self.head_branch() or "HEAD")
            head_root = self.head_root()
            wc = self.workcopy()
            try:
                root = wc.snapshot(progress, live=head_root)
            finally:
                wc.close()
            root = keep_unrecorded(self.fs, head_root, root)
            if not allow_empty and (root == head_root or next(fs_diff(self.fs, head_root, root), None) is None):
                raise NothingToCommit()
            ref = self.commit(root, message, author=author, workdir=True)
            return ref, root

    def commit_working_root(self, branch: str, message: str, *, author: str = "got",
                            clear: bool = False) -> Ref | None:
        """Commit a read-write mount's latest working root on `branch` if it differs from the
        branch head; with clear=True (at unmount) also drop the working root. None if there
        was nothing to commit."""
        with self.writing():
            work = self.working_root(branch)
            if work is None:
                return None
            head = self.refs.get(f"heads/{branch}")
            head_root = self.read_commit(Ref.parse(head)).root if head else self.fs.new()
            ref = self.commit(work, message, author=author, branch=branch) if work != head_root else None
            if clear:
                try:
                    self.refs.cas(f"work/{branch}", str(work), None)
                except BranchMoved:
                    pass  # a mount published again meanwhile: keep its newer root
            return ref

    def snapshot(self, progress=None) -> Root:
        """The working directory as a root, as a commit would record it against the commit the
        directory holds (changed files' data is stored, nothing published)."""
        from gotfs.repo.unrecorded import keep_unrecorded

        wc = self.workcopy()
        try:
            with self.writing():
                base = self.workdir_root()
                return keep_unrecorded(self.fs, base, wc.snapshot(progress, live=base))
        finally:
            wc.close()

    def checkout(self, spec: str, *, force: bool = False, paths: list[str] | None = None):
        """Switch the working directory (and HEAD) to `spec`, or restore `paths` from it.

        A branch name puts HEAD on that branch; anything else detaches HEAD. Refuses to
        overwrite uncommitted changes unless force. Returns the list of changed paths.
        """
        target_ref = self.resolve(spec)
        target = self.read_commit(target_ref).root
        if not paths and self.refs.get("MERGE_STATE"):
            raise MergeInProgress()  # switching away would strand the merge's working state
        with self._workdir_lock():
            from gotfs.validate import refuse_unsafe  # here: only a checkout loads it

            base_root = self.workdir_root()
            refuse_unsafe(self.fs, base_root if self.workdir_base() is not None else None, target,
                          f"commit {target_ref.short()}")
            wc = self.workcopy()
            try:
                changes = wc.checkout(base_root, target, force=force, paths=paths)
            except DamagedData as e:
                raise e.at(f"commit {target_ref.short()}") from e
            finally:
                wc.close()
            if not paths:  # HEAD and the working directory's base move together
                self.refs.set_many({"WORKDIR": str(target_ref), "HEAD": self._head_value(spec, target_ref)})
        return changes

    def _head_value(self, spec: str, target: Ref) -> str:
        """What HEAD holds after checking out `spec`: the same (for HEAD itself), the branch
        `spec` names, or else the commit (detached)."""
        if spec in ("HEAD", "@"):
            return self.refs.get("HEAD") or f"ref: heads/{DEFAULT_BRANCH}"
        branch = spec[len("heads/"):] if spec.startswith("heads/") else spec
        if branch in self.branches():
            return f"ref: heads/{branch}"
        return str(target)

    # -- working roots (read-write mounts) ----------------------------------------------

    def working_root(self, branch: str) -> Root | None:
        value = self.refs.get(f"work/{branch}")
        return Root.parse(value) if value else None

    def publish_working_root(self, branch: str, root: Root) -> None:
        """Durably record a mount's latest root: flush the store first, then the ref."""
        self.store.flush()
        self.refs.set(f"work/{branch}", str(root))

    def clear_working_root(self, branch: str) -> None:
        self.refs.set(f"work/{branch}", None)

    def mount_point(self, branch: str) -> str | None:
        """Where `branch` is mounted read-write, as recorded by that mount (None if nowhere).

        A record, not a lock: a mount that was killed leaves it behind, so callers check
        that the path is still a mount point before they rely on it.
        """
        return self.refs.get(f"mount/{branch}")

    def record_mount(self, branch: str, path: str | None) -> None:
        """Note (or, with None, forget) the path of a read-write mount of `branch`."""
        self.refs.set(f"mount/{branch}", path)


def _split_ancestry(spec: str) -> tuple[str, int]:
    """'main~2^' -> ('main', 3)."""
    steps = 0
    base = spec
    while base and base[-1] in "^~0123456789":
        if base.endswith("^"):
            steps += 1
            base = base[:-1]
            continue
        i = len(base)
        while i and base[i - 1].isdigit():
            i -= 1
        if i and base[i - 1] == "~":
            steps += int(base[i:] or 1)
            base = base[:i - 1]
            continue
        if base.endswith("~"):
            steps += 1
            base = base[:-1]
            continue
        break
    return base, steps
