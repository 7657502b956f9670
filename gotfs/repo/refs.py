"""Refs: branches, tags, HEAD and working roots, in SQLite, updated by compare-and-swap.

Names: `heads/<branch>` and `tags/<tag>` hold a commit ref (hex); `HEAD` holds
`ref: heads/<branch>` or a commit ref (detached); `work/<branch>` holds the working root of a
read-write mount. Every update is one IMMEDIATE transaction that checks the old value first,
so two processes committing to one branch can never overwrite each other (BranchMoved), and
synchronous=FULL makes a returned update durable. The `commits` table maps content-id hex to
full refs, so short ids resolve like git's; `commit_bodies` keeps commits' plaintext for
History.read_commit (see there: only for a repository whose key is not under a passphrase).
Every move of a branch, tag, HEAD or tracking ref
is also journaled in `refs.log` beside the database (see reflog.py), inside the transaction,
so that history survives the loss of this file.
"""

from __future__ import annotations

import os
import sqlite3
import time

from gotfs.repo.errors import AmbiguousRef, BranchMoved
from gotfs.repo.reflog import Move, RefLog, baseline, journaled, replay
from gotkv.blobs.ref import Ref
from gotkv.connections import ThreadConnections

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refs(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commits(id TEXT PRIMARY KEY, ref TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_seq(seq INTEGER NOT NULL);
"""


class Refs:
    """Named refs with atomic compare-and-swap, shared safely between processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = path  # as given: the read-only commands import no pathlib
        self._conns = ThreadConnections(self.path, synchronous="FULL",
                                        closed_message=f"the refs of {os.path.dirname(os.fspath(path))} are closed",
                                        remedy="run `got fsck --repair` to rebuild it from refs.log")
        self.log = RefLog(os.path.splitext(os.fspath(path))[0] + ".log")  # refs.sqlite -> refs.log
        self._db().executescript(_SCHEMA)
        try:  # added after the tables above: a read-only refs.sqlite made before it has none
            self._db().execute("CREATE TABLE IF NOT EXISTS commit_bodies(id BLOB PRIMARY KEY, "
                               "digest BLOB NOT NULL, body BLOB NOT NULL)")
        except sqlite3.OperationalError:
            pass
        if not self.log.exists():
            try:
                self.log.append(baseline(self.log_seq(), self.list()))
            except OSError:
                pass  # a read-only repository: its refs do not move either

    def log_seq(self) -> int:
        """The sequence number of the last journaled transaction (see reflog.py)."""
        row = self._db().execute("SELECT seq FROM log_seq").fetchone()
        return row[0] if row else 0

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (see gotkv/connections.py)."""
        return self._conns.get()

    def get(self, name: str) -> str | None:
        row = self._db().execute("SELECT value FROM refs WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def list(self, prefix: str = "") -> dict[str, str]:
        rows = self._db().execute("SELECT name, value FROM refs WHERE name >= ? AND name < ? ORDER BY name",
                                  (prefix, prefix + "\U0010ffff"))
        return dict(rows)

    def cas(self, name: str, old: str | None, new: str | None, *, also: dict[str, str | None] | None = None,
            commit: tuple[Ref, tuple[bytes, bytes] | None] | None = None) -> None:
        """Set `name` from `old` to `new` (None: absent), or raise BranchMoved.

        `also` sets more refs unconditionally in the same transaction, so that (for example)
        a branch and the working directory's base move together or not at all. `commit` =
        (ref, kept) enters a stored commit as index_commit(ref, kept) does, in that same
        transaction too: a commit costs the refs one sync of their log, not two.
        """
        with self._conns.transaction() as db:
            row = db.execute("SELECT value FROM refs WHERE name=?", (name,)).fetchone()
            if (row[0] if row else None) != old:
                raise BranchMoved(name)
            if commit is not None:
                _index(db, *commit)
            self._apply(db, {name: new, **(also or {})})

    def set(self, name: str, value: str | None) -> None:
        """Unconditional update (HEAD, working roots)."""
        self.set_many({name: value})

    def set_many(self, values: dict[str, str | None]) -> None:
        """Unconditional updates in one transaction (None deletes)."""
        with self._conns.transaction() as db:
            self._apply(db, values)

    def _apply(self, db: sqlite3.Connection, values: dict[str, str | None]) -> None:
        """Within a transaction: journal the journaled refs' moves (durably), then write."""
        moves = []
        for key, value in values.items():
            if journaled(key):
                row = db.execute("SELECT value FROM refs WHERE name=?", (key,)).fetchone()
                if (row[0] if row else None) != value:
                    moves.append((key, row[0] if row else None, value))
        if moves:
            seq, now = self.log_seq() + 1, time.time_ns()
            self.log.append([Move(seq, now, *move) for move in moves])
            self.set_log_seq(db, seq)
        for key, value in values.items():
            _put(db, key, value)

    def restore(self, values: dict[str, str | None], seq: int) -> None:
        """Set refs unconditionally (a repair) and record, as log group `seq`, every journaled
        ref as it then is, superseding what the log said before. One transaction."""
        with self._conns.transaction() as db:
            for key, value in values.items():
                _put(db, key, value)
            current = dict(db.execute("SELECT name, value FROM refs"))
            self.log.append(baseline(seq, current, replay(self.log)[0]))
            self.set_log_seq(db, seq)

    @staticmethod
    def set_log_seq(db: sqlite3.Connection, seq: int) -> None:
        """Within a transaction: record `seq` as the last journaled transaction's number."""
        db.execute("DELETE FROM log_seq")
        db.execute("INSERT INTO log_seq VALUES (?)", (seq,))

    def index_commit(self, ref: Ref, kept: tuple[bytes, bytes] | None = None) -> None:
        """Enter commit `ref` in the commit index and, with `kept` = (digest, body), keep its
        plaintext as keep_commit_body does: one transaction, so one sync of the log."""
        if kept is None:
            self._db().execute("INSERT OR IGNORE INTO commits VALUES (?, ?)", (ref.cid.hex(), str(ref)))
            return
        with self._conns.transaction() as db:
            _index(db, ref, kept)

    def commit_body(self, cid: bytes) -> tuple[bytes, bytes] | None:
        """(digest, body) kept for commit `cid` by keep_commit_body, or None. One query."""
        try:
            return self._db().execute("SELECT digest, body FROM commit_bodies WHERE id=?", (cid,)).fetchone()
        except sqlite3.OperationalError:  # no such table (see __init__)
            return None

    def keep_commit_body(self, cid: bytes, digest: bytes, body: bytes) -> None:
        """Keep a commit's plaintext; best effort: a read-only or busy database keeps none."""
        try:
            self._db().execute("INSERT OR REPLACE INTO commit_bodies VALUES (?, ?, ?)", (cid, digest, body))
        except sqlite3.OperationalError:
            pass

    def drop_commit_bodies(self) -> None:
        """Forget every kept commit body, overwriting the freed pages (secure_delete) and
        emptying the write-ahead log, so no plaintext copy stays in refs.sqlite's files."""
        db = self._db()
        db.execute("PRAGMA secure_delete=ON")
        db.execute("DELETE FROM commit_bodies")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def find_commits(self, prefix: str) -> list[Ref]:
        """Commits whose id starts with `prefix` (hex): from the commit index, else (a commit
        only the ref log still names, e.g. after refs.sqlite was lost) from the log."""
        rows = self._db().execute("SELECT ref FROM commits WHERE id >= ? AND id < ? LIMIT 2",
                                  (prefix, prefix + "g")).fetchall()
        if rows:
            return [Ref.parse(r[0]) for r in rows]
        logged = {v[:64]: v for v in self.log.values() if len(v) in (64, 128) and v.startswith(prefix)}
        return [Ref.parse(v) for v in list(logged.values())[:2]]

    def known_commits(self) -> list[Ref]:
        """Every commit in the commit index (each commit made or fetched here)."""
        return [Ref.parse(r[0]) for r in self._db().execute("SELECT ref FROM commits")]

    def resolve_prefix(self, prefix: str) -> Ref | None:
        found = self.find_commits(prefix)
        if len(found) > 1:
            raise AmbiguousRef(prefix, len(found))
        return found[0] if found else None

    def close(self) -> None:
        """Close every thread's connection (a mount's worker threads' included)."""
        self._conns.close()


def _put(db: sqlite3.Connection, name: str, value: str | None) -> None:
    if value is None:
        db.execute("DELETE FROM refs WHERE name=?", (name,))
    else:
        db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?)", (name, value))


def _index(db: sqlite3.Connection, ref: Ref, kept: tuple[bytes, bytes] | None) -> None:
    """Within a transaction: enter commit `ref` in the commit index, and keep its plaintext
    (digest, body) when `kept` is given (a refs.sqlite without the table keeps none)."""
    db.execute("INSERT OR IGNORE INTO commits VALUES (?, ?)", (ref.cid.hex(), str(ref)))
    if kept is not None:
        try:
            db.execute("INSERT OR REPLACE INTO commit_bodies VALUES (?, ?, ?)", (ref.cid, *kept))
        except sqlite3.OperationalError:  # no such table (see Refs.__init__)
            pass
