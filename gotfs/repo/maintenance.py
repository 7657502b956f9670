"""gc, fsck and stats: looking after a repository's blobs.

gc is mark-and-sweep: mark every blob reachable from every branch, tag, detached HEAD and
working root (commits, tree nodes, data chunks), from every commit a ref held within the
grace period (the ref log says which: a deleted branch, a commit lost with refs.sqlite, stay
recoverable for that long, as git's reflog and gc.pruneExpire keep them), plus what the stat
cache may reuse; sweep the rest, then compact packs. It refuses to run while refs.sqlite
disagrees with the ref log (damaged or replaced refs would make all history look garbage).
It holds the repo's lock exclusively, so it waits for writers (which hold it shared from
their first post until their ref is published) and none starts meanwhile: a blob a
concurrent commit is writing is never swept.

fsck (gotfs.repo.fsck) walks the same graph and reports what is damaged and what survives.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

from gotfs import keys
from gotfs.cafs import CAFS
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.repo.errors import RefsDamaged
from gotfs.repo.reflog import drift
from gotfs.repo.repo import _write_atomic
from gotkv.blobs.ref import Ref
from gotkv.errors import GotError
from gotkv.root import Root

GC_GRACE_SECONDS = 14 * 24 * 3600  # git's gc.pruneExpire default: two weeks


def extent_refs(key: bytes, value: bytes) -> Iterator[Ref]:
    """The data blob an extent entry points at (the value_refs hook for gotkv walks)."""
    if keys.is_extent_key(key):
        yield Extent.from_bytes(value).ref


def _tips(repo) -> list[Ref]:
    tips = list(repo.branches().values()) + list(repo.tags().values())
    head = repo.refs.get("HEAD")
    if head and not head.startswith("ref: "):
        tips.append(Ref.parse(head))
    if repo.refs.get("MERGE_HEAD"):  # the other side of a merge stopped by conflicts
        tips.append(Ref.parse(repo.refs.get("MERGE_HEAD")))
    return tips


def _history(repo, extra: list[Ref] = ()) -> tuple[set[bytes], list[Root]]:
    """Content ids of every commit reachable from the refs (and from `extra`, as far as their
    commits can still be read), and the roots they (and working roots) hold."""
    commits: set[bytes] = set()
    roots: list[Root] = []
    stack = [(ref, True) for ref in _tips(repo)] + [(ref, False) for ref in extra]
    while stack:
        ref, must = stack.pop()
        if ref.cid in commits:
            continue
        try:
            c = repo.read_commit(ref, kept=False)
        except GotError:
            if must:
                raise
            continue  # a logged commit already collected, or never stored here
        commits.add(ref.cid)
        roots.append(c.root)
        stack.extend((p, must) for p in c.parents)
    for value in repo.refs.list("work/").values():
        roots.append(Root.parse(value))
    merge = repo.refs.get("MERGE_STATE")
    if merge:  # the merged tree that `got merge --continue` builds on
        roots.append(Root.parse(json.loads(merge)["root"]))
    return commits, roots


def _recent(repo, grace: float) -> list[Ref]:
    """Commits some ref held within the last `grace` seconds, by the ref log."""
    since = time.time_ns() - int(grace * 1e9)
    out = []
    for value in repo.refs.log.values_since(since):
        if len(value) in (64, 128) and all(c in "0123456789abcdef" for c in value):
            out.append(Ref.parse(value))
    return out


def gc(repo, *, dry_run: bool = False, wait: float = 30.0, grace: float = GC_GRACE_SECONDS) -> dict[str, int]:
    """Delete unreachable blobs and compact packs; return counts. Commits a ref held within
    the last `grace` seconds (and all they reach) are kept. Waits up to `wait` seconds for
    running writers (RepoLocked after); RefsDamaged, deleting nothing, while refs.sqlite
    disagrees with the ref log. Cost: a pass over the ref log, a walk of every kept tree
    (nodes only; data blobs are named by the leaves), a listing of the store, the deletes."""
    with repo.exclusive(wait):
        damaged = drift(repo.refs.log, repo.refs.log_seq(), repo.refs.list())
        if damaged:
            raise RefsDamaged(sorted(damaged))
        commits, roots = _history(repo, _recent(repo, grace))
        live = commits | repo.fs.kv.reachable(roots, extent_refs)
        wc = repo.workcopy()
        try:
            live |= wc.referenced_cids()
        finally:
            wc.close()
        every = set(repo.store.list())
        dead = every - live
        deleted = 0 if dry_run else repo.store.delete(dead)
        freed = 0 if dry_run else repo.store.compact()
        if not dry_run:
            _record_gc(repo)
    return {"blobs": len(every), "live": len(every & live), "deleted": deleted,
            "unreachable": len(dead), "bytes_freed": freed}


AUTO_GC_FILE = "gc.json"
AUTO_GC_MIN_BYTES = 64 << 20


def _auto_state(repo) -> dict:
    try:
        with open(repo.dot_file(AUTO_GC_FILE), "rb") as f:
            state = json.loads(f.read())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def gc_due(repo) -> str | None:
    """What `gc --auto` should do now: "gc" when the packs have at least doubled (and grown
    by AUTO_GC_MIN_BYTES) since the last gc, "compact" when the last gc left dead bytes it
    could not compact (a running writer held their pack), else None.

    Intermediate flushes of a read-write mount and replaced working-copy snapshots leave
    unreachable blobs behind; collecting whenever the store doubles keeps it within about
    twice its live size at an amortized cost of one mark per doubling, as git's `gc --auto`
    does by object counts. Cost: a read of .got/gc.json and a listing of the packs."""
    state = _auto_state(repo)
    size = repo.store.pack_bytes()
    last = state.get("pack_bytes", 0)
    last = last if isinstance(last, int) else 0
    if size - last >= max(AUTO_GC_MIN_BYTES, last):
        return "gc"
    return "compact" if state.get("compact_pending") else None


def auto_gc(repo, *, wait: float = 1.0) -> dict[str, int] | None:
    """Do what gc_due says, if anything; RepoLocked if writers hold the repository longer
    than `wait` seconds (the next command tries again)."""
    due = gc_due(repo)
    if due == "gc":
        return gc(repo, wait=wait)
    if due == "compact":
        with repo.exclusive(wait):
            freed = repo.store.compact()
            _record_gc(repo)
        return {"bytes_freed": freed}
    return None


def _record_gc(repo) -> None:
    """Note the packs' size after a gc, and whether dead bytes were left (their pack held by
    a running writer), for gc_due."""
    stats = repo.store.stats()
    dead = stats["pack_bytes"] - stats["live_bytes"]
    _write_atomic(repo.dot / AUTO_GC_FILE, json.dumps({"pack_bytes": stats["pack_bytes"], "time": time.time(),
                                                       "compact_pending": dead >= AUTO_GC_MIN_BYTES}))


def stats(repo) -> dict[str, float]:
    """Logical size of HEAD, stored size, dedup ratio and blob counts."""
    head = CAFS(repo.fs).stats(repo.head_root()) if repo.head() else {"bytes": 0, "files": 0}
    store = repo.store.stats()
    history_bytes = 0
    _, roots = _history(repo)
    seen = set()
    for root in roots:
        if root.ref.cid not in seen:
            seen.add(root.ref.cid)
            history_bytes += sum(_file_size(v) for k, v in repo.fs.kv.iterate(root) if not keys.is_extent_key(k))
    return {"head_files": head["files"], "head_bytes": head["bytes"], "history_bytes": history_bytes,
            "blobs": store["blobs"], "stored_bytes": store["live_bytes"], "pack_bytes": store["pack_bytes"],
            "dedup_ratio": history_bytes / store["live_bytes"] if store["live_bytes"] else 1.0}


def _file_size(info_bytes: bytes) -> int:
    info = Info.from_bytes(info_bytes)
    return info.size if info.is_file else 0
