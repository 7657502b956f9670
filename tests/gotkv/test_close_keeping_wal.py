"""ThreadConnections.close (gotkv.dbfile.close_keeping_wal) leaves a short write-ahead log
in place, unsynced and unchecked, and checkpoints a long one; nothing committed is lost."""

from __future__ import annotations

import os
import sqlite3
import threading

from gotkv.connections import ThreadConnections
from gotkv.dbfile import WAL_LIMIT


def _db(path) -> ThreadConnections:
    conns = ThreadConnections(path, synchronous="FULL")
    conns.get().execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
    return conns


def test_a_short_log_outlives_the_close_and_its_rows_read_back(tmp_path):
    path = tmp_path / "a.sqlite"
    conns = _db(path)
    with conns.transaction() as db:
        db.execute("INSERT INTO t VALUES (1, ?)", (b"x" * 100,))
    worker = threading.Thread(target=lambda: conns.get().execute("SELECT COUNT(*) FROM t").fetchall())
    worker.start()
    worker.join()  # a second thread's connection, closed with the first
    conns.close()
    wal = os.path.getsize(f"{path}-wal")
    assert 0 < wal <= WAL_LIMIT  # not checkpointed, not deleted
    fresh = sqlite3.connect(path)
    assert fresh.execute("SELECT v FROM t WHERE k=1").fetchone() == (b"x" * 100,)
    fresh.close()


def test_a_long_log_is_checkpointed_and_emptied_at_close(tmp_path):
    path = tmp_path / "b.sqlite"
    conns = _db(path)
    with conns.transaction() as db:
        db.executemany("INSERT INTO t VALUES (?, ?)", [(i, os.urandom(1000)) for i in range(2000)])
    assert os.path.getsize(f"{path}-wal") > WAL_LIMIT
    conns.close()
    assert os.path.getsize(f"{path}-wal") == 0
    fresh = sqlite3.connect(path)
    assert fresh.execute("SELECT COUNT(*) FROM t").fetchone() == (2000,)
    fresh.close()
