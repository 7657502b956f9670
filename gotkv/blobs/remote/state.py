"""A remote's state as this machine last read it: journal position, blob index, branches.

Kept in a small SQLite file beside the repository (or in the cache directory of a mount
with no repository), so that a push asks nothing of the remote to learn what it holds:
`has` and `locate` are local lookups. The mirror only ever lags the remote (it is advanced
by reading journal entries in order), so its one possible error is to think the remote
lacks a blob it has, which costs a duplicate upload and nothing else.

Applying an entry is one SQLite transaction together with the new position, so a process
killed while catching up resumes where it stopped.
"""

from __future__ import annotations

import base64
import sqlite3
import struct
from pathlib import Path
from typing import Iterable, Iterator

from gotkv.connections import ThreadConnections

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS blobs(cid BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL,
                                 length INTEGER NOT NULL, time REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploaded(pack TEXT PRIMARY KEY);
"""
_PLACE = struct.Struct(">32sQI")  # cid, offset in pack, length


def encode_places(places: Iterable[tuple[bytes, int, int]]) -> str:
    """A pack's blob places as the compact text a journal record carries."""
    return base64.b64encode(b"".join(_PLACE.pack(c, o, n) for c, o, n in places)).decode()


def decode_places(text: str) -> Iterator[tuple[bytes, int, int]]:
    raw = base64.b64decode(text)
    return _PLACE.iter_unpack(raw) if len(raw) % _PLACE.size == 0 else iter(())


class RefConflict(Exception):
    """A journal record's `old` value does not match the branch's current one."""

    def __init__(self, name: str, current: str | None):
        super().__init__(name)
        self.name, self.current = name, current


class RemoteState:
    """The local mirror of one remote. Thread-safe (a connection per thread)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conns = ThreadConnections(self.path, synchronous="NORMAL",
                                        closed_message=f"the remote state {self.path} is closed")
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (see gotkv/connections.py)."""
        return self._conns.get()

    @property
    def position(self) -> int:
        """The next journal entry to read."""
        row = self._db().execute("SELECT value FROM meta WHERE key='position'").fetchone()
        return int(row[0]) if row else 0

    def was_uploaded(self, pack: str) -> bool:
        """Whether this machine uploaded `pack` in a push that did not get to record it (a
        rerun after an interruption skips sending it again)."""
        return self._db().execute("SELECT 1 FROM uploaded WHERE pack=?", (pack,)).fetchone() is not None

    def mark_uploaded(self, pack: str) -> None:
        self._db().execute("INSERT OR IGNORE INTO uploaded VALUES (?)", (pack,))

    def check_refs(self, updates: dict[str, tuple[str | None, str | None]]) -> None:
        """RefConflict for the first update whose `old` is not the branch's current value."""
        for name, (old, _new) in updates.items():
            current = self.ref(name)
            if current != old:
                raise RefConflict(name, current)

    def apply(self, seq: int, record: dict) -> None:
        """Apply journal entry `seq` (which must be `position`) and advance past it."""
        with self._conns.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='position'").fetchone()
            if (int(row[0]) if row else 0) != seq:
                return  # another process of this machine applied it already (nothing written)
            when = float(record.get("time", 0.0))
            for pack, places in record.get("packs", {}).items():
                db.execute("DELETE FROM uploaded WHERE pack=?", (pack,))
                db.executemany("INSERT INTO blobs VALUES (?, ?, ?, ?, ?) "
                               "ON CONFLICT(cid) DO UPDATE SET time=max(time, excluded.time)",
                               ((c, pack, o, n, when) for c, o, n in decode_places(places)))
            db.executemany("UPDATE blobs SET time=max(time, ?) WHERE cid=?",
                           ((when, bytes.fromhex(c)) for c in record.get("touch", ())))
            db.executemany("DELETE FROM blobs WHERE cid=?", ((bytes.fromhex(c),) for c in record.get("drop", ())))
            self._apply_refs(db, record.get("refs", ()))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('position', ?)", (seq + 1,))

    def snapshot(self) -> tuple[int, dict[str, str], list[tuple[bytes, str, int, int, float]]]:
        """(position, branches, every blob's (cid, pack, offset, length, time)), read in one
        transaction: what entries 0..position-1 amount to (a checkpoint's content)."""
        db = self._db()
        db.execute("BEGIN")
        try:
            row = db.execute("SELECT value FROM meta WHERE key='position'").fetchone()
            refs = dict(db.execute("SELECT name, value FROM refs").fetchall())
            blobs = db.execute("SELECT cid, pack, offset, length, time FROM blobs").fetchall()
        finally:
            db.execute("COMMIT")
        return (int(row[0]) if row else 0), refs, blobs

    def load(self, position: int, refs: dict[str, str], blobs: list[tuple[bytes, str, int, int, float]]) -> bool:
        """Take a checkpoint's state as this mirror's, if the mirror is behind `position`
        (one transaction, as apply); False if it was not (another process got further)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key='position'").fetchone()
            if (int(row[0]) if row else 0) >= position:
                db.execute("ROLLBACK")
                return False
            db.execute("DELETE FROM blobs")
            db.executemany("INSERT INTO blobs VALUES (?, ?, ?, ?, ?)", blobs)
            db.executemany("DELETE FROM uploaded WHERE pack=?", ((p,) for p in {b[1] for b in blobs}))
            db.execute("DELETE FROM refs")
            db.executemany("INSERT INTO refs VALUES (?, ?)", refs.items())
            db.execute("INSERT OR REPLACE INTO meta VALUES ('position', ?)", (position,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    @staticmethod
    def _apply_refs(db: sqlite3.Connection, updates: list) -> None:
        """A record's branch moves, all or none: a record whose `old` values do not hold is
        void (writers never append one; a replay must still agree on the outcome)."""
        for name, old, _new in updates:
            row = db.execute("SELECT value FROM refs WHERE name=?", (name,)).fetchone()
            if (row[0] if row else None) != old:
                return
        for name, _old, new in updates:
            if new is None:
                db.execute("DELETE FROM refs WHERE name=?", (name,))
            else:
                db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?)", (name, new))

    def locate(self, cid: bytes) -> tuple[str, int, int] | None:
        """(pack id, offset, length) of a blob the remote holds, or None."""
        row = self._db().execute("SELECT pack, offset, length FROM blobs WHERE cid=?", (cid,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def locate_many(self, cids: Iterable[bytes]) -> dict[bytes, tuple[str, int, int]]:
        out = {}
        db = self._db()
        for cid in cids:
            row = db.execute("SELECT pack, offset, length FROM blobs WHERE cid=?", (cid,)).fetchone()
            if row:
                out[cid] = (row[0], row[1], row[2])
        return out

    def has(self, cids: Iterable[bytes]) -> set[bytes]:
        db = self._db()
        return {c for c in cids if db.execute("SELECT 1 FROM blobs WHERE cid=?", (c,)).fetchone()}

    def blobs(self) -> Iterator[tuple[bytes, float]]:
        """(cid, when it was last posted, by its writer's clock) for every blob."""
        return iter(self._db().execute("SELECT cid, time FROM blobs").fetchall())

    def posted_before(self, cids: Iterable[bytes], cutoff: float | None) -> set[bytes]:
        """Those of `cids` the remote holds and last had posted before `cutoff` (None: all)."""
        db = self._db()
        out = set()
        for c in cids:
            row = db.execute("SELECT time FROM blobs WHERE cid=?", (c,)).fetchone()
            if row and (cutoff is None or row[0] < cutoff):
                out.add(c)
        return out

    def stats(self) -> dict[str, int]:
        """Blob count, their bytes, and the bytes of the packs that hold them (to the last
        recorded blob of each)."""
        db = self._db()
        blobs, live = db.execute("SELECT count(*), coalesce(sum(length), 0) FROM blobs").fetchone()
        packs = db.execute("SELECT coalesce(sum(e), 0) FROM (SELECT max(offset + length) AS e "
                           "FROM blobs GROUP BY pack)").fetchone()[0]
        return {"blobs": blobs, "live_bytes": live, "pack_bytes": packs}

    def live_in(self, pack: str) -> int:
        return self._db().execute("SELECT count(*) FROM blobs WHERE pack=?", (pack,)).fetchone()[0]

    def ref(self, name: str) -> str | None:
        row = self._db().execute("SELECT value FROM refs WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def refs(self) -> dict[str, str]:
        return dict(self._db().execute("SELECT name, value FROM refs ORDER BY name").fetchall())

    def close(self) -> None:
        """Close every thread's connection (a transfer pool's threads' included)."""
        self._conns.close()
