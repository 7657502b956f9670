"""StoreRouter: one Store over several, read in order, written to the first.

Why: a mount of a remote snapshot reads blobs from wherever they are: the local repository
first, then one remote, then another (DESIGN §6, "reads from a remote go through ... a store
router"). The router is a Store like any other (gotkv/blobs/store.py), so nothing above the
blob layer knows how many places its bytes come from.

Rules:

- Writes (`post`, `flush`, `delete`) go to the first store only: a router never deletes from
  a remote because a local collector asked it to.
- Reads try the stores in order and fall back when one lacks the blob (BlobNotFound) or
  fails (RemoteError: unreachable; ObjectNotFound: a remote's pack is gone though its
  journal lists it; IntegrityError: a damaged copy, which another store may hold intact). If none returns it: the first store's BlobNotFound when every store said
  absent, else the first failure (the blob may be on a store that could not answer, so
  "not found" would mislead). Errors raised by a `get_with` caller's `use` propagate as they
  are, never retried elsewhere.
- A store that failed is tried after the others for DOWN_FOR seconds, so an unreachable
  remote costs its timeout once, not on every read.
- `exists` and `list` are the union; `stored_size` and `where` the first store's answer that
  is known; `hint` goes to each store for the blobs the earlier stores do not hold (so a
  remote never prefetches what the local store has).

Costs: a read of a blob held by store k costs the failed lookups of stores 0..k-1 plus the
read. `get_many` asks each store `exists` for what is still wanted, then one bulk read of
what it holds (so a remote still pipelines). `hint` costs one `exists` per store but the last
for the blobs not yet placed. `exists` asks every store for what the earlier ones lack.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from gotkv.blobs.remote.objects import ObjectNotFound, RemoteError
from gotkv.blobs.store import Store
from gotkv.errors import BlobNotFound, IntegrityError, InvalidInput

T = TypeVar("T")
log = logging.getLogger(__name__)

DOWN_FOR = 30.0  # seconds a store that failed is tried last
FALLBACK = (BlobNotFound, RemoteError, ObjectNotFound, IntegrityError)  # a read moves on to the next store


class _UseFailed(Exception):
    """Carries an exception raised by get_with's `use` past the router's fallback."""

    def __init__(self, error: BaseException):
        self.error = error


class StoreRouter:
    """A Store over `stores`, in order (see the module docstring). Closes them on close()
    unless owns=False."""

    def __init__(self, stores: Sequence[Store], *, owns: bool = True):
        if not stores:
            raise InvalidInput("a store router needs at least one store")
        self.stores: list[Store] = list(stores)
        self.max_size = self.stores[0].max_size
        self._owns = owns
        self._down: dict[int, float] = {}  # store index -> monotonic time it may lead again
        self._lock = threading.Lock()
        self.fallbacks = 0  # reads that had to go past a store (for tests and stats)

    # -- order and failures ---------------------------------------------------------------

    def _order(self) -> list[int]:
        """Store indexes to try: healthy ones in order, then those that failed lately."""
        if not self._down:
            return list(range(len(self.stores)))
        now = time.monotonic()
        with self._lock:
            for i, until in list(self._down.items()):
                if until <= now:
                    del self._down[i]
            down = set(self._down)
        return [i for i in range(len(self.stores)) if i not in down] + sorted(down)

    def _failed(self, i: int, error: BaseException) -> None:
        if isinstance(error, BlobNotFound):
            return
        with self._lock:
            first = i not in self._down
            self._down[i] = time.monotonic() + DOWN_FOR
        if first:
            log.warning("store %d of the router failed (%s); trying the others first for %.0fs", i, error, DOWN_FOR)

    def _recovered(self, i: int) -> None:
        if i in self._down:
            with self._lock:
                self._down.pop(i, None)

    def _none_had(self, cid: bytes, errors: dict[int, BaseException]) -> BaseException:
        """What to raise when no store returned `cid` (see the module docstring)."""
        failures = [errors[i] for i in sorted(errors) if not isinstance(errors[i], BlobNotFound)]
        if failures:
            return failures[0]
        return errors.get(0) or BlobNotFound(cid, "any of the router's stores")

    # -- reading --------------------------------------------------------------------------

    def _read(self, cid: bytes, read: Callable[[Store], T]) -> T:
        """`read(store)` on each store in order until one returns (see the module docstring
        for which errors fall back, and what is raised when no store returns)."""
        errors: dict[int, BaseException] = {}
        for n, i in enumerate(self._order()):
            try:
                result = read(self.stores[i])
            except FALLBACK as e:
                errors[i] = e
                self._failed(i, e)
                continue
            self._recovered(i)
            if n:
                self.fallbacks += 1
            return result
        raise self._none_had(cid, errors)

    def get(self, cid: bytes) -> bytes:
        """The blob from the first store that has it. Cost: a failed lookup per store before
        it, then its read. Raises as the module docstring says."""
        return self._read(cid, lambda store: store.get(cid))

    def get_with(self, cid: bytes, use: Callable[[memoryview | bytes], T]) -> T:
        """use(the blob), lent by the first store that has it; an error `use` raises passes
        through as it is and is never retried on another store. Cost: get's."""
        def guarded(data: memoryview | bytes) -> T:
            try:
                return use(data)
            except BaseException as e:  # noqa: BLE001 - re-raised as it was, below
                raise _UseFailed(e) from None

        try:
            return self._read(cid, lambda store: store.get_with(cid, guarded))
        except _UseFailed as e:
            raise e.error from None

    def get_many(self, cids: Iterable[bytes]) -> dict[bytes, bytes]:
        """Each store in turn delivers, in one bulk read, what it holds of what is still
        wanted; what no store claimed is then tried blob by blob (a remote's mirror may lag:
        its get looks again). BlobNotFound (or the failure) for the first missing one."""
        wanted = list(dict.fromkeys(cids))
        out: dict[bytes, bytes] = {}
        for n, i in enumerate(self._order()):
            if not wanted:
                break
            store = self.stores[i]
            try:
                held = store.exists(wanted)
                if held:
                    out.update(store.get_many([c for c in wanted if c in held]))
            except FALLBACK as e:
                self._failed(i, e)
                continue
            if held and n:
                self.fallbacks += 1
            wanted = [c for c in wanted if c not in out]
        for cid in wanted:
            out[cid] = self.get(cid)
        return out

    def exists(self, cids: Iterable[bytes]) -> set[bytes]:
        """The union: each store is asked, in order, for what the ones before it lack; a
        store that fails counts as holding nothing."""
        rest = set(cids)
        found: set[bytes] = set()
        for i in self._order():
            if not rest:
                break
            try:
                held = self.stores[i].exists(rest)
            except FALLBACK as e:
                self._failed(i, e)
                continue
            found |= held
            rest -= held
        return found

    def hint(self, cids: Iterable[bytes]) -> None:
        """Hint each store with the blobs the stores before it do not hold."""
        rest = list(dict.fromkeys(cids))
        order = self._order()
        for n, i in enumerate(order):
            if not rest:
                return
            store = self.stores[i]
            try:
                store.hint(rest)
                if n == len(order) - 1:
                    return
                unknown = [c for c in rest if store.stored_size(c) is None]
                held = store.exists(unknown) if unknown else set()
            except FALLBACK as e:
                self._failed(i, e)
                continue
            rest = [c for c in unknown if c not in held]

    def stored_size(self, cid: bytes) -> int | None:
        """The first store's answer that is known (no I/O in any store)."""
        for store in self.stores:
            size = store.stored_size(cid)
            if size is not None:
                return size
        return None

    def where(self, cid: bytes) -> tuple[str, int, int] | None:
        """The first file place a file-backed store knows without I/O (the optional
        capability gotfs.mount.decoder.FileBacked; not part of the Store interface). Any
        store's place is as good as another's: the bytes filed under a cid are the same
        everywhere, and a stale place is retried through get()."""
        for store in self.stores:
            where = getattr(store, "where", None)
            place = where(cid) if where is not None else None
            if place is not None:
                return place
        return None

    def list(self) -> Iterator[bytes]:
        """Every cid any store holds, once (memory: the ids seen)."""
        seen: set[bytes] = set()
        for store in self.stores:
            for cid in store.list():
                if cid not in seen:
                    seen.add(cid)
                    yield cid

    # -- writing --------------------------------------------------------------------------

    def post(self, data: bytes, cid: bytes | None = None) -> bytes:
        """Post to the first store only (its cost and errors)."""
        return self.stores[0].post(data, cid)

    def delete(self, cids: Iterable[bytes], *, older_than: float | None = None) -> int:
        """Delete from the first store only (the one written to)."""
        return self.stores[0].delete(cids, older_than=older_than)

    def flush(self) -> None:
        """Flush the first store, the only one written to."""
        self.stores[0].flush()

    def stats(self) -> dict[str, int]:
        """The first store's stats; for a store without them, its blob count and bytes
        (one pass over its blobs)."""
        first = self.stores[0]
        if hasattr(first, "stats"):
            return first.stats()
        cids = list(first.list())
        nbytes = sum(first.stored_size(c) or 0 for c in cids)
        return {"blobs": len(cids), "live_bytes": nbytes, "pack_bytes": nbytes}

    def close(self) -> None:
        """Flush the first store; close every store if the router owns them."""
        if not self._owns:
            self.flush()
            return
        errors = []
        for store in self.stores:
            try:
                store.close()
            except Exception as e:  # noqa: BLE001 - close the others, then report the first
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> StoreRouter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
