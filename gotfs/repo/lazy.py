"""Lazy snapshots: read a commit straight from remotes, fetching blobs only when read.

    snap = open_remote_snapshot(["s3://bucket/photos"], secret, "main", cache_size=2 << 30)
    mount(snap.fs, snap, "/mnt/photos")          # snap is the mount's (read-only) RootSource
    snap.close()

Why: a clone copies a whole snapshot before showing a byte of it; opening one file of a
10 GiB snapshot should fetch only the blobs on its path (the commit, the tree nodes from the
root to the file, the file's chunks). So the filesystem is built over a store whose blobs live
on the remote (RemoteStore), read through a size-bounded BlobCache kept between runs, behind a
StoreRouter when several remotes (or the local repository and a remote) may hold them. Nothing
above the blob layer knows: the FS, the tree and the mount read the router like any store.

Where things live (no repository needed):

    <cache_dir>/blobs/                  the BlobCache (LRU, bounded by cache_size), shared by
                                        every remote: a blob is the same bytes wherever it is
    <cache_dir>/remotes/<hash>.sqlite   the mirror of one remote's journal (refs, blob places),
                                        keyed by a hash of its URL, so a second open reads
                                        only the journal entries added since

In a repository (`open_repo_snapshot`): the local store is read first, then the remotes, whose
mirrors are the repository's own; read blobs are cached in `.got/cache/`.

Costs of an open: per remote one GET (its marker, which checks the key), plus the journal
entries added since this machine last read it; then the commit blob (one ranged GET).
Reading a file then costs the tree nodes on its path and its chunks, each a ranged GET on
first use (coalesced per pack by the mount's readahead hints), nothing once cached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import blake3

from gotfs.fs import FS
from gotfs.repo import remotes as R
from gotfs.repo.commit import Commit, commit_id
from gotfs.repo.errors import RefNotFound
from gotfs.repo.repo import Repo
from gotkv.blobs.ref import Ref
from gotkv.blobs.remote.cache import BlobCache
from gotkv.blobs.remote.objects import RemoteError
from gotkv.blobs.remote.remote import Remote
from gotkv.blobs.remote.store import RemoteStore
from gotkv.blobs.remote.url import is_url, normalize, open_objects
from gotkv.blobs.router import StoreRouter
from gotkv.blobs.store import Store
from gotkv.errors import GotError, InvalidInput
from gotkv.params import Params
from gotkv.root import Root

DEFAULT_CACHE_SIZE = 1 << 30


class ReadOnlySnapshot(GotError):
    """A change was asked of a snapshot read from a remote."""

    def __init__(self) -> None:
        super().__init__("a snapshot read from a remote is read-only")


@dataclass
class RemoteSnapshot:
    """One commit of a remote, ready to read: `fs` over the routed store, its `root`.

    Also a RootSource (gotfs.mount) for a read-only mount. `close()` closes the stores it
    opened (never a repository's own store). `skipped` names remotes that could not be
    opened and were left out of the router (the caller may warn)."""

    fs: FS
    root: Root
    commit: Ref
    label: str
    store: Store
    closers: list[Callable[[], None]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def current(self) -> Root:
        return self.root

    def hold(self) -> None:
        """Nothing is posted to a read-only snapshot, so nothing to keep from gc."""

    def release(self) -> None:
        """Nothing was held."""

    def publish(self, root: Root) -> None:
        raise ReadOnlySnapshot()

    def close(self) -> None:
        closers, self.closers = self.closers, []
        errors = []
        for close in closers:
            try:
                close()
            except Exception as e:  # noqa: BLE001 - close the rest, then report the first
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> RemoteSnapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/got, else ~/.cache/got."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "got"


def fs_over(store: Store, secret: bytes | None, settings: dict) -> FS:
    """An FS over `store` with a repository's settings (a remote's sealed settings, or a
    repo Config's fields: salt hex, node sizes, cipher, format), as Repo builds its own."""
    params = Params(bytes.fromhex(settings["salt"]), settings["target_node_size"], settings["max_node_size"])
    return FS(store, secret=secret, params=params, cipher=settings["cipher"], layout=settings["format"])


def read_commit(fs: FS, ref: Ref) -> Commit:
    """The commit `ref`, read through whatever store `fs` reads."""
    return Commit.from_bytes(fs.kv.nodes.codec.decode(ref, fs.store.get(ref.cid)))


# -- no repository ------------------------------------------------------------------------------


def open_remote_snapshot(urls: Sequence[str], secret: bytes, branch_or_commit: str | None, *,
                         cache_dir: str | os.PathLike | None = None,
                         cache_size: int = DEFAULT_CACHE_SIZE) -> RemoteSnapshot:
    """Commit `branch_or_commit` (a branch name; None: main, else master, else the first;
    or a full 128-digit ref) of the remotes at `urls`, read in that order.

    A remote that cannot be opened (unreachable, not a got remote, another key) is skipped
    while another one opens, and named in `skipped`; if none opens, the first one's error
    (RemoteError, one line). Remotes holding another repository than the first are refused.
    """
    if not urls:
        raise InvalidInput("no remote to read from")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache = BlobCache(cache_dir / "blobs", cache_size)
    remotes, skipped = _open_remotes([normalize(u) for u in urls], secret, cache_dir)
    stores = [RemoteStore(r, cache=cache, owns_remote=True) for r in remotes]
    closers = [s.close for s in stores]
    try:
        store = stores[0] if len(stores) == 1 else StoreRouter(stores, owns=False)
        fs = fs_over(store, secret, remotes[0].settings)
        name, ref = _resolve_on(remotes, branch_or_commit)
        root = read_commit(fs, ref).root
    except BaseException:
        for close in closers:
            close()
        raise
    label = f"{remotes[0].url}#{name} ({commit_id(ref)[:12]})"
    return RemoteSnapshot(fs, root, ref, label, store, closers, skipped)


def _open_remotes(urls: list[str], secret: bytes, cache_dir: Path) -> tuple[list[Remote], list[str]]:
    opened: list[Remote] = []
    errors: list[GotError] = []
    for url in urls:
        try:
            remote = _open_mirrored(url, secret, cache_dir)
        except GotError as e:
            errors.append(e)
            continue
        if opened and remote.settings.get("salt") != opened[0].settings.get("salt"):
            remote.close()
            for r in opened:
                r.close()
            raise RemoteError(f"{url} holds another repository than {opened[0].url}")
        opened.append(remote)
    if not opened:
        raise errors[0]
    return opened, [str(e) for e in errors]


def _open_mirrored(url: str, secret: bytes, cache_dir: Path) -> Remote:
    """Remote.open with its mirror in the cache. A mirror made for another repository at the
    same URL (the remote was wiped and pushed anew) is dropped and rebuilt."""
    state = cache_dir / "remotes" / f"{blake3.blake3(url.encode()).hexdigest()[:32]}.sqlite"
    state.parent.mkdir(parents=True, exist_ok=True)
    remote = _open(url, secret, state)
    salt_file = state.with_suffix(".salt")
    salt = str(remote.settings.get("salt"))
    recorded = salt_file.read_text() if salt_file.exists() else None
    if recorded == salt:
        return remote
    if recorded is not None:
        remote.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(state) + suffix).unlink(missing_ok=True)
        remote = _open(url, secret, state)
    salt_file.write_text(salt)
    return remote


def _open(url: str, secret: bytes, state: Path) -> Remote:
    objects = open_objects(url)
    try:
        return Remote.open(objects, secret, state)
    except BaseException:
        objects.close()
        raise


def _resolve_on(remotes: list[Remote], spec: str | None) -> tuple[str, Ref]:
    """(what it is called, the commit) for a branch name or full ref, from the first remote
    whose journal can be read."""
    errors = []
    for remote in remotes:
        try:
            refs = remote.refs()
            break
        except RemoteError as e:
            errors.append(e)
    else:
        raise errors[0]
    heads = {n[len("heads/"):]: v for n, v in refs.items() if n.startswith("heads/")}
    if spec is None:
        spec = next((b for b in ("main", "master") if b in heads), min(heads, default=None))
        if spec is None:
            raise RefNotFound(f"{remotes[0].url} has no branches")
    name = spec[len("heads/"):] if spec.startswith("heads/") else spec
    if name in heads:
        return name, Ref.parse(heads[name])
    if len(spec) == 128 and all(c in "0123456789abcdef" for c in spec.lower()):
        return spec[:12], Ref.parse(spec.lower())
    known = ", ".join(sorted(heads)) or "none"
    raise RefNotFound(f"{spec} on {remotes[0].url} (branches: {known})")


# -- in a repository ----------------------------------------------------------------------------


def remote_of(repo: Repo, rev: str) -> tuple[str, str] | None:
    """(remote name, branch) if `rev` names a remote-tracking branch (`origin/main`)."""
    for name in R.remotes(repo):
        if rev.startswith(name + "/") and len(rev) > len(name) + 1:
            return name, rev[len(name) + 1:]
    return None


def open_repo_snapshot(repo: Repo, rev: str, remotes: Sequence[str] = (), *,
                       cache_dir: str | os.PathLike | None = None,
                       cache_size: int = DEFAULT_CACHE_SIZE) -> RemoteSnapshot:
    """Revision `rev` of `repo`, reading blobs the repository lacks from remotes (names of
    the repo's remotes or URLs), in order after its own store.

    With no `remotes`, a remote-tracking revision (`origin/main`) reads from its remote, and
    means the branch as it is on the remote now (no `got fetch` needed). A remote that cannot
    be reached is skipped (named in `skipped`); `origin/main` is then the tracking ref this
    repository last fetched. Any other revision resolves locally. The caller closes the
    snapshot; the repository stays open (and owns its store).
    """
    tracking = remote_of(repo, rev)
    names = list(remotes) or ([tracking[0]] if tracking else [])
    if not names:
        raise InvalidInput(f"{rev} is not on a remote: name one with --remote")
    cache_dir = Path(cache_dir) if cache_dir is not None else repo.dot / "cache"
    cache = BlobCache(cache_dir / "blobs", cache_size)
    opened: dict[str, Remote] = {}
    skipped: list[str] = []
    try:
        for name in names:
            try:
                opened[name] = _open_for_repo(repo, name, cache_dir)
            except RemoteError as e:  # unreachable, not a remote, another key: read without it
                skipped.append(str(e))
    except BaseException:
        for r in opened.values():
            r.close()
        raise
    stores = [RemoteStore(r, cache=cache, owns_remote=True) for r in opened.values()]
    closers = [s.close for s in stores]
    try:
        router = StoreRouter([repo.store, *stores], owns=False)
        fs = fs_over(router, repo.config.secret, R.settings_of(repo.config))
        ref = _resolve_in_repo(repo, rev, tracking, opened.get(tracking[0]) if tracking else None, skipped)
        root = read_commit(fs, ref).root
    except BaseException:
        for close in closers:
            close()
        raise
    return RemoteSnapshot(fs, root, ref, f"{rev} ({commit_id(ref)[:12]})", router, closers, skipped)


def _open_for_repo(repo: Repo, name_or_url: str, cache_dir: Path) -> Remote:
    if name_or_url in R.remotes(repo) or not is_url(name_or_url):
        return R.open_remote(repo, name_or_url)
    if repo.config.secret is None:
        raise InvalidInput("this repository is not encrypted, so it cannot use remotes")
    remote = _open_mirrored(normalize(name_or_url), repo.config.secret, cache_dir)
    if remote.settings.get("salt") != repo.config.salt.hex():
        remote.close()
        raise RemoteError(f"{name_or_url} holds another repository (same key, other settings)")
    return remote


def _resolve_in_repo(repo: Repo, rev: str, tracking: tuple[str, str] | None, remote: Remote | None,
                     skipped: list[str]) -> Ref:
    """A tracking revision from its remote's journal if it can be read, else locally."""
    if tracking is not None and remote is not None:
        try:
            value = remote.ref(f"heads/{tracking[1]}")
        except RemoteError as e:
            skipped.append(str(e))
            value = None
        if value is not None:
            return Ref.parse(value)
    return repo.resolve(rev)
