"""A clone's checkout, run while its fetch is still bringing the data.

A clone writes every byte twice: into the repository's packs (the fetch), then into the
working directory (the checkout). Run one after the other, the network idles through the
checkout and the disk waits through the fetch. Here the checkout runs on a thread beside the
fetch and reads through an `ArrivingStore`: a blob the local store does not hold yet is waited
for until the fetch delivers it. The fetch reads the trees a level at a time before their data
(gotkv.sync.copy_missing), and the checkout writes files in the tree's order, which is the
order the data arrives in, so it follows the fetch a batch behind.

Nothing about what is durable changes: the fetch still posts children before parents and
moves refs only once every blob is flushed, and the checkout writes each file under a
temporary name and renames it. The branch, HEAD and WORKDIR move only after both have ended
(DefaultBranchCheckout.finish); a clone killed midway leaves files that the rerun's checkout
(forced) writes again.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Mapping, TypeVar

from gotfs.fs import FS
from gotfs.repo.commit import Commit
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.errors import BlobNotFound

T = TypeVar("T")


class ArrivingStore:
    """A read-only Store over `local` that waits for the blobs a fetch has yet to bring.

    `arrived(blobs, posted)` (gotkv.sync's hook) hands it what the fetch read: blobs not yet
    posted (commits, tree nodes) are kept in memory until the end; posted ones are only
    noted, and read from `local`. A get of a blob neither here nor in `local` waits until it
    arrives or the fetch ends (`close`); then it raises BlobNotFound, as a store lacking the
    blob does. Cost per miss: one index lookup of `local` per wake-up (one per data batch).
    """

    def __init__(self, local: Store):
        self.local = local
        self._held: dict[bytes, bytes] = {}
        self._posted: set[bytes] = set()
        self._ended = False
        self._cond = threading.Condition()

    def arrived(self, blobs: Mapping[bytes, bytes], posted: bool) -> None:
        with self._cond:
            if posted:
                self._posted.update(blobs)
            else:
                self._held.update(blobs)
            self._cond.notify_all()

    def close(self) -> None:
        """The fetch has ended (done or failed): waiting stops; misses raise BlobNotFound."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _wait(self, cid: bytes) -> bytes | None:
        """The held bytes of `cid`, or None once `local` holds it (or the fetch has ended)."""
        with self._cond:
            while True:
                held = self._held.get(cid)
                if held is not None:
                    return held
                if cid in self._posted or self._ended or self.local.exists([cid]):
                    return None
                self._cond.wait()

    def get(self, cid: bytes) -> bytes:
        held = self._wait(cid)
        return held if held is not None else self.local.get(cid)

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        held = self._wait(cid)
        return use(memoryview(held)) if held is not None else self.local.get_with(cid, use)

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes | memoryview]:
        return {c: self.get(c) for c in cids}

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        cids = list(cids)
        with self._cond:
            found = {c for c in cids if c in self._held or c in self._posted}
        return found | self.local.exists(c for c in cids if c not in found)

    def stored_size(self, cid: bytes) -> int | None:
        held = self._held.get(cid)
        return len(held) if held is not None else self.local.stored_size(cid)

    def hint(self, cids: Iterable[bytes]) -> None:
        """Nothing: most hinted blobs have not arrived yet, and the fetch brings them in order."""

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        raise TypeError("an ArrivingStore is read-only")

    def flush(self) -> None:
        pass

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        raise TypeError("an ArrivingStore is read-only")


class CheckoutBesideFetch:
    """Check out commit `target` into `repo`'s working directory on a thread, reading
    through an ArrivingStore that the fetch feeds (`arrived`, then `close` when it ends).

    `wait()` joins the thread and re-raises what the checkout raised. The caller sets
    WORKDIR and HEAD afterwards, once the fetch has flushed every blob.
    """

    def __init__(self, repo, target: Ref):
        self.repo = repo
        self.target = target
        self.store = ArrivingStore(repo.store)
        c = repo.config
        self.fs = FS(self.store, secret=c.secret, params=repo.fs.kv.params, cipher=c.cipher, layout=c.format)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="got-clone-checkout", daemon=True)

    @property
    def arrived(self) -> Callable[[Mapping[bytes, bytes], bool], None]:
        return self.store.arrived

    def start(self) -> CheckoutBesideFetch:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            codec = self.fs.kv.nodes.codec
            root = Commit.from_bytes(codec.decode(self.target, self.store.get(self.target.cid))).root
            with self.repo._workdir_lock():
                wc = self.repo.workcopy(self.fs)
                try:
                    wc.checkout(self.repo.fs.new(), root, force=True)  # the empty root: posted locally
                finally:
                    wc.close()
        except BaseException as e:  # handed to wait()
            self._error = e

    def wait(self, fetch_failed: bool = False) -> None:
        """Join the checkout. After a failed fetch, its BlobNotFound is the fetch's echo and
        is dropped (the caller raises the fetch's error)."""
        self.store.close()
        self._thread.join()
        if self._error is not None and not (fetch_failed and isinstance(self._error, BlobNotFound)):
            raise self._error


class DefaultBranchCheckout:
    """A clone's checkout of the remote's default branch (main, else master, else the first
    by name): `start` is fetch's `beside` hook, then `finish` (or `abandon` if the fetch failed)."""

    def __init__(self, repo):
        self.repo = repo
        self.branch: str | None = None
        self.value: str | None = None
        self.checkout: CheckoutBesideFetch | None = None

    def start(self, heads: dict[str, str]) -> Callable[[Mapping[bytes, bytes], bool], None] | None:
        self.branch = next((b for b in ("main", "master") if b in heads), min(heads, default=None))
        if self.branch is None:
            return None
        self.value = heads[self.branch]
        self.checkout = CheckoutBesideFetch(self.repo, Ref.parse(self.value)).start()
        return self.checkout.arrived

    def abandon(self) -> None:
        """After a failed fetch: stop the checkout; its own errors echo the fetch's and are dropped."""
        if self.checkout is not None:
            self.checkout.wait(fetch_failed=True)

    def finish(self) -> str | None:
        """After the fetch (every blob flushed): wait for the checkout, then move the branch,
        HEAD and WORKDIR to it. Returns the branch (None: the remote has none)."""
        if self.checkout is None:
            return None
        self.checkout.wait()
        self.repo.refs.set_many({f"heads/{self.branch}": self.value, "HEAD": f"ref: heads/{self.branch}",
                                 "WORKDIR": self.value})
        return self.branch
