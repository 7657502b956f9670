"""Repo's history face: reading and writing commits, HEAD, resolving a commit spec, the log.

A mixin of Repo (gotfs/repo/repo.py), which supplies the store, the refs table, the commit
codec and the writer's lock; these methods are called as Repo's own.
"""

from __future__ import annotations

import heapq
import time

import blake3
from collections.abc import Iterator

from gotfs.repo.commit import Commit, commit_id
from gotfs.repo.errors import BranchMoved, RefNotFound
from gotfs.repo.refnames import DEFAULT_BRANCH, check_ref_name, split_ancestry
from gotkv.blobs.ref import Ref
from gotkv.root import Root

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.fs import FS
    from gotfs.repo.config import Config
    from gotfs.repo.refs import Refs
    from gotkv.blobs.codec import Codec
    from gotkv.blobs.local import LocalStore


class History:
    """Commits and HEAD over Repo's store and refs (see the module docstring)."""

    store: LocalStore
    refs: Refs
    config: Config
    fs: FS
    _commit_codec: Codec

    def read_commit(self, ref: Ref, *, kept: bool = True) -> Commit:
        """The commit `ref` names: one blob read, verified and decrypted; or, with `kept`
        (not for fsck and gc, which check the store itself), its plaintext as refs.sqlite
        keeps it, checked against its keyed BLAKE3 digest.

        Why keep plaintext: opening a blob needs cryptography and zstandard, ~10 ms of
        imports, a third of what `got log` or `got branch -v` cost in all. It is kept only
        when the repository's key sits in plain text in config.json (or there is none): then
        whoever can read `.got/` can read the key, and so every commit, already. Under a
        passphrase nothing is kept (and set_passphrase drops what was). Cost: one indexed
        query, a BLAKE3 of the body; a miss adds the blob read and one insert. Raises BlobNotFound if
        the store lacks it, IntegrityError if it fails its tag or hash, CorruptNode if it
        verifies but is not a commit."""
        key = self._commit_digest_key if kept else None
        if key is None:
            return Commit.from_bytes(self._commit_codec.decode(ref, self.store.get(ref.cid)))
        row = self.refs.commit_body(ref.cid)
        if row is not None and blake3.blake3(row[1], key=key).digest() == row[0]:
            return Commit.from_bytes(row[1])
        body = self._commit_codec.decode(ref, self.store.get(ref.cid))
        commit = Commit.from_bytes(body)
        self._keep_commit(ref, body)
        return commit

    def _keep_commit(self, ref: Ref, body: bytes) -> None:
        """Keep the plaintext of commit `ref`, whose blob is stored (read, or posted and
        flushed), for read_commit; nothing under a passphrase."""
        kept = self._kept_body(body)
        if kept is not None:
            self.refs.keep_commit_body(ref.cid, *kept)

    def _kept_body(self, body: bytes) -> tuple[bytes, bytes] | None:
        """(digest, body) as refs.sqlite keeps a commit's plaintext; None under a passphrase."""
        key = self._commit_digest_key
        return None if key is None else (blake3.blake3(body, key=key).digest(), body)

    @property
    def _commit_digest_key(self) -> bytes | None:
        """The key of kept commit bodies' digests; None: keep none (a passphrase guards the key)."""
        config = self.config
        if config.wrapped is not None:
            return None
        if config.secret is None:
            return bytes(32)
        return blake3.blake3(config.secret, derive_key_context="got 2026-12-05 kept commit body").digest()

    def _store_commit(self, commit: Commit, *, index: bool = True) -> Ref:
        """Make `commit` durable and known before any ref names it: post it, flush the store
        (its tree's blobs too), index its id and keep its body (read_commit). Every road that
        commits goes through here. Cost: one blob post, a store flush, one refs transaction.
        index=False leaves the indexing to the caller's ref transaction (History.commit)."""
        body = commit.to_bytes()
        ref, stored = self._commit_codec.encode(body)
        self.store.post(stored, ref.cid)
        self.store.flush()
        if index:
            self.refs.index_commit(ref, self._kept_body(body))
        return ref

    def head_branch(self) -> str | None:
        """The branch HEAD is on, or None when detached. Cost: one refs query."""
        head = self.refs.get("HEAD") or f"ref: heads/{DEFAULT_BRANCH}"
        return head[len("ref: heads/"):] if head.startswith("ref: heads/") else None

    def head(self) -> Ref | None:
        """The commit HEAD points at, or None on an unborn branch. Cost: two refs queries."""
        branch = self.head_branch()
        value = self.refs.get(f"heads/{branch}") if branch else self.refs.get("HEAD")
        return Ref.parse(value) if value else None

    def head_root(self) -> Root:
        """The tree of HEAD's commit; an empty filesystem on an unborn branch. Cost: two
        refs queries and one commit blob read (or, unborn, the empty tree's one node write)."""
        head = self.head()
        return self.read_commit(head).root if head else self.fs.new()

    def commit(self, root: Root, message: str, *, author: str = "got", branch: str | None = None,
               time_ns: int | None = None, retries: int = 5, workdir: bool = False) -> Ref:
        """Record `root` as a new commit on `branch` (default: HEAD's) and move it there.

        The move is a compare-and-swap: if another process commits to the branch in between,
        this commit is re-parented on the new head and tried again, so neither is lost.
        workdir=True also records the commit as the working directory's base, in the same
        transaction, so a crash can never leave the two disagreeing.

        Cost per attempt: one commit blob written, a store flush (fdatasync of the pack and
        one index transaction), one refs transaction. `root`'s blobs must already be posted;
        the flush makes them durable before the branch names them (nothing committed is lost
        on a crash). Holds the repository's writer lock (shared), so gc waits. Raises
        BranchMoved after `retries` lost races, InvalidInput for a bad branch name.
        """
        branch = branch or self.head_branch()
        name = f"heads/{check_ref_name(branch)}" if branch else "HEAD"
        with self.writing():
            for _ in range(retries + 1):
                old = self.refs.get(name)
                parents = (Ref.parse(old),) if old else ()
                commit = Commit(root, parents, author, time_ns or time.time_ns(), message)
                ref = self._store_commit(commit, index=False)
                try:
                    self.refs.cas(name, old, str(ref), also={"WORKDIR": str(ref)} if workdir else None,
                                  commit=(ref, self._kept_body(commit.to_bytes())))
                    return ref
                except BranchMoved:
                    continue
        raise BranchMoved(name)

    def resolve(self, spec: str) -> Ref:
        """A commit from `HEAD`, a branch, a tag, an id or unique id prefix, with `~N` / `^`.

        Cost: a few refs queries (one indexed lookup for a prefix), plus one commit blob read
        per `~`/`^` step. Raises RefNotFound for a name nothing matches or an ancestor past
        the first commit, AmbiguousRef for a prefix of several commits."""
        base, steps = split_ancestry(spec)
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
        """The tree of the commit `spec` names: resolve() and one commit blob read; raises
        what resolve raises."""
        return self.read_commit(self.resolve(spec)).root

    def log(self, start: str = "HEAD") -> Iterator[tuple[Ref, Commit]]:
        """Commits reachable from `start`, newest first (by time, then id), each once, lazily.

        Cost: one commit blob read per commit yielded, and one per parent queued (a parent is
        read once to order it, and again when yielded). Memory: the ids seen. Raises what
        resolve raises, but an unborn HEAD yields nothing."""
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
