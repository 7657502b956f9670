"""LocalStore beyond the Store contract: persistence, sharing, packing, compaction, damage."""

import errno
import mmap
import os
import random
import sqlite3
import threading

import pytest

from gotkv.blobs.codec import Codec, content_id
from gotkv.blobs.local import LocalStore, packreader, packwriter
from gotkv.blobs.local.packwriter import PackWriter
from gotkv.errors import BlobNotFound, IntegrityError, StoreClosed
from tests.gate import Gate

HEADER = 36  # cid (32) + length (u32) before each record


def blob(i: int, size: int = 1000) -> bytes:
    return random.Random(i).randbytes(size)


def packs(path) -> list:
    return sorted((path / "packs").glob("*.pack"), key=lambda p: int(p.stem))


def assert_all_read(store: LocalStore, expected: dict[bytes, bytes]) -> None:
    for cid, data in expected.items():
        assert store.get(cid) == data
    assert store.exists(expected) == set(expected)


# -- persistence and sharing -----------------------------------------------------------------


def test_persists_across_reopen(tmp_path):
    expected = {}
    with LocalStore(tmp_path) as store:
        for i in range(50):
            data = blob(i, random.Random(i).randint(0, 50_000))
            expected[store.post(data)] = data
        store.flush()
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)
        assert set(store.list()) == set(expected)
        assert store.stats()["blobs"] == len(expected)


def test_close_flushes(tmp_path):
    store = LocalStore(tmp_path)
    cid = store.post(b"posted, never flushed explicitly")
    store.close()
    store.close()  # idempotent
    with LocalStore(tmp_path) as again:
        assert again.get(cid) == b"posted, never flushed explicitly"


def test_closed_store_refuses_use(tmp_path):
    store = LocalStore(tmp_path)
    cid = store.post(b"x")
    store.close()
    for call in (lambda: store.get(cid), lambda: store.post(b"y"), lambda: store.exists([cid]),
                 lambda: store.delete([cid]), lambda: list(store.list())):
        with pytest.raises(StoreClosed, match=str(tmp_path)):
            call()


def test_two_instances_share_flushed_blobs(tmp_path):
    a, b = LocalStore(tmp_path), LocalStore(tmp_path)
    try:
        x = a.post(b"from a")
        # the index row is written only at flush, after the pack is synced
        assert b.exists([x]) == set()
        with pytest.raises(BlobNotFound):
            b.get(x)
        a.flush()
        assert b.get(x) == b"from a"
        y = b.post(b"from b")
        b.flush()
        assert a.get(y) == b"from b"
        # both post the same blob before either flushes: one row, readable by both
        both_a, both_b = a.post(b"from both"), b.post(b"from both")
        a.flush()
        b.flush()
        assert both_a == both_b
        assert a.get(both_a) == b.get(both_a) == b"from both"
        assert set(a.list()) == set(b.list()) == {x, y, both_a}
        # a delete by one is seen by the other
        assert b.delete([x]) == 1
        with pytest.raises(BlobNotFound):
            a.get(x)
        # each writer appends to a pack of its own
        assert len(packs(tmp_path)) == 2
    finally:
        a.close()
        b.close()
    with LocalStore(tmp_path) as c:
        assert set(c.list()) == {y, both_a}


def test_not_one_file_per_blob(tmp_path):
    with LocalStore(tmp_path) as store:
        cids = [store.post(blob(i, 100)) for i in range(1000)]
        store.flush()
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(files) <= 5, files  # index (+ wal, shm) and one pack
        assert len(packs(tmp_path)) == 1
        assert store.get(cids[0]) == blob(0, 100) and store.get(cids[-1]) == blob(999, 100)


def settle_roll(store: LocalStore) -> None:
    """Wait for a pack being opened in the background (as the next posts would, were they slow)."""
    roller = store._packs._roller
    if roller is not None:
        roller.join()


def test_pack_rollover(tmp_path):
    expected = {}
    with LocalStore(tmp_path, pack_limit=10_000) as store:
        for i in range(60):
            data = blob(i, 1000)
            expected[store.post(data)] = data
            settle_roll(store)
            if i % 7 == 0:
                store.flush()
        assert len(packs(tmp_path)) >= 5
        for p in packs(tmp_path):
            # the record that crosses the limit, and the one whose post starts the next pack
            assert p.stat().st_size < 10_000 + 2 * (1000 + HEADER)
        assert_all_read(store, expected)
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)


def test_posts_go_on_while_the_next_pack_opens(tmp_path, monkeypatch):
    """Opening a pack waits on the disk (an index commit, a directory fsync): posts meanwhile
    go into the full pack, and later ones into the new pack once it is open. Nothing is lost."""
    gate = Gate()  # holds the roll, not the first pack's opening
    monkeypatch.setattr(PackWriter, "_open_pack", gate.wrap(PackWriter._open_pack, lambda self: self._pack is not None))
    expected = {}
    with LocalStore(tmp_path, pack_limit=2000) as store:
        for i in range(3):
            expected[store.post(blob(i))] = blob(i)
        assert gate.reached.wait(10)  # the third post found the pack full and started a roll
        for i in range(3, 8):  # these do not wait for it
            expected[store.post(blob(i))] = blob(i)
        assert len(packs(tmp_path)) == 1 and packs(tmp_path)[0].stat().st_size == 8 * (1000 + HEADER)
        store.flush()  # nor does a flush
        assert_all_read(store, expected)
        gate.open()
        settle_roll(store)
        expected[store.post(blob(8))] = blob(8)
        assert [p.stat().st_size for p in packs(tmp_path)] == [8 * (1000 + HEADER), 1000 + HEADER]
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)


def test_rolled_over_packs_are_released(tmp_path):
    """A full pack is closed (and its flock dropped) at once, so compaction can reclaim it."""
    fds_before = len(os.listdir("/proc/self/fd"))
    with LocalStore(tmp_path, pack_limit=1000) as store:
        cids = [store.post(blob(i, 600)) for i in range(1)]
        store.flush()
        for i in range(1, 20):
            cids.append(store.post(blob(i, 600)))
            settle_roll(store)
            store.flush()  # each pack is synced while it is still the current one
        assert len(packs(tmp_path)) == 7  # 3 records a pack: 2 pass the limit, the 3rd starts the next
        assert len(os.listdir("/proc/self/fd")) - fds_before < 8
    with LocalStore(tmp_path) as store:
        assert store.delete(cids) == 20
        store.compact()
        assert packs(tmp_path) == []


# -- compaction ------------------------------------------------------------------------------


def test_compact_reclaims_space(tmp_path):
    expected = {}
    with LocalStore(tmp_path) as store:
        for i in range(300):
            data = blob(i, 2000)
            expected[store.post(data)] = data
    doomed = list(expected)[:270]
    with LocalStore(tmp_path) as store:
        before = store.stats()
        assert store.delete(doomed) == 270
        freed = store.compact()
        after = store.stats()
        assert freed >= 270 * 2000
        assert after["pack_bytes"] <= before["pack_bytes"] - freed + 30 * (2000 + HEADER)
        assert after["pack_bytes"] < before["pack_bytes"] // 5
        survivors = {cid: expected[cid] for cid in list(expected)[270:]}
        assert_all_read(store, survivors)
        for cid in doomed[:10]:
            with pytest.raises(BlobNotFound):
                store.get(cid)
        assert store.compact() == 0  # nothing left to reclaim
    with LocalStore(tmp_path) as store:
        assert_all_read(store, survivors)
        assert set(store.list()) == set(survivors)


def test_compact_skips_mostly_live_and_active_packs(tmp_path):
    with LocalStore(tmp_path) as store:
        cids = [store.post(blob(i)) for i in range(100)]
    with LocalStore(tmp_path) as writer, LocalStore(tmp_path) as gc:
        own = writer.post(b"in the writer's live pack")
        writer.flush()
        gc.delete(cids[:10])  # 10% dead: below the default ratio
        assert gc.compact() == 0
        assert len(packs(tmp_path)) == 2
        gc.delete([own])
        assert gc.compact() == 0  # the writer holds its pack
        assert writer.get(cids[50]) == blob(50)
        assert gc.compact(min_dead_ratio=0.05) > 0
        assert writer.get(cids[50]) == blob(50)  # still readable by a live reader
    with LocalStore(tmp_path) as fresh:
        assert fresh.exists(cids) == set(cids[10:])
        assert all(fresh.get(cid) == blob(i) for i, cid in enumerate(cids) if i >= 10)


# -- damage ----------------------------------------------------------------------------------


def test_trailing_garbage_in_pack(tmp_path):
    """A crash mid-append leaves unindexed bytes at a pack's tail; nothing may trip over them."""
    expected = {}
    with LocalStore(tmp_path) as store:
        for i in range(20):
            data = blob(i, 3000)
            expected[store.post(data)] = data
    (pack,) = packs(tmp_path)
    rng = random.Random(5)
    fake_header = packwriter.HEADER.pack(content_id(b"never indexed"), 1_000_000)
    with open(pack, "ab") as f:
        f.write(fake_header + rng.randbytes(1234))  # a record cut short by the crash
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)
        with pytest.raises(BlobNotFound):
            store.get(content_id(b"never indexed"))
        for i in range(20, 40):
            data = blob(i, 3000)
            expected[store.post(data)] = data
        assert_all_read(store, expected)  # before flush
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)  # after reopen
        assert set(store.list()) == set(expected)
        store.compact(min_dead_ratio=0.0)  # rewrite everything, garbage included
        assert_all_read(store, expected)
    assert pack not in packs(tmp_path)


def test_corrupt_byte_in_pack_is_caught_by_codec(tmp_path):
    codec = Codec(b"k" * 32)
    ref, stored = codec.encode(b"precious data " * 500)
    with LocalStore(tmp_path) as store:
        assert store.post(stored) == ref.cid
    (pack,) = packs(tmp_path)
    raw = bytearray(pack.read_bytes())
    at = raw.find(stored)
    assert at == HEADER
    raw[at + len(stored) // 2] ^= 0x40
    pack.write_bytes(bytes(raw))
    with LocalStore(tmp_path) as store:
        got = store.get(ref.cid)  # stores need not verify; the codec must
        assert len(got) == len(stored) and got != stored
        assert content_id(got) != ref.cid
        with pytest.raises(IntegrityError, match=ref.short()):
            codec.decode(ref, got)


def test_truncated_pack_is_an_integrity_error(tmp_path):
    with LocalStore(tmp_path) as store:
        first = store.post(blob(1, 5000))
        last = store.post(blob(2, 5000))
    (pack,) = packs(tmp_path)
    os.truncate(pack, pack.stat().st_size - 100)
    with LocalStore(tmp_path) as store:
        assert store.get(first) == blob(1, 5000)
        with pytest.raises(IntegrityError, match=last.hex()[:12]):
            store.get(last)
        assert store.get_with(first, bytes) == blob(1, 5000)
        with pytest.raises(IntegrityError, match=last.hex()[:12]):
            store.get_with(last, bytes)  # mapped reads check the record fits the file too


def test_get_with_across_compaction_and_in_another_process(tmp_path):
    """A pack mapped by a reader stays readable while a compaction moves its live blobs away and
    deletes it; the reader then finds them at their new place. A view never outlives `use`."""
    expected = {}
    with LocalStore(tmp_path) as store:
        for i in range(100):
            data = blob(i, 3000)
            expected[store.post(data)] = data
    doomed = list(expected)[:80]
    survivors = {cid: expected[cid] for cid in list(expected)[80:]}
    with LocalStore(tmp_path) as reader, LocalStore(tmp_path) as compactor:
        views = []
        assert all(reader.get_with(cid, bytes) == data for cid, data in expected.items())  # maps the pack
        reader.get_with(next(iter(survivors)), views.append)
        with pytest.raises(ValueError):
            bytes(views[0])  # released when use returned
        compactor.delete(doomed)
        assert compactor.compact() > 0
        for cid, data in survivors.items():
            assert reader.get_with(cid, bytes) == data


def test_failed_append_does_not_shift_later_records(tmp_path, monkeypatch):
    """A write that fails halfway (ENOSPC, EIO) must not leave later offsets pointing astray."""
    store = LocalStore(tmp_path)
    try:
        before = store.post(blob(1))
        real = packwriter._write_all

        def half_then_fail(fd, header, data):
            os.write(fd, (header + data)[: (len(header) + len(data)) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(packwriter, "_write_all", half_then_fail)
        with pytest.raises(OSError):
            store.post(blob(2))
        monkeypatch.setattr(packwriter, "_write_all", real)
        assert store.exists([content_id(blob(2))]) == set()
        after = store.post(blob(3))
        retried = store.post(blob(2))
        for cid, i in ((before, 1), (after, 3), (retried, 2)):
            assert store.get(cid) == blob(i)
        store.flush()
    finally:
        store.close()
    with LocalStore(tmp_path) as store:
        for cid, i in ((before, 1), (after, 3), (retried, 2)):
            assert store.get(cid) == blob(i)


def test_index_is_wal_sqlite(tmp_path):
    with LocalStore(tmp_path) as store:
        store.post(b"x")
    db = sqlite3.connect(tmp_path / "index.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
    finally:
        db.close()


def test_repost_deleted_before_flush_is_reported_not_lost(tmp_path):
    """A dedup hit is renewed at flush; if another process deleted the blob in between,
    flush must say so (the writer no longer holds the bytes) instead of pretending."""
    from gotkv.errors import BlobNotFound
    a = LocalStore(tmp_path)
    cid = a.post(b"shared bytes")
    a.flush()
    assert a.post(b"shared bytes") == cid  # dedup hit: nothing written
    b = LocalStore(tmp_path)
    assert b.delete([cid]) == 1
    b.close()
    with pytest.raises(BlobNotFound, match=cid.hex()):
        a.flush()
    with pytest.raises(BlobNotFound, match=cid.hex()):  # a retry must not pretend either:
        a.flush()  # a publish after it would record a root naming a missing blob
    a.post(b"shared bytes")  # posting again restores it
    a.flush()
    assert a.get(cid) == b"shared bytes"
    a.close()


def test_a_hint_racing_a_delete_is_discarded(tmp_path, monkeypatch):
    """hint() queries outside the lock; a delete() landing between its query and its update
    must not leave behind a hint that makes a deleted blob readable."""
    import threading

    from gotkv.errors import BlobNotFound
    store = LocalStore(tmp_path)
    cid = store.post(b"doomed")
    store.flush()
    real_db = store._index.db

    class DeleteMidQuery:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            rows = self.conn.execute(sql, *args).fetchall()
            t = threading.Thread(target=store.delete, args=([cid],))  # its own connection
            t.start()
            t.join()
            return rows

    hinter = threading.get_ident()
    monkeypatch.setattr(store._index, "db", lambda: DeleteMidQuery(real_db()) if threading.get_ident() == hinter else real_db())
    store.hint([cid])
    monkeypatch.undo()
    with pytest.raises(BlobNotFound):
        store.get(cid)
    store.close()


def test_stored_size_is_known_for_posted_and_hinted_blobs(tmp_path):
    with LocalStore(tmp_path) as store:
        cid = store.post(b"x" * 1234)
        assert store.stored_size(cid) == 1234  # pending
        store.flush()
    with LocalStore(tmp_path) as store:
        assert store.stored_size(cid) is None  # would need a query
        store.hint([cid])
        assert store.stored_size(cid) == 1234
        assert store.get(cid) == b"x" * 1234


def test_mapped_reads_do_not_stay_resident(tmp_path):
    """get_with maps packs; their pages are dropped from the process's page tables every
    _DROP_EVERY bytes, so reading a large pack never inflates the reader's RSS much."""
    def rss_file_kib() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("RssFile:"):
                return int(line.split()[1])
        return 0

    with LocalStore(tmp_path) as store:
        cids = [store.post(blob(i, 1 << 20)) for i in range(96)]
    with LocalStore(tmp_path) as store:
        before = rss_file_kib()
        for cid in cids:
            assert store.get_with(cid, len) == 1 << 20
        assert rss_file_kib() - before < (packreader._DROP_EVERY >> 10) + 8192


def test_hinted_places_survive_a_compaction_by_another_process(tmp_path):
    expected = {}
    with LocalStore(tmp_path) as store:
        for i in range(100):
            data = blob(i, 3000)
            expected[store.post(data)] = data
    doomed = list(expected)[:80]
    survivors = {cid: expected[cid] for cid in list(expected)[80:]}
    with LocalStore(tmp_path) as reader, LocalStore(tmp_path) as compactor:
        reader.hint(survivors)  # the old places, about to be compacted away
        compactor.delete(doomed)
        assert compactor.compact() > 0
        for cid, data in survivors.items():
            assert reader.get_with(cid, bytes) == data
            assert reader.get(cid) == data


def test_get_with_an_empty_record_at_a_page_aligned_end_of_pack(tmp_path):
    """The last record of a pack can end exactly on a page boundary with no bytes of its own."""
    with LocalStore(tmp_path) as store:
        filler = blob(1, mmap.PAGESIZE - 2 * HEADER)  # header + filler + header == one page
        store.post(filler)
        empty = store.post(b"")
        store.flush()
        (pack,) = packs(tmp_path)
        assert pack.stat().st_size % mmap.PAGESIZE == 0
        assert store.get_with(empty, bytes) == b""
        assert store.get_with(content_id(filler), bytes) == filler


# -- flushing while posting ------------------------------------------------------------------


def test_posts_go_on_while_a_flush_waits_for_the_disk(tmp_path, monkeypatch):
    """A flush syncs a snapshot of the posts before it; posts meanwhile are neither blocked
    nor lost: readable at once, and durable by the next flush."""
    gate = Gate()
    real_fdatasync = os.fdatasync
    store = LocalStore(tmp_path)
    before = {store.post(blob(i)): blob(i) for i in range(3)}
    monkeypatch.setattr(os, "fdatasync", gate.wrap(real_fdatasync))
    flusher = threading.Thread(target=store.flush)
    flusher.start()
    assert gate.reached.wait(10)
    during = {store.post(blob(i)): blob(i) for i in range(3, 6)}  # would deadlock if posts waited
    assert_all_read(store, before | during)
    gate.open()
    flusher.join(10)
    monkeypatch.setattr(os, "fdatasync", real_fdatasync)
    db = sqlite3.connect(tmp_path / "index.sqlite")
    indexed = {row[0] for row in db.execute("SELECT cid FROM blobs")}
    assert indexed == set(before)  # the flush indexed its snapshot only
    store.flush()
    assert {row[0] for row in db.execute("SELECT cid FROM blobs")} == set(before) | set(during)
    db.close()
    store.close()
    with LocalStore(tmp_path) as again:
        assert_all_read(again, before | during)


def test_a_failed_sync_is_retried_by_the_next_flush(tmp_path, monkeypatch):
    """fdatasync failing (EIO) fails the flush and indexes nothing; the packs stay queued, so
    the next flush syncs them (no closed or reused descriptor) and indexes every post."""
    real_fdatasync = os.fdatasync

    def failing(fd):
        raise OSError(errno.EIO, "simulated I/O error")

    with LocalStore(tmp_path, pack_limit=3000) as store:
        expected = {}
        for i in range(8):  # several packs, most of them retired
            expected[store.post(blob(i))] = blob(i)
            settle_roll(store)
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(OSError):
            store.flush()
        assert store._index.db().execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0
        monkeypatch.setattr(os, "fdatasync", real_fdatasync)
        store.flush()
        assert store._index.db().execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 8
    with LocalStore(tmp_path) as store:
        assert_all_read(store, expected)


def test_connections_of_ended_threads_are_closed(tmp_path):
    """Each thread gets its own SQLite connection; threads come and go (thread pools), and
    their connections must go with them, or every batch of posts leaks open files."""
    fds_before = len(os.listdir("/proc/self/fd"))
    with LocalStore(tmp_path) as store:
        for i in range(60):
            t = threading.Thread(target=store.post, args=(blob(i),))
            t.start()
            t.join()
        assert len(os.listdir("/proc/self/fd")) - fds_before < 20
        store.flush()
        assert store.exists([content_id(blob(i)) for i in range(60)]) == {content_id(blob(i)) for i in range(60)}
