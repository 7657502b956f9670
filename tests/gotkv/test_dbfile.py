"""SQLite failures that name their file and the way out (gotkv/dbfile.py)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from gotkv.dbfile import connect, open_cache, quick_check, translate
from gotkv.errors import DamagedFile, DiskFull


def test_translate_names_the_file():
    full = translate(sqlite3.OperationalError("database or disk is full"), "/x/db", "fix it")
    assert isinstance(full, DiskFull) and "/x/db" in str(full)
    bad = translate(sqlite3.DatabaseError("file is not a database"), "/x/db", "fix it")
    assert isinstance(bad, DamagedFile) and "/x/db" in str(bad) and "fix it" in str(bad)
    assert translate(sqlite3.OperationalError("database is locked"), "/x/db", "fix it") is None


def test_a_damaged_database_is_one_error_naming_it(tmp_path):
    path = tmp_path / "x.sqlite"
    path.write_bytes(os.urandom(4096))
    assert quick_check(path) is not None
    with pytest.raises(DamagedFile, match="x.sqlite.*rebuild it"):
        connect(path, "rebuild it").execute("SELECT 1 FROM sqlite_master")


def test_a_damaged_cache_is_made_afresh(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(os.urandom(4096))
    db = open_cache(path, ["CREATE TABLE IF NOT EXISTS t(x)"])
    db.execute("INSERT INTO t VALUES (1)")
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]
    db.close()
    assert quick_check(path) is None
