"""The pack index: where each blob of a LocalStore lies, in one SQLite database.

    packs(id, created)                                  a row per pack file ever opened
    blobs(cid -> pack, offset, length, touched)         a row per blob, WITHOUT ROWID

Why SQLite: a flush indexes any number of blobs in one transaction, so its cost does not grow
with the number of small blobs; a transaction is atomic across processes and, in WAL mode with
synchronous=FULL, durable once committed, so `kill -9` at any instant leaves either the old
index or the new one. Readers are not blocked by a writer's transaction (WAL).

Rows are only ever written for bytes already synced to their pack (LocalStore.flush syncs,
then calls `record`), so a row never names bytes that are not on disk. `touched` is the time a
blob was last posted or re-posted, which `delete(older_than=...)` uses to spare blobs a writer
has just (re)used.

Each thread gets its own connection (gotkv/connections.py).
"""

from __future__ import annotations

import sqlite3
import os
import time
from typing import Iterator

from gotkv.connections import ThreadConnections

Place = tuple[int, int, int]  # (pack id, offset of the stored bytes, their length)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs(id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs(
    cid BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, touched REAL NOT NULL) WITHOUT ROWID;
"""
_BATCH = 500  # ids per SQL statement (SQLite's default variable limit is far higher)


def _batches(cids: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """(placeholders, ids) for each statement of a bulk call: "?,?,?" and up to _BATCH ids."""
    for i in range(0, len(cids), _BATCH):
        part = cids[i:i + _BATCH]
        yield ",".join("?" * len(part)), part


class PackIndex:
    """The `index.sqlite` of one store directory. Thread-safe (a connection per thread).

    Every method is one statement or one transaction; bulk methods take any number of ids
    and cost one statement per 500 of them. All raise StoreClosed after close().
    """

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._conns = ThreadConnections(path, synchronous="FULL", closed_message=f"store {os.path.dirname(os.fspath(path))} is closed",
                                        remedy="run `got fsck --repair` to rebuild it from the packs")
        with self.db() as db:
            db.executescript(_SCHEMA)

    def db(self) -> sqlite3.Connection:
        """This thread's connection (see gotkv/connections.py)."""
        return self._conns.get()

    def _transaction(self):
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        return self._conns.transaction()

    # -- lookups ---------------------------------------------------------------------------

    def place(self, cid: bytes) -> Place | None:
        row = self.db().execute("SELECT pack, offset, length FROM blobs WHERE cid=?", (cid,)).fetchone()
        return tuple(row) if row else None

    def places(self, cids: list[bytes]) -> dict[bytes, Place]:
        db = self.db()
        found = {}
        for marks, part in _batches(cids):
            rows = db.execute(f"SELECT cid, pack, offset, length FROM blobs WHERE cid IN ({marks})", part)
            found.update((cid, (pack, offset, length)) for cid, pack, offset, length in rows)
        return found

    def contains(self, cid: bytes) -> bool:
        return self.db().execute("SELECT 1 FROM blobs WHERE cid=?", (cid,)).fetchone() is not None

    def present(self, cids: list[bytes]) -> set[bytes]:
        """The subset of `cids` that has a row."""
        db = self.db()
        found: set[bytes] = set()
        for marks, part in _batches(cids):
            found.update(row[0] for row in db.execute(f"SELECT cid FROM blobs WHERE cid IN ({marks})", part))
        return found

    def cids(self) -> list[bytes]:
        """Every indexed cid: one scan of the table."""
        return [row[0] for row in self.db().execute("SELECT cid FROM blobs")]

    def totals(self) -> tuple[int, int]:
        """(number of blobs, sum of their stored lengths)."""
        return self.db().execute("SELECT COUNT(*), COALESCE(SUM(length), 0) FROM blobs").fetchone()

    # -- changes ---------------------------------------------------------------------------

    def add_pack(self) -> int:
        """Register a new pack and return its id (committed at once: the id is never reused)."""
        return self.db().execute("INSERT INTO packs(created) VALUES (?)", (time.time(),)).lastrowid

    def record(self, places: dict[bytes, Place], renew: list[bytes], now: float) -> int:
        """In one transaction, insert a row per synced post (an existing row is kept) and set
        `touched` of the `renew` rows to `now`; return how many of those had a row."""
        rows = [(cid, p, o, n, now) for cid, (p, o, n) in places.items()]
        renewed = 0
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?,?,?,?)", rows)
            for marks, part in _batches(renew):
                renewed += db.execute(f"UPDATE blobs SET touched=? WHERE cid IN ({marks})", [now, *part]).rowcount
        return renewed

    def load(self, packs: list[int], places: dict[bytes, Place], now: float) -> None:
        """Register `packs` under their own ids and insert a row per place (existing rows are
        kept), in one transaction: rebuilding an index from the packs (see rebuild.py)."""
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO packs(id, created) VALUES (?, ?)", [(p, now) for p in packs])
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?,?,?,?)",
                           [(cid, p, o, n, now) for cid, (p, o, n) in places.items()])

    def delete(self, cids: list[bytes], older_than: float | None) -> int:
        """Drop the rows of `cids` (with `older_than`, only those touched before it), in one
        transaction; return how many went."""
        n = 0
        with self._transaction() as db:
            for marks, part in _batches(cids):
                q = f"DELETE FROM blobs WHERE cid IN ({marks})"
                if older_than is not None:
                    q += " AND touched < ?"
                    part = part + [older_than]
                n += db.execute(q, part).rowcount
        return n

    # -- compaction ------------------------------------------------------------------------

    def live_bytes(self, pack_id: int, header: int) -> int:
        """Bytes of a pack that live rows use, each record's `header` included."""
        q = "SELECT COALESCE(SUM(length + ?), 0) FROM blobs WHERE pack=?"
        return self.db().execute(q, (header, pack_id)).fetchone()[0]

    def records(self, pack_id: int) -> list[tuple[bytes, int, int]]:
        """(cid, offset, length) of every live record of a pack."""
        return self.db().execute("SELECT cid, offset, length FROM blobs WHERE pack=?", (pack_id,)).fetchall()

    def repoint(self, moves: list[tuple[int, int, bytes]]) -> None:
        """Point rows at new places, (pack, offset, cid) each, all in one transaction."""
        with self._transaction() as db:
            db.executemany("UPDATE blobs SET pack=?, offset=? WHERE cid=?", moves)

    def drop_pack(self, pack_id: int) -> None:
        self.db().execute("DELETE FROM packs WHERE id=?", (pack_id,))

    def close(self) -> None:
        """Close every thread's connection; later calls raise StoreClosed."""
        self._conns.close()
