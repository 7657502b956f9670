"""Remote: a store plus a branch table somewhere else, seen by its engine only as ciphertext.

What a remote holds (keys under its bucket prefix or directory):

    got-remote          the marker: {"got": "remote", "format": 1, "settings": <sealed>}; the
                        settings (the repository's tree salt, node sizes, cipher, blob layout)
                        are sealed with the repo secret, so opening them checks the key
    packs/<id>          sealed blobs, many MiB per object (packs.py)
    journal/<seq>       one sealed record per push: pack places, branch moves (journal.py)
    checkpoint/<seq>    every checkpoint.EVERY entries, the state they amount to, sealed, so
                        a fresh reader reads it and the entries after it (checkpoint.py)

Which branches exist and what they point at is known only to holders of the secret; names
and values travel inside sealed journal records. A branch moves by compare-and-swap through
the journal, so no lock file is ever written or left stale.

A Remote keeps a local mirror of what it has read (state.py) at `state_path`, so asking
what the remote holds costs no request, and catching up costs one GET per new entry.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

from gotkv.blobs.remote import checkpoint
from gotkv.blobs.remote.checkpoint import Checkpoints
from gotkv.blobs.remote.journal import Journal
from gotkv.blobs.remote.objects import (ContainerNotFound, ObjectExists, ObjectNotFound, ObjectStore, RemoteError,
                                         probe_create_only)
from gotkv.blobs.remote.packs import PackWriter
from gotkv.blobs.remote.seal import Sealer
from gotkv.blobs.remote.state import RefConflict, RemoteState, encode_places
from gotkv.errors import GotError, IntegrityError

MARKER = "got-remote"
FORMAT = 1


class RefMoved(GotError):
    """A compare-and-swap of a branch on a remote lost: someone else moved it first."""

    exit_code = 1

    def __init__(self, url: str, name: str, current: str | None):
        super().__init__(f"{name} on {url} has moved")
        self.name, self.current = name, current


class Remote:
    """One remote: its objects, its journal, and this machine's mirror of its state."""

    def __init__(self, objects: ObjectStore, secret: bytes, state_path: str | Path, settings: dict):
        self.objects = objects
        self.url = objects.url
        self.sealer = Sealer(secret)
        self.settings = settings
        self.journal = Journal(objects, self.sealer)
        self.checkpoints = Checkpoints(objects, self.sealer)
        self.state = RemoteState(state_path)
        self.packs = PackWriter(objects, uploads=self.state)
        self._append_lock = threading.Lock()
        self.requests_saved = 0

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, objects: ObjectStore, secret: bytes, state_path: str | Path, *,
             create_with: dict | None = None) -> Remote:
        """Open the remote at `objects`; with `create_with` (settings), make it if it is new.

        RemoteError (one line) when the place is not a got remote, belongs to another
        repository or key, or was written by a newer got. Costs one GET (plus, when creating,
        the bucket check, one LIST of at most one key, a probe of create-only writes and a PUT).
        """
        sealer = Sealer(secret)
        try:
            marker = objects.get(MARKER)
        except (ObjectNotFound, ContainerNotFound):
            if create_with is None:
                raise RemoteError(f"{objects.url} is not a got remote (no {MARKER} object there); "
                                  "check the URL, or push to it first") from None
            marker = cls._create(objects, sealer, create_with)
        settings = _open_marker(objects.url, marker, sealer)
        return cls(objects, secret, state_path, settings)

    @staticmethod
    def _create(objects: ObjectStore, sealer: Sealer, settings: dict) -> bytes:
        objects.ensure_container()
        if next(iter(objects.list("")), None) is not None:
            raise RemoteError(f"{objects.url} holds other data and is not a got remote; "
                              "use an empty bucket, prefix or directory")
        probe_create_only(objects)
        sealed = sealer.seal(json.dumps(settings, sort_keys=True).encode(), aad=MARKER.encode())
        marker = json.dumps({"got": "remote", "format": FORMAT,
                             "settings": base64.b64encode(sealed).decode()}).encode()
        try:
            objects.put(MARKER, marker)
        except ObjectExists:  # another machine created it first: use theirs
            return objects.get(MARKER)
        return marker

    def close(self) -> None:
        self.packs.close()
        self.state.close()
        self.objects.close()

    # -- the journal ----------------------------------------------------------------------

    def refresh(self) -> int:
        """Read journal entries this machine has not seen; return how many (a checkpoint counts
        for the entries it stands for). A mirror that has
        read nothing yet starts from the latest checkpoint (checkpoint.py), if there is one;
        it looks for one only once the journal has an entry, so an empty remote costs no more."""
        n = 0
        if self.state.position == 0:
            first = self.journal.read(0)
            if first is None:
                return 0
            position = self.checkpoints.latest()
            found = self.checkpoints.read(position) if position else None
            if found is not None and self.state.load(*found):
                n += position
            else:
                self.state.apply(0, first)
                n += 1
        for seq, record in self.journal.read_from(self.state.position):
            self.state.apply(seq, record)
            n += 1
        return n

    def append(self, record: dict, refs: dict[str, tuple[str | None, str | None]] | None = None) -> int:
        """Add a journal entry; with `refs` ({name: (old, new)}), only if every branch still
        holds its `old` value (RefMoved otherwise). Returns the entry's sequence number.
        Costs the GETs of entries others added meanwhile, and one PUT per try."""
        refs = refs or {}
        with self._append_lock:
            while True:
                self.refresh()
                try:
                    self.state.check_refs(refs)
                except RefConflict as e:
                    raise RefMoved(self.url, e.name, e.current) from None
                seq = self.state.position
                entry = {**record, "time": time.time(), "refs": [[n, o, v] for n, (o, v) in refs.items()]}
                if self.journal.try_append(seq, entry):
                    self.state.apply(seq, entry)
                    self._checkpoint(seq + 1)
                    return seq

    def _checkpoint(self, position: int) -> None:
        """Leave a checkpoint at `position` if one is due there and the mirror is exactly
        there (another process of this machine may have read further). Best effort: the
        entry is in, so a failure here only leaves readers more entries to read."""
        if not self.checkpoints.due(position):
            return
        at, refs, blobs = self.state.snapshot()
        if at != position:
            return
        try:
            self.checkpoints.write(position, checkpoint.encode(position, refs, blobs))
        except GotError:
            pass

    def publish(self, refs: dict[str, tuple[str | None, str | None]] | None = None,
                touched: set[bytes] | None = None, dropped: set[bytes] | None = None) -> int | None:
        """Finish uploading posted blobs and record them, with branch moves, in one entry.
        None when there was nothing to record."""
        places = self.packs.finish()
        if not (places or refs or touched or dropped):
            return None
        seq = self.append(self._record(places, touched, dropped), refs)
        self.packs.settle(places)
        return seq

    @staticmethod
    def _record(places: dict, touched: set[bytes] | None, dropped: set[bytes] | None) -> dict:
        by_pack: dict[str, list] = {}
        for cid, (pack, off, n) in places.items():
            by_pack.setdefault(pack, []).append((cid, off, n))
        record = {"packs": {p: encode_places(v) for p, v in by_pack.items()}}
        if touched:
            record["touch"] = sorted(c.hex() for c in touched)
        if dropped:
            record["drop"] = sorted(c.hex() for c in dropped)
        return record

    # -- branches -------------------------------------------------------------------------

    def refs(self, *, refresh: bool = True) -> dict[str, str]:
        if refresh:
            self.refresh()
        return self.state.refs()

    def ref(self, name: str, *, refresh: bool = True) -> str | None:
        if refresh:
            self.refresh()
        return self.state.ref(name)


def _open_marker(url: str, marker: bytes, sealer: Sealer) -> dict:
    try:
        doc = json.loads(marker)
        if doc.get("got") != "remote":
            raise ValueError
    except ValueError:
        raise RemoteError(f"{url} is not a got remote ({MARKER} is not got's)") from None
    if not isinstance(doc.get("format"), int) or doc["format"] > FORMAT:
        raise RemoteError(f"{url} was written by a newer got (remote format {doc.get('format')!r}; "
                          f"this got reads {FORMAT}); upgrade got")
    try:
        plain = sealer.open(base64.b64decode(doc["settings"]), what=f"{url}/{MARKER}", aad=MARKER.encode())
        return json.loads(plain)
    except (IntegrityError, KeyError, ValueError):
        raise RemoteError(f"the key does not open {url}: it belongs to another repository, "
                          "or the key is wrong") from None
