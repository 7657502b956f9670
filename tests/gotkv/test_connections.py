"""ThreadConnections: a connection per thread, none left open by threads that ended or by close().

Each of the three SQLite users (the pack index, a remote's local state, the repository's refs)
is used from thread pools whose threads come and go; each connection holds the database's
files open, so connections left behind pile up until EMFILE.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gotfs.repo.refs import Refs
from gotkv.blobs.local.index import PackIndex
from gotkv.blobs.remote.state import RemoteState
from gotkv.connections import ThreadConnections
from gotkv.errors import StoreClosed


def _open_fds(under) -> int:
    """File descriptors of this process open on files under `under`."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(under))
        except OSError:
            pass
    return n


OWNERS = {
    "pack index": (lambda path: PackIndex(path), lambda o: o.totals()),
    "remote state": (lambda path: RemoteState(path), lambda o: o.position),
    "refs": (lambda path: Refs(path), lambda o: o.get("HEAD")),
}


@pytest.mark.parametrize("owner", list(OWNERS))
def test_pool_threads_leave_no_connection_open(tmp_path, owner):
    make, query = OWNERS[owner]
    obj = make(tmp_path / "db.sqlite")
    for _ in range(5):  # five pools of four threads, each thread with its own connection
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: query(obj), range(16)))
    obj.close()
    assert _open_fds(tmp_path) == 0


def test_ended_threads_connections_are_closed_as_new_ones_open(tmp_path):
    conns = ThreadConnections(tmp_path / "db.sqlite")
    for _ in range(10):
        t = threading.Thread(target=lambda: conns.get().execute("SELECT 1").fetchone())
        t.start()
        t.join()
    conns.get()
    assert conns.open_count <= 2  # this thread's, and the last ended thread's (closed at the next open)
    conns.close()
    assert conns.open_count == 0


def test_transaction_rolls_back_on_error_and_close_refuses_use(tmp_path):
    conns = ThreadConnections(tmp_path / "db.sqlite", closed_message="the test db is closed")
    conns.get().execute("CREATE TABLE t(x)")
    with pytest.raises(ZeroDivisionError):
        with conns.transaction() as db:
            db.execute("INSERT INTO t VALUES (1)")
            1 / 0
    with conns.transaction() as db:
        db.execute("INSERT INTO t VALUES (2)")
    assert conns.get().execute("SELECT x FROM t").fetchall() == [(2,)]
    conns.close()
    with pytest.raises(StoreClosed, match="the test db is closed"):
        conns.get()
