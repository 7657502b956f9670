"""ThreadConnections: one SQLite connection per thread for one database file.

sqlite3 connections are not for sharing across threads, so every thread that touches a
database (store users, the sealing pool, trio's worker threads, a remote's transfer pool)
gets its own, opened on first use in WAL mode. Threads come and go, and a connection left
open keeps two files open (the database and its WAL) until EMFILE: so when a thread opens
one, the connections of threads that have ended since are closed, and close() closes them
all. The pack index, a remote's local state and the repository's refs each hold one.

`transaction()` is the write pattern all three use: BEGIN IMMEDIATE (the write lock is taken
at the start, so two processes' transactions never deadlock on an upgrade) ... COMMIT,
rolled back on any exception.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from collections.abc import Iterator

from gotkv.errors import StoreClosed

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path


class ThreadConnections:
    """The connections of one database file, a connection per thread. Thread-safe.

    `synchronous` is SQLite's PRAGMA synchronous: FULL makes a returned commit durable,
    NORMAL may lose the last commits (never consistency) on a power cut. After close(),
    get() raises StoreClosed with `closed_message`.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", closed_message: str | None = None,
                 remedy: str | None = None):
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = path  # as given: no pathlib on the read-only commands' start (gotkv.dbfile)
        self.synchronous = synchronous
        self.closed_message = closed_message or f"database {self.path} is closed"
        self.remedy = remedy
        self._local = threading.local()
        self._lock = threading.Lock()  # guards _conns and _closed
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (then the connections of threads
        that have ended are closed). Cost: a dict lookup; an open costs a few syscalls."""
        if self._closed:
            raise StoreClosed(self.closed_message)
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            with self._lock:
                if self._closed:
                    conn.close()
                    raise StoreClosed(self.closed_message)
                ended = [c for t, c in self._conns if not t.is_alive()]
                self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
                self._conns.append((threading.current_thread(), conn))
            self._local.conn = conn
            for c in ended:
                c.close()
        return conn

    def _open(self) -> sqlite3.Connection:
        """A new connection; with a remedy, one whose statements raise DamagedFile naming the
        file and that remedy (gotkv.dbfile) instead of sqlite3's bare errors."""
        if self.remedy is None:
            return sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        from gotkv.dbfile import connect

        return connect(self.path, self.remedy, timeout=60, isolation_level=None, check_same_thread=False)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on this thread's connection; ROLLBACK on any exception."""
        db = self.get()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every thread's connection, leaving the write-ahead log for the next process
        (gotkv.dbfile.close_keeping_wal: no checkpoint, no fsync); later get() calls raise
        StoreClosed. Idempotent."""
        with self._lock:
            self._closed = True
            conns = [c for _, c in self._conns]
            self._conns.clear()
        if conns:
            from gotkv.dbfile import close_keeping_wal

            close_keeping_wal(conns, self.path)

    @property
    def open_count(self) -> int:
        """Connections open now (for tests: ended threads' connections do not pile up)."""
        with self._lock:
            return len(self._conns)
