"""Remotes of a repository: their names, and push, fetch, pull and clone.

A remote (gotkv/blobs/remote) is a store plus a branch table on an S3 bucket or a plain
directory, holding only ciphertext. This module moves commits between it and a repository:

- `push` sends the commits a branch has that the remote lacks, and moves the remote branch
  by compare-and-swap, only as a fast-forward: if it moved (another machine pushed first),
  nothing is overwritten and the caller is told to fetch and merge. What to send is found by
  walking from the new commit and skipping every subtree the remote holds, as the local
  mirror of its journal says: a push costs what changed, and asks the remote nothing per blob.
- `fetch` brings the commits of every remote branch (a level of each tree per request batch)
  and records them as remote-tracking refs `remotes/<remote>/<branch>`, usable as revisions
  (`origin/main`) everywhere.
- `pull` fetches, then fast-forwards the current branch and the working directory, or
  merges when the two have diverged.
- `clone` makes a repository from a remote and the repo secret (`key_text` / `parse_key`).

Ordering keeps interruptions harmless: blobs are made durable before any ref that needs them
moves, on either side, so a killed push, fetch or clone leaves every ref at a complete
commit, and a rerun sends or fetches only what is still missing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gotfs.repo import keywrap, merging
from gotfs.repo.clonecheckout import DefaultBranchCheckout
from gotfs.repo.commit import Commit
from gotfs.repo.errors import RefNotFound
from gotfs.repo.maintenance import extent_refs
from gotfs.repo.repo import DOT, Config, Repo, _write_atomic, check_ref_name
from gotkv.blobs.ref import Ref
from gotkv.blobs.remote.objects import RemoteError
from gotkv.blobs.remote.remote import Remote, RefMoved
from gotkv.blobs.remote.store import RemoteStore
from gotkv.blobs.remote.url import normalize, open_objects
from gotkv.errors import GotError, InvalidInput
from gotkv.sync import Arrived, copy_missing

REMOTES_FILE = "remotes.json"
KEY_PREFIX = "got-key-1:"
TRACKING = "remotes/"
Progress = Callable[..., None]  # progress(objects, bytes[, expected bytes])


class RemoteMoved(GotError):
    """The remote branch is not an ancestor of what is pushed: fetch, then merge."""

    exit_code = 1

    def __init__(self, remote: str, branch: str):
        super().__init__(f"{remote}/{branch} has moved: fetch, then merge")


class RemoteNotFound(GotError):
    exit_code = 1

    def __init__(self, name: str):
        super().__init__(f"no remote named {name!r}; see `got remote list`, or `got remote add {name} URL`")


@dataclass
class Transfer:
    """What a push, fetch or clone moved: for the user's summary and the benchmarks."""

    commits: int = 0
    blobs: int = 0
    bytes: int = 0
    requests: int = 0
    seconds: float = 0.0
    refs: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"commits": self.commits, "blobs": self.blobs, "bytes": self.bytes,
                "requests": self.requests, "seconds": round(self.seconds, 3),
                "refs": {k: {"old": _commit_id(o), "new": _commit_id(n)} for k, (o, n) in self.refs.items()}}


def _commit_id(value: str | None) -> str | None:
    """A ref value as the commit id users see (its content id), without the data key."""
    return Ref.parse(value).cid.hex() if value else None


# -- the key ----------------------------------------------------------------------------------


def key_text(repo: Repo) -> str:
    """The repo secret as one line of text (what `got key export` prints)."""
    if repo.config.secret is None:
        raise InvalidInput("this repository is not encrypted: it has no key, and cannot use remotes")
    return KEY_PREFIX + repo.config.secret.hex()


def parse_key(text: str) -> bytes:
    """The secret in a key line (InvalidInput, one line, if it is not one)."""
    text = text.strip()
    body = text[len(KEY_PREFIX):] if text.startswith(KEY_PREFIX) else text
    if not re.fullmatch(r"[0-9a-fA-F]{64}", body):
        raise InvalidInput(f"not a got key (expected {KEY_PREFIX} and 64 hex digits, "
                           "as `got key export` prints)")
    return bytes.fromhex(body)


# -- remote names -----------------------------------------------------------------------------


def remotes(repo: Repo) -> dict[str, str]:
    """{name: url} of the repository's remotes."""
    path = repo.dot / REMOTES_FILE
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (ValueError, TypeError):
        raise GotError(f"{path} is damaged; fix or delete it, then `got remote add` again") from None


def add_remote(repo: Repo, name: str, url: str) -> str:
    """Record remote `name` at `url`; if something is already there, check it is a got
    remote this repository's key opens. Returns the normalized URL."""
    check_ref_name(name, "remote")
    key_text(repo)  # refuses an unencrypted repository
    known = remotes(repo)
    if name in known:
        raise InvalidInput(f"remote {name!r} already exists ({known[name]}); remove it first")
    url = normalize(url)
    objects = open_objects(url)
    try:
        if objects.exists("got-remote"):
            Remote.open(objects, repo.config.secret, _state_path(repo, name)).close()
    finally:
        objects.close()
    _write_atomic(repo.dot / REMOTES_FILE, json.dumps({**known, name: url}, indent=2))
    return url


def remove_remote(repo: Repo, name: str) -> None:
    """Forget remote `name`, its tracking refs and its mirror (the remote is untouched)."""
    known = remotes(repo)
    if name not in known:
        raise RemoteNotFound(name)
    del known[name]
    repo.refs.set_many({k: None for k in repo.refs.list(f"{TRACKING}{name}/")})
    _write_atomic(repo.dot / REMOTES_FILE, json.dumps(known, indent=2))
    for suffix in ("", "-wal", "-shm"):
        Path(str(_state_path(repo, name)) + suffix).unlink(missing_ok=True)


def _state_path(repo: Repo, name: str) -> Path:
    return repo.dot / "remotes" / f"{name}.sqlite"


def settings_of(config: Config) -> dict:
    """What a clone needs besides the key to rebuild equal trees (sealed on the remote)."""
    return {"salt": config.salt.hex(), "target_node_size": config.target_node_size,
            "max_node_size": config.max_node_size, "cipher": config.cipher, "format": config.format}


def open_remote(repo: Repo, name: str, *, create: bool = False) -> Remote:
    """The Remote named `name`; create=True makes it on first push (bucket, marker)."""
    known = remotes(repo)
    if name not in known:
        raise RemoteNotFound(name)
    secret = repo.config.secret
    if secret is None:
        raise InvalidInput("this repository is not encrypted, so it cannot use remotes")
    remote = Remote.open(open_objects(known[name]), secret, _state_path(repo, name),
                         create_with=settings_of(repo.config) if create else None)
    if remote.settings.get("salt") != repo.config.salt.hex():
        remote.close()
        raise RemoteError(f"{known[name]} holds another repository (same key, other settings)")
    return remote


# -- push -------------------------------------------------------------------------------------


def push(repo: Repo, name: str, branch: str | None = None, *, delete: bool = False,
         progress: Progress | None = None) -> Transfer:
    """Send `branch` (default: HEAD's) to remote `name` and move it there, fast-forward only.

    RemoteMoved when the remote branch holds a commit this one does not descend from.
    Costs: local reads of the new commits' changed subtrees; on the remote, one PUT per
    PACK_TARGET bytes sent, the GETs of journal entries others added, and one PUT for the
    journal entry that records the packs and moves the branch.
    """
    started = time.monotonic()
    branch = branch or repo.head_branch()
    if branch is None:
        raise InvalidInput("HEAD is detached: name the branch to push")
    remote = open_remote(repo, name, create=not delete)
    try:
        old = remote.ref(f"heads/{branch}")
        if delete:
            if old is None:
                raise RefNotFound(f"{name}/{branch}")
            remote.publish(refs={f"heads/{branch}": (old, None)})
            repo.refs.set(f"{TRACKING}{name}/{branch}", None)
            return Transfer(requests=_requests(remote), seconds=time.monotonic() - started,
                            refs={f"heads/{branch}": (old, None)})
        value = repo.refs.get(f"heads/{check_ref_name(branch)}")
        if value is None:
            raise RefNotFound(branch)
        tip = Ref.parse(value)
        if old is not None and old != value and not is_ancestor(repo, Ref.parse(old), tip):
            raise RemoteMoved(name, branch)
        store = RemoteStore(remote)
        report = _send(repo, store, tip, progress)
        try:
            remote.publish(refs={} if old == value else {f"heads/{branch}": (old, value)})
        except RefMoved:
            raise RemoteMoved(name, branch) from None
        repo.refs.set(f"{TRACKING}{name}/{branch}", value)
        report.refs = {} if old == value else {f"heads/{branch}": (old, value)}
        report.bytes = remote.packs.sent_bytes
        report.requests = _requests(remote)
        report.seconds = time.monotonic() - started
        return report
    finally:
        remote.close()


def _send(repo: Repo, store: RemoteStore, tip: Ref, progress: Progress | None) -> Transfer:
    """Post to `store` every commit from `tip` back to those it holds, with their trees."""
    report = Transfer()
    todo, seen = [tip], {tip.cid}
    while todo:
        ref = todo.pop()
        if store.exists([ref.cid]):
            continue
        commit = repo.read_commit(ref)
        report.blobs += repo.fs.kv.sync(commit.root, store, extent_refs, flush=False)
        store.post(repo.store.get(ref.cid), ref.cid)
        report.commits += 1
        report.blobs += 1
        if progress:
            progress(report.blobs, store.remote.packs.sent_bytes)
        for p in commit.parents:
            if p.cid not in seen:
                seen.add(p.cid)
                todo.append(p)
    return report


def is_ancestor(repo: Repo, ancestor: Ref, of: Ref) -> bool:
    """Whether `ancestor` is `of` or one of its ancestors (among commits this repo holds)."""
    if not repo.store.exists([ancestor.cid]):
        return False
    todo, seen = [of], {of.cid}
    while todo:
        ref = todo.pop()
        if ref.cid == ancestor.cid:
            return True
        for p in repo.read_commit(ref).parents:
            if p.cid not in seen:
                seen.add(p.cid)
                todo.append(p)
    return False


def _requests(remote: Remote) -> int:
    """Requests the remote's engine has sent since it was opened (opening included)."""
    return sum(getattr(remote.objects, "requests", {}).values())


# -- fetch, pull, clone -----------------------------------------------------------------------


def fetch(repo: Repo, name: str, *, progress: Progress | None = None,
          beside: Callable[[dict[str, str]], Arrived | None] | None = None) -> Transfer:
    """Bring every branch of remote `name` that this repo lacks; update `remotes/<name>/*`.
    `beside(heads)`, given the remote's {branch: ref} before anything is copied, may return a
    hook that is shown every blob as it arrives (gotkv.sync.copy_missing's `arrived`).

    Costs: the journal entries added since the last fetch; per generation of new commits one
    batched read; per level of their new subtrees one batched read; data in batches, each
    one coalesced request per pack.
    """
    started = time.monotonic()
    remote = open_remote(repo, name)
    try:
        heads = {n[len("heads/"):]: v for n, v in remote.refs().items() if n.startswith("heads/")}
        store = RemoteStore(remote)
        arrived = beside(heads) if beside else None
        report = _receive(repo, store, [Ref.parse(v) for v in heads.values()], progress, arrived)
        tracking = repo.refs.list(f"{TRACKING}{name}/")
        updates: dict[str, str | None] = {k: None for k in tracking}
        for branch, value in heads.items():
            updates[f"{TRACKING}{name}/{branch}"] = value
        changed = {k: (tracking.get(k), v) for k, v in updates.items() if tracking.get(k) != v}
        repo.refs.set_many({k: v for k, (_, v) in changed.items()})
        report.refs = changed
        report.requests = _requests(remote)
        report.seconds = time.monotonic() - started
        return report
    finally:
        remote.close()


def _receive(repo: Repo, store: RemoteStore, tips: list[Ref], progress: Progress | None,
             arrived: Arrived | None = None) -> Transfer:
    """Copy the commits from `tips` back to those the repo holds, with their trees: trees
    first, then commits oldest first, so a commit present locally always has its history."""
    report = Transfer()
    local = repo.store
    frontier = [t for t in {t.cid: t for t in tips}.values() if t.cid not in local.exists([t.cid])]
    seen = {t.cid for t in frontier}
    generations: list[list[tuple[Ref, bytes, Commit]]] = []
    codec = repo.fs.kv.nodes.codec
    while frontier:
        blobs = store.get_many(r.cid for r in frontier)
        generation = []
        nxt = []
        for ref in frontier:
            commit = Commit.from_bytes(codec.decode(ref, blobs[ref.cid]))
            generation.append((ref, bytes(blobs[ref.cid]), commit))
            for p in commit.parents:
                if p.cid not in seen:
                    seen.add(p.cid)
                    nxt.append(p)
        generations.append(generation)
        if arrived:
            arrived({ref.cid: data for ref, data, _ in generation}, False)
        have = local.exists(r.cid for r in nxt)
        frontier = [r for r in nxt if r.cid not in have]
    roots = [c.root for g in generations for _, _, c in g]
    counted = [0, 0]

    def seen_progress(n: int, nbytes: int, expected: int) -> None:
        counted[0], counted[1] = n, nbytes
        if progress:
            progress(n, nbytes, expected)

    with repo.writing():
        report.blobs = copy_missing(codec, store, local, roots, extent_refs, progress=seen_progress,
                                    arrived=arrived)
        for generation in reversed(generations):
            for ref, data, _ in generation:
                local.post(data, ref.cid)
        local.flush()
        for generation in generations:
            for ref, _, _ in generation:
                repo.refs.index_commit(ref)
    report.commits = sum(len(g) for g in generations)
    report.blobs += report.commits
    report.bytes = counted[1]
    return report


def pull(repo: Repo, name: str, branch: str | None = None, *, progress: Progress | None = None,
         author: str = "got") -> tuple[Transfer, str]:
    """fetch, then fast-forward HEAD's branch and the working directory to `<name>/<branch>`,
    or merge it when both sides have commits the other lacks (gotfs.repo.merging: a merge
    commit with two parents, after which a push fast-forwards the remote).

    Returns the fetch's report and what happened: "up to date", "fast-forward", "created",
    "merged", or "conflict" (the merge stopped with its conflicts in the working directory;
    see merging.state). A branch other than HEAD's is merged only when that is clean.
    """
    report = fetch(repo, name, progress=progress)
    branch = branch or repo.head_branch()
    if branch is None:
        raise InvalidInput("HEAD is detached: check out a branch to pull into")
    theirs = repo.refs.get(f"{TRACKING}{name}/{branch}")
    if theirs is None:
        raise RefNotFound(f"{name}/{branch}")
    ours = repo.refs.get(f"heads/{branch}")
    if ours == theirs or (ours and is_ancestor(repo, Ref.parse(theirs), Ref.parse(ours))):
        return report, "up to date"
    if ours and not is_ancestor(repo, Ref.parse(ours), Ref.parse(theirs)):
        spec = f"{name}/{branch}"
        if repo.head_branch() == branch:
            return report, merging.merge(repo, spec, author=author).kind
        return report, merging.merge_refs(repo, branch, spec, author=author).kind
    repo.refs.cas(f"heads/{branch}", ours, theirs)
    try:
        if repo.head_branch() == branch:
            repo.checkout(branch)
    except BaseException:
        repo.refs.cas(f"heads/{branch}", theirs, ours)
        raise
    return report, "fast-forward" if ours else "created"


def clone(url: str, directory: str | os.PathLike, secret: bytes, *, name: str = "origin",
          progress: Progress | None = None, passphrase: str | None = None) -> tuple[Repo, Transfer, str | None]:
    """A new repository in `directory` from the remote at `url`, checked out on its default
    branch (main, else master, else the first), the key kept under `passphrase` if given
    (gotfs.repo.keywrap). A rerun after an interruption resumes.
    Returns the repository (open: the caller closes it), the fetch's report and the branch.

    The checkout runs beside the fetch (gotfs.repo.clonecheckout), writing each file as its
    data arrives; the branch, HEAD and WORKDIR are set once both have ended."""
    directory = Path(directory).absolute()
    url = normalize(url)
    repo = _resume_clone(directory, url, name)
    if repo is None:
        if directory.exists() and any(directory.iterdir()):
            raise InvalidInput(f"{directory} already exists and is not empty")
        with tempfile.TemporaryDirectory() as tmp:  # nothing is written in `directory` before the key is checked
            probe = Remote.open(open_objects(url), secret, Path(tmp) / "probe.sqlite")
            settings = probe.settings
            probe.close()
        config = Config(bytes.fromhex(settings["salt"]), secret, settings["target_node_size"],
                        settings["max_node_size"], settings["cipher"], settings["format"],
                        keywrap.wrap(secret, passphrase) if passphrase is not None else None)
        repo = Repo.create(directory, config)
        _write_atomic(repo.dot / REMOTES_FILE, json.dumps({name: url}, indent=2))
    checkout = DefaultBranchCheckout(repo)
    try:
        try:
            report = fetch(repo, name, progress=progress, beside=checkout.start)
        except BaseException:
            checkout.abandon()
            raise
        return repo, report, checkout.finish()
    except BaseException:
        repo.close()
        raise


def _resume_clone(directory: Path, url: str, name: str) -> Repo | None:
    """The repository an interrupted clone of `url` left in `directory`, if there is one."""
    if not (directory / DOT / "config.json").exists():
        return None
    repo = Repo.open(directory)
    if remotes(repo).get(name) != url or repo.branches():
        repo.close()
        raise InvalidInput(f"{directory} already holds a got repository")
    return repo
