"""SQLite connections whose failures name their file and the way out.

sqlite3 reports a damaged database ("database disk image is malformed", "file is not a
database") and a full disk ("database or disk is full") as bare DatabaseError and
OperationalError naming no file. A connection made by `connect` turns them into DamagedFile
(with the remedy its owner gives: rebuild, or delete a cache) and DiskFull, at every
statement, so no caller has to wrap its queries. Other errors (a busy database) pass as they are.

Paths are taken as given (str or os.PathLike) and never turned into pathlib objects: the
read-only commands open refs.sqlite through here and import no pathlib (docs/benchmarks.md,
Command start-up).
"""

from __future__ import annotations

import os
import sqlite3

from gotkv.errors import DamagedFile, DiskFull, GotError

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path

_FULL = ("database or disk is full", "disk is full")
_DAMAGED = ("malformed", "not a database", "file is encrypted")


def translate(e: sqlite3.Error, path: str | Path, remedy: str) -> GotError | None:
    """The GotError `e` stands for, or None when it is not about the file or the disk."""
    text = str(e).lower()
    if any(s in text for s in _FULL):
        return DiskFull(path, str(e))
    if type(e) is sqlite3.DatabaseError or any(s in text for s in _DAMAGED):
        return DamagedFile(path, str(e), remedy)
    return None


class _Connection(sqlite3.Connection):
    """sqlite3.Connection with execute/executemany/executescript translating errors."""

    got_path: str | Path = ""
    got_remedy: str = ""
    got_cache: bool = False

    def _call(self, method, args):
        try:
            return method(*args)
        except sqlite3.Error as e:
            got = translate(e, self.got_path, self.got_remedy)
            if got is None:
                raise
            if self.got_cache and isinstance(got, DamagedFile):
                remove(self.got_path)
            raise got from e

    def execute(self, *args):
        return self._call(super().execute, args)

    def executemany(self, *args):
        return self._call(super().executemany, args)

    def executescript(self, *args):
        return self._call(super().executescript, args)


def connect(path: str | Path, remedy: str, **kwargs) -> sqlite3.Connection:
    """sqlite3.connect(path, **kwargs) whose statements raise DamagedFile (with `remedy`) and
    DiskFull instead of sqlite3's bare errors. Cost: that of sqlite3.connect."""
    try:
        conn = sqlite3.connect(path, factory=_Connection, **kwargs)
    except sqlite3.Error as e:
        got = translate(e, path, remedy)
        if got is None:
            raise
        raise got from e
    conn.got_path = path
    conn.got_remedy = remedy
    return conn


def open_cache(path: str | Path, setup: list[str], **kwargs) -> sqlite3.Connection:
    """A connection to a cache database (one whose loss costs only time), running the
    `setup` statements. A cache found damaged is deleted and made afresh: at open here, or,
    when a later statement finds the damage, by that statement, which raises DamagedFile
    saying so (the next open starts empty)."""
    remedy = "it is only a cache, so it was deleted: run the command again"
    for attempt in (0, 1):
        conn = connect(path, remedy, **kwargs)
        try:
            for statement in setup:
                conn.execute(statement)
            conn.got_cache = True
            return conn
        except DamagedFile:
            conn.close()
            remove(path)
            if attempt:
                raise
    raise AssertionError("unreachable")


# Bytes of write-ahead log (256 pages of 4 KiB, with their frame headers) past which a
# closing command checkpoints it after all. The first connection of every process reads the
# whole log to index it (its -shm is rebuilt), and a checkpoint run by SQLite itself in some
# later process would copy every frame again (that process's index does not know which were
# copied), so the log is kept short: its checkpoint then comes every few dozen small commits.
WAL_LIMIT = 256 * (4096 + 24)


def close_keeping_wal(conns: list[sqlite3.Connection], path: str | Path) -> None:
    """Close `conns`, connections to the WAL-mode database at `path`, leaving its write-ahead
    log as it is instead of checkpointing it into the database and deleting it, unless it
    has grown past WAL_LIMIT (then it is checkpointed and emptied, if no other process is
    reading it at that moment).

    Why: the last connection to a database that closes normally copies the log into the
    database, syncing both (two fsyncs), and deletes it; the next transaction of the next
    command then makes the log afresh, syncing its header and the directory (two more). A
    command that commits one transaction would pay five syncs where one makes it durable. Here
    a read-only connection holds the database open while `conns` close, so none of them is the
    last (a checkpoint needs the database to itself), and it closes last itself, which a
    read-only connection does without a checkpoint. Committed transactions were synced into
    the log by their COMMIT (synchronous=FULL), so durability is unchanged.

    Cost: a stat of the log, one read-only open and one query; now and then a checkpoint
    (two syncs and the page copies). If the read-only connection cannot be made, they close
    as usual.
    """
    raw = os.fspath(path)
    try:
        big = os.stat(raw + "-wal").st_size > WAL_LIMIT
    except OSError:
        big = False
    if big and conns:
        try:
            conns[0].execute("PRAGMA busy_timeout=0")  # a reader elsewhere: leave it to the next close
            conns[0].execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass
    try:
        guard = sqlite3.connect("file:" + raw.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=ro",
                                uri=True)
    except sqlite3.Error:
        guard = None
    try:
        if guard is not None:
            guard.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # a read: it holds the file shared
    except sqlite3.Error:
        guard.close()
        guard = None
    try:
        for conn in conns:
            conn.close()
    finally:
        if guard is not None:
            guard.close()


def remove(path: str | Path) -> None:
    """Delete a database and its WAL and shared-memory files (those absent are skipped)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(os.fspath(path) + suffix)
        except FileNotFoundError:
            pass


def quick_check(path: str | Path) -> str | None:
    """None if the database at `path` opens and passes SQLite's quick_check, else what is
    wrong. Cost: a read of every page of the file."""
    try:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return str(e)
    return None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])
