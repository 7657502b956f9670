"""The Store contract (gotkv/blobs/store.py), run against every store.

To add a store, add a factory to STORES; every test below then runs on it.
"""

import itertools
import os
import random
import threading
import time

import pytest

from gotkv.blobs.codec import content_id
from gotkv.blobs.local import LocalStore
from gotkv.blobs.memory import MemoryStore
from gotkv.blobs.remote.directory import DirectoryObjectStore
from gotkv.blobs.remote.remote import Remote
from gotkv.blobs.remote.store import RemoteStore
from gotkv.blobs.store import MAX_BLOB_SIZE, Store
from gotkv.errors import BlobNotFound, BlobTooLarge, GotError, InvalidInput, NotFound

_dirs = itertools.count()


def _memory(tmp_path, **kw):
    return MemoryStore(**kw)


def _local(tmp_path, **kw):
    return LocalStore(tmp_path / f"store{next(_dirs)}", **kw)


def _remote_dir(tmp_path, **kw):
    n = next(_dirs)
    objects = DirectoryObjectStore(tmp_path / f"remote{n}")
    remote = Remote.open(objects, bytes(range(32)), tmp_path / f"remote{n}.state", create_with={})
    return RemoteStore(remote, owns_remote=True, **kw)


def _remote_s3(tmp_path, bucket=None, **kw):
    """A remote store on a real Ceph RGW (the s3_bucket fixture supplies the bucket)."""
    from gotkv.blobs.remote.s3 import S3ObjectStore

    n = next(_dirs)
    remote = Remote.open(S3ObjectStore(bucket, f"store{n}"), bytes(range(32)), tmp_path / f"remote{n}.state",
                         create_with={})
    return RemoteStore(remote, owns_remote=True, **kw)


_remote_s3.needs_bucket = True


def _router(tmp_path, **kw):
    from gotkv.blobs.router import StoreRouter

    return StoreRouter([MemoryStore(**kw), MemoryStore(**kw)])


STORES = {"memory": _memory, "local": _local, "remote-dir": _remote_dir, "remote-s3": _remote_s3,
          "router": _router}


@pytest.fixture(params=list(STORES.values()), ids=list(STORES))
def make_store(request, tmp_path):
    made = []
    if getattr(request.param, "needs_bucket", False):
        bucket = request.getfixturevalue("s3_bucket")
        factory = lambda tmp_path, **kw: request.param(tmp_path, bucket, **kw)  # noqa: E731
    else:
        factory = request.param

    def make(**kw):
        store = factory(tmp_path, **kw)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()


def blob(i: int, size: int = 100) -> bytes:
    return random.Random(i).randbytes(size)


def missing_cid(i: int = 0) -> bytes:
    return content_id(b"never posted %d" % i)


def test_is_a_store(store):
    assert isinstance(store, Store)
    assert store.max_size == MAX_BLOB_SIZE


# -- post / get ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 70_000, 1 << 20])
def test_post_get_round_trip(store, size):
    data = blob(size, size)
    cid = store.post(data)
    assert cid == content_id(data)
    assert store.get(cid) == data
    store.flush()
    assert store.get(cid) == data


def test_post_with_a_vouched_cid(store):
    """A caller that has just hashed the bytes (the codec) passes the cid; it is what post returns."""
    data = blob(3, 70_000)
    cid = content_id(data)
    assert store.post(data, cid) == cid
    assert store.post(data, cid) == cid  # and dedups like any post
    store.flush()
    assert store.get(cid) == data and list(store.list()) == [cid]


def test_memory_store_refuses_a_wrong_vouched_cid():
    """MemoryStore checks the vouched cid, so a caller passing a wrong one fails in the tests."""
    store = MemoryStore()
    with pytest.raises(ValueError, match="vouched"):
        store.post(b"abc", content_id(b"abd"))
    assert list(store.list()) == []


def test_many_blobs_each_distinct(store):
    cids = {store.post(blob(i, 50 + i)): blob(i, 50 + i) for i in range(200)}
    assert len(cids) == 200
    for cid, data in cids.items():
        assert store.get(cid) == data


def test_dedup(store):
    data = blob(1, 5000)
    cid1 = store.post(data)
    cid2 = store.post(bytes(data))
    store.flush()
    cid3 = store.post(data)  # again after flush: the dedup check hits the index
    store.flush()
    assert cid1 == cid2 == cid3
    assert list(store.list()) == [cid1]
    assert store.delete([cid1]) == 1  # stored once, so removed once
    assert store.exists([cid1]) == set()


def test_dedup_stores_bytes_once(make_store, tmp_path):
    store = make_store()
    data = blob(2, 100_000)
    for _ in range(20):
        store.post(data)
    store.flush()
    if isinstance(store, MemoryStore):
        assert store.posts == 1
    else:
        assert store.stats()["pack_bytes"] < 2 * len(data)


def test_get_missing(store):
    cid = missing_cid()
    with pytest.raises(BlobNotFound) as info:
        store.get(cid)
    err = info.value
    assert err.cid == cid
    assert cid.hex() in str(err)
    assert isinstance(err, NotFound) and isinstance(err, GotError) and isinstance(err, LookupError)


def test_get_many(store):
    datas = [blob(i, 10 * i) for i in range(30)]
    cids = [store.post(d) for d in datas]
    half = cids[:15]
    store.flush()
    got = store.get_many(iter(cids))  # any iterable
    assert got == dict(zip(cids, datas))
    assert store.get_many(half) == dict(zip(half, datas[:15]))
    assert store.get_many([]) == {}


def test_get_many_missing(store):
    present = store.post(b"present")
    with pytest.raises(BlobNotFound) as info:
        store.get_many([present, missing_cid(7)])
    assert info.value.cid == missing_cid(7)


# -- exists ----------------------------------------------------------------------------------


def test_exists_mixed(store):
    present = [store.post(blob(i)) for i in range(10)]
    absent = [missing_cid(i) for i in range(10)]
    assert store.exists(present + absent) == set(present)
    assert store.exists(absent) == set()
    assert store.exists([]) == set()
    assert store.exists(iter(present[:3])) == set(present[:3])  # any iterable
    assert store.exists(present[:2] * 3) == set(present[:2])  # duplicates
    store.flush()
    assert store.exists(absent + present) == set(present)


def test_exists_bulk_crosses_batch_limits(store):
    present = [store.post(blob(i, 40)) for i in range(1200)]
    store.flush()
    extra = [store.post(blob(10_000 + i, 40)) for i in range(300)]  # unflushed, too
    absent = [missing_cid(i) for i in range(1500)]
    query = present + extra + absent
    random.Random(0).shuffle(query)
    assert store.exists(query) == set(present) | set(extra)
    assert store.exists(absent) == set()


# -- delete ----------------------------------------------------------------------------------


def test_delete(store):
    cids = [store.post(blob(i)) for i in range(10)]
    store.flush()
    assert store.delete(cids[:4] + [missing_cid(1), missing_cid(2)]) == 4
    assert store.exists(cids) == set(cids[4:])
    for cid in cids[:4]:
        with pytest.raises(BlobNotFound):
            store.get(cid)
    for i, cid in enumerate(cids[4:], 4):
        assert store.get(cid) == blob(i)
    assert store.delete(cids[:4]) == 0  # already gone
    assert store.delete([]) == 0
    assert set(store.list()) == set(cids[4:])


def test_delete_many_crosses_batch_limits(store):
    cids = [store.post(blob(i, 30)) for i in range(1100)]
    store.flush()
    assert store.delete(iter(cids[:1050] + [missing_cid()])) == 1050
    assert set(store.list()) == set(cids[1050:])


def test_delete_unflushed(store):
    cid = store.post(b"short-lived")
    assert store.delete([cid]) == 1
    assert store.exists([cid]) == set()
    store.flush()
    assert store.exists([cid]) == set()
    with pytest.raises(BlobNotFound):
        store.get(cid)


def test_repost_after_delete(store):
    data = blob(3, 2000)
    cid = store.post(data)
    store.flush()
    store.delete([cid])
    assert store.post(data) == cid
    store.flush()
    assert store.get(cid) == data


def _tick() -> float:
    """A time.time() strictly after everything before it and strictly before everything after."""
    time.sleep(0.02)
    t = time.time()
    time.sleep(0.02)
    return t


def test_delete_older_than(store):
    old = [store.post(blob(i)) for i in range(5)]
    reused = store.post(blob(100))
    store.flush()
    cutoff = _tick()
    new = store.post(blob(200))
    assert store.post(blob(100)) == reused  # re-posted (deduplicated) after the cutoff
    store.flush()
    assert store.delete(old + [reused, new, missing_cid()], older_than=cutoff) == 5
    assert store.exists(old + [reused, new]) == {reused, new}
    assert store.get(reused) == blob(100) and store.get(new) == blob(200)
    # with a later cutoff the survivors go too
    later = _tick()
    assert store.delete([reused, new], older_than=later) == 2
    assert list(store.list()) == []


def test_delete_older_than_spares_unflushed(store):
    cutoff = _tick()
    cid = store.post(b"just posted by a concurrent writer")
    assert store.delete([cid], older_than=cutoff) == 0
    store.flush()
    assert store.get(cid) == b"just posted by a concurrent writer"


# -- list ------------------------------------------------------------------------------------


def test_list(store):
    assert list(store.list()) == []
    flushed = {store.post(blob(i)) for i in range(20)}
    store.flush()
    pending = {store.post(blob(100 + i)) for i in range(5)}
    listed = list(store.list())
    assert len(listed) == len(set(listed))
    assert set(listed) == flushed | pending
    it = store.list()
    store.post(b"posted while iterating")
    assert set(it) <= flushed | pending | {content_id(b"posted while iterating")}


# -- limits ----------------------------------------------------------------------------------


def test_max_size(make_store):
    store = make_store(max_size=1000)
    assert store.max_size == 1000
    assert store.get(store.post(bytes(1000))) == bytes(1000)
    with pytest.raises(BlobTooLarge) as info:
        store.post(b"x" * 1001)
    err = info.value
    assert (err.size, err.limit) == (1001, 1000)
    assert isinstance(err, InvalidInput)
    assert "1001" in str(err) and "1000" in str(err)
    store.flush()
    assert set(store.list()) == {content_id(bytes(1000))}  # nothing of the refused blob


def test_default_max_size(store):
    data = os.urandom(MAX_BLOB_SIZE)
    assert store.get(store.post(data)) == data
    with pytest.raises(BlobTooLarge):
        store.post(data + b"!")


# -- consistency -----------------------------------------------------------------------------


def test_read_your_writes_before_flush(store):
    datas = [blob(i, 3000) for i in range(20)]
    cids = [store.post(d) for d in datas]
    for cid, data in zip(cids, datas):
        assert store.get(cid) == data
    assert store.exists(cids) == set(cids)
    assert set(store.list()) == set(cids)
    assert store.get_many(cids) == dict(zip(cids, datas))


def test_flush_is_idempotent(store):
    store.flush()
    cid = store.post(b"one")
    store.flush()
    store.flush()
    assert store.get(cid) == b"one"


def test_thread_safety(store):
    n_threads, per_thread = 8, 40
    shared = [blob(-i, 5000) for i in range(10)]  # every thread posts these: dedup races
    published: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        try:
            rng = random.Random(t)
            start.wait()
            for i in range(per_thread):
                data = blob(t * 1000 + i, rng.randint(0, 20_000))
                cid = store.post(data)
                assert store.get(cid) == data
                published.append((cid, data))
                cid_shared = store.post(shared[i % len(shared)])
                assert store.get(cid_shared) == shared[i % len(shared)]
                # read what others have published so far
                for other_cid, other_data in rng.sample(published, min(3, len(published))):
                    assert store.get(other_cid) == other_data
                assert store.exists([cid, cid_shared]) == {cid, cid_shared}
                if i % 10 == 9:
                    store.flush()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    store.flush()
    expected = dict(published) | {content_id(d): d for d in shared}
    assert len(published) == n_threads * per_thread
    assert set(store.list()) == set(expected)
    for cid, data in expected.items():
        assert store.get(cid) == data


# -- get_with ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 70_000, 1 << 20])
def test_get_with_round_trip(store, size):
    data = blob(1000 + size, size)
    cid = store.post(data)
    for when in ("before flush", "after flush"):
        assert store.get_with(cid, bytes) == data, when
        assert store.get_with(cid, len) == size, when
        store.flush()


def test_get_with_returns_what_use_returns(store):
    data = blob(5, 4097)
    cid = store.post(data)
    store.flush()
    sentinel = object()
    assert store.get_with(cid, lambda b: sentinel) is sentinel
    assert store.get_with(cid, lambda b: bytes(b[10:20])) == data[10:20]


def test_get_with_max_size(store):
    data = os.urandom(MAX_BLOB_SIZE)
    cid = store.post(data)
    assert store.get_with(cid, bytes) == data
    store.flush()
    assert store.get_with(cid, bytes) == data


def test_get_with_missing(store):
    store.post(b"something else")
    store.flush()
    cid = missing_cid(3)
    called = []
    with pytest.raises(BlobNotFound) as info:
        store.get_with(cid, called.append)
    assert info.value.cid == cid and called == []


def test_get_with_deleted(store):
    cid = store.post(blob(6, 300))
    store.flush()
    store.delete([cid])
    with pytest.raises(BlobNotFound):
        store.get_with(cid, bytes)


def test_get_with_propagates_errors_from_use(store):
    data = blob(7, 1000)
    cid = store.post(data)
    store.flush()

    class Boom(Exception):
        pass

    def use(b):
        raise Boom

    with pytest.raises(Boom):
        store.get_with(cid, use)
    assert store.get_with(cid, bytes) == data  # the store is still fine afterwards


def test_get_with_many_blobs_pending_and_flushed(store):
    """Mapped packs grow: blobs appended after a pack was first mapped are still found."""
    datas = [blob(100 + i, 37 * i) for i in range(60)]
    cids = [store.post(d) for d in datas]
    store.flush()
    assert store.get_with(cids[-1], bytes) == datas[-1]  # maps the pack as it is now
    more = [blob(200 + i, 51 * i + 1) for i in range(20)]  # pending ones, past that mapping
    cids += [store.post(d) for d in more]
    datas += more
    order = list(range(len(cids)))
    random.Random(1).shuffle(order)
    for i in order:
        assert store.get_with(cids[i], bytes) == datas[i], i
    store.flush()
    for i in order:
        assert store.get_with(cids[i], bytes) == datas[i], i


def test_get_with_threads(store):
    datas = [blob(300 + i, 1000 + 97 * i) for i in range(40)]
    cids = [store.post(d) for d in datas]
    store.flush()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            rng = random.Random(t)
            for _ in range(200):
                i = rng.randrange(len(cids))
                assert store.get_with(cids[i], bytes) == datas[i]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


# -- hint --------------------------------------------------------------------------------------


def test_hint_is_harmless_and_reads_stay_right(store):
    flushed = {store.post(blob(400 + i, 500 + i)): blob(400 + i, 500 + i) for i in range(30)}
    store.flush()
    pending = {store.post(blob(500 + i, 700 + i)): blob(500 + i, 700 + i) for i in range(10)}
    absent = [missing_cid(9)]
    store.hint(list(flushed) + list(pending) + absent)
    store.hint([])
    for cid, data in {**flushed, **pending}.items():
        assert store.get(cid) == data
        assert store.get_with(cid, bytes) == data  # after the hint was used up
    with pytest.raises(BlobNotFound):
        store.get(absent[0])


def test_hint_then_delete_is_not_found(store):
    cid = store.post(blob(600, 900))
    store.flush()
    store.hint([cid])
    store.delete([cid])
    with pytest.raises(BlobNotFound):
        store.get(cid)
