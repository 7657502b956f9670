"""ObjectStore: the few calls a remote needs from wherever it keeps its objects.

A remote (see remote/__init__.py) keeps three kinds of objects under string keys: packs
(`packs/<id>`, many MiB of sealed blobs), journal entries (`journal/<seq>`) and one marker
(`got-remote`). It needs only these calls, so an engine is a small class:

- `put(key, data)` is **create-only**: it fails with ObjectExists if the key is taken, and
  never overwrites. On S3 that is `If-None-Match: *`; on a directory, link(2) of a finished
  temporary file, which is atomic on local filesystems and NFS alike. Create-only writes
  are the one primitive the journal's compare-and-swap rests on (journal.py), so an engine
  that silently ignores it is refused when a remote is added (`probe_create_only`).
- `get(key)` raises ObjectNotFound for a missing object, ContainerNotFound when the bucket
  itself is missing (a remote not pushed to yet), RemoteError for anything else.
- `get(key)` / `get_range(key, start, end)` / `get_ranges(key, ranges)`: whole objects and
  byte ranges (end exclusive); `get_ranges` may coalesce nearby ranges into fewer requests.
- `exists(key)`, `delete(keys)`, `list(prefix)`: listing is for gc, fsck and tests only;
  push, fetch and clone never list.
- `ensure_container()` creates the bucket (or directory) if it is missing.

Engines retry what may pass on a second try (throttling, 5xx, a dropped connection) with
exponential backoff and jitter (retry.py), never a definite 4xx, and turn what remains into
RemoteError: one line naming the remote and the cause. Engines are safe to use from many
threads at once; callers bound how many requests are in flight.
"""

from __future__ import annotations

import secrets
from typing import Iterable, Iterator, Protocol, Sequence, runtime_checkable

from gotkv.errors import GotError, NotFound


class RemoteError(GotError):
    """A remote could not be reached or refused a request: one line naming the remote and why."""

    exit_code = 1


class ContainerNotFound(RemoteError):
    """The bucket (or directory) itself does not exist: nothing was ever pushed there."""


class ObjectNotFound(NotFound):
    def __init__(self, url: str, key: str):
        super().__init__(f"{url}: no object {key!r}")
        self.key = key


class ObjectExists(GotError):
    """A create-only put found the key taken."""

    def __init__(self, url: str, key: str):
        super().__init__(f"{url}: object {key!r} already exists")
        self.key = key


@runtime_checkable
class ObjectStore(Protocol):
    url: str  # how messages name this place: s3://bucket/prefix, file:///path

    def put(self, key: str, data: bytes | memoryview) -> None:
        """Create `key` holding `data`; ObjectExists if it exists. Atomic: readers see all or nothing."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; ObjectNotFound if absent."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object; ObjectNotFound if absent."""
        ...

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
        """Several ranges of one object, in the order given (nearby ones fetched together).
        Each is bytes-like: an engine may hand out views of its receive buffer, uncopied."""
        ...

    def exists(self, key: str) -> bool:
        ...

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the objects; absent keys are ignored."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under `prefix`, in key order (gc, fsck, tests; never on push/fetch paths)."""
        ...

    def ensure_container(self) -> None:
        """Create the bucket / directory if it does not exist yet."""
        ...

    def close(self) -> None:
        ...


def probe_create_only(objects: ObjectStore) -> None:
    """Refuse an engine that ignores create-only writes (some proxies drop the header).

    Writes a fresh probe object twice; the second write must fail. Costs three requests and
    leaves nothing behind. RemoteError, naming the engine, if the second write succeeds.
    """
    key = f"probe/{secrets.token_hex(16)}"
    objects.put(key, b"1")
    try:
        objects.put(key, b"2")
    except ObjectExists:
        return
    finally:
        objects.delete([key])
    raise RemoteError(f"{objects.url}: the storage engine ignores create-only writes (If-None-Match), "
                      "so it cannot give compare-and-swap for branches; use another engine or endpoint")
