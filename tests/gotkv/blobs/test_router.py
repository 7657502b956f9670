"""StoreRouter: reads fall back from store to store; writes go to the first.

(The Store contract itself is checked by test_store_conformance.py, "router".)
"""

import pytest

from gotkv.blobs import router as router_module
from gotkv.blobs.codec import content_id
from gotkv.blobs.memory import MemoryStore
from gotkv.blobs.remote.objects import RemoteError
from gotkv.blobs.router import StoreRouter
from gotkv.errors import BlobNotFound, IntegrityError


class Recording(MemoryStore):
    """A MemoryStore that records the calls the router makes, and can be made to fail."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.broken: type[Exception] | None = None
        self.calls: list[tuple[str, tuple]] = []
        self.closed = False

    def _maybe_fail(self):
        if self.broken is RemoteError:
            raise RemoteError(f"{self.name}: connection refused")
        if self.broken is IntegrityError:
            raise IntegrityError(f"blob from {self.name}", "content hash does not match its id")

    def get(self, cid):
        self.calls.append(("get", (cid,)))
        self._maybe_fail()
        return super().get(cid)

    def get_with(self, cid, use):
        self.calls.append(("get_with", (cid,)))
        self._maybe_fail()
        return super().get_with(cid, use)

    def get_many(self, cids):
        cids = list(cids)
        self.calls.append(("get_many", tuple(cids)))
        self._maybe_fail()
        return {c: super(Recording, self).get(c) for c in cids}

    def hint(self, cids):
        self.calls.append(("hint", tuple(cids)))

    def close(self):
        self.closed = True

    def called(self, name):
        return [args for n, args in self.calls if n == name]


@pytest.fixture
def pair():
    a, b = Recording("a"), Recording("b")
    return a, b, StoreRouter([a, b])


def test_first_lacks_the_blob(pair):
    a, b, r = pair
    cid = b.post(b"only in b")
    assert r.get(cid) == b"only in b"
    assert r.get_with(cid, bytes) == b"only in b"
    assert r.get_many([cid]) == {cid: b"only in b"}
    assert a.called("get_with") == [(cid,)] and b.called("get_with") == [(cid,)]
    assert a.called("get_many") == [] and b.called("get_many") == [(cid,)]  # a said it lacks it
    assert r.fallbacks == 3


def test_first_holds_it_second_is_never_asked(pair):
    a, b, r = pair
    cid = a.post(b"in a")
    b.post(b"in a")
    assert r.get(cid) == b"in a" and r.get_with(cid, len) == 4 and r.get_many([cid]) == {cid: b"in a"}
    assert b.calls == [] and r.fallbacks == 0


def test_first_unreachable_falls_back_and_is_tried_last(pair, monkeypatch):
    a, b, r = pair
    x, y = a.post(b"x"), b.post(b"y")
    b.post(b"x")
    a.broken = RemoteError
    assert r.get(x) == b"x"  # a failed; b has a copy
    assert len(a.called("get")) == 1
    assert r.get(y) == b"y"  # b is asked first now: a is not tried at all
    assert len(a.called("get")) == 1
    # once DOWN_FOR has passed, a leads again
    a.broken = None
    monkeypatch.setattr(router_module, "DOWN_FOR", 0.0)
    r._down = {0: 0.0}
    assert r.get(x) == b"x" and len(a.called("get")) == 2 and r._down == {}


def test_damaged_copy_falls_back(pair):
    a, b, r = pair
    cid = a.post(b"data")
    b.post(b"data")
    a.broken = IntegrityError
    assert r.get_with(cid, bytes) == b"data"


def test_all_lack_it_raises_the_first_stores_not_found(pair):
    a, b, r = pair
    cid = content_id(b"nowhere")
    for read in (r.get, lambda c: r.get_with(c, bytes), lambda c: r.get_many([c])):
        with pytest.raises(BlobNotFound) as info:
            read(cid)
        assert info.value.cid == cid and "memory store" in str(info.value)


def test_unreachable_and_absent_elsewhere_reports_the_failure(pair):
    """The blob may be on the store that did not answer: 'not found' would mislead."""
    a, b, r = pair
    cid = content_id(b"maybe in a")
    a.broken = RemoteError
    with pytest.raises(RemoteError, match="a: connection refused"):
        r.get(cid)
    with pytest.raises(RemoteError):
        r.get_many([cid])


def test_errors_from_use_are_not_retried_elsewhere(pair):
    a, b, r = pair
    cid = a.post(b"data")
    b.post(b"data")

    def use(data):
        raise BlobNotFound(b"\0" * 32, "a decoder")  # an error a fallback would otherwise catch

    with pytest.raises(BlobNotFound, match="a decoder"):
        r.get_with(cid, use)
    assert b.calls == []


def test_get_many_asks_each_store_once_for_what_it_holds(pair):
    a, b, r = pair
    in_a = [a.post(b"a%d" % i) for i in range(5)]
    in_b = [b.post(b"b%d" % i) for i in range(5)]
    both = in_a + in_b
    got = r.get_many(reversed(both))
    assert got == {c: (a if c in in_a else b).get(c) for c in both}
    assert a.called("get_many") == [tuple(reversed(in_a))]
    assert b.called("get_many") == [tuple(reversed(in_b))]


def test_get_many_with_one_missing_names_it(pair):
    a, b, r = pair
    x = a.post(b"x")
    missing = content_id(b"missing")
    with pytest.raises(BlobNotFound) as info:
        r.get_many([x, missing])
    assert info.value.cid == missing


def test_get_many_first_unreachable(pair):
    a, b, r = pair
    cids = [a.post(b"%d" % i) for i in range(4)]
    for i in range(4):
        b.post(b"%d" % i)
    a.broken = RemoteError
    assert r.get_many(cids) == {c: b"%d" % i for i, c in enumerate(cids)}


def test_hint_sends_each_store_only_what_earlier_ones_lack(pair):
    a, b, r = pair
    in_a = [a.post(b"a%d" % i) for i in range(3)]
    in_b = [b.post(b"b%d" % i) for i in range(3)]
    r.hint(in_a + in_b)
    assert a.called("hint") == [tuple(in_a + in_b)]
    assert b.called("hint") == [tuple(in_b)]  # a remote never prefetches what is local
    r.hint(in_a)
    assert len(b.called("hint")) == 1


def test_writes_go_to_the_first(pair):
    a, b, r = pair
    cid = r.post(b"new")
    assert a.exists([cid]) == {cid} and b.exists([cid]) == set()
    shared = b.post(b"shared")
    a.post(b"shared")
    assert r.delete([shared]) == 1
    assert b.exists([shared]) == {shared}  # never deleted from a later store
    assert r.get(shared) == b"shared"


def test_exists_list_sizes_are_the_union(pair):
    a, b, r = pair
    x, y = a.post(b"x"), b.post(b"yy")
    b.post(b"x")
    missing = content_id(b"none")
    assert r.exists([x, y, missing]) == {x, y}
    assert sorted(r.list()) == sorted([x, y])
    assert r.stored_size(y) == 2 and r.stored_size(missing) is None
    assert r.where(x) is None


def test_where_is_the_first_known_place():
    class Placed(MemoryStore):
        def where(self, cid):
            return ("/packs/1", 0, len(self.get(cid))) if cid in self._blobs else None

    a, b = MemoryStore(), Placed()
    cid = b.post(b"placed")
    assert StoreRouter([a, b]).where(cid) == ("/packs/1", 0, 6)


def test_close_closes_every_store_it_owns(pair):
    a, b, r = pair
    r.close()
    assert a.closed and b.closed
    c, d = Recording("c"), Recording("d")
    StoreRouter([c, d], owns=False).close()
    assert not c.closed and not d.closed


def test_needs_a_store():
    from gotkv.errors import InvalidInput

    with pytest.raises(InvalidInput):
        StoreRouter([])
