"""Bad input and damaged storage give named errors, never tracebacks from the internals."""

import pytest

from gotkv import Batch, MAX_KEY_SIZE, MAX_VALUE_SIZE, Root
from gotkv.errors import BlobNotFound, CorruptNode, IntegrityError, InvalidInput, InvalidKey, InvalidRef, InvalidValue

from .conftest import make_kv


def test_oversized_key_and_value_are_refused(kv):
    with pytest.raises(InvalidKey, match="at most 4096"):
        Batch().put(b"k" * (MAX_KEY_SIZE + 1), b"")
    with pytest.raises(InvalidValue):
        Batch().put(b"k", b"v" * (MAX_VALUE_SIZE + 1))
    with pytest.raises(InvalidKey):
        Batch().put("text", b"")
    Batch().put(b"k" * MAX_KEY_SIZE, b"v" * MAX_VALUE_SIZE)  # the limits themselves are fine


def test_build_checks_entries_as_put_does(kv):
    with pytest.raises(InvalidKey, match="at most 4096"):
        kv.build([(b"a", b""), (b"k" * (MAX_KEY_SIZE + 1), b"")])
    with pytest.raises(InvalidValue):
        kv.build([(b"k", b"v" * (MAX_VALUE_SIZE + 1))])
    with pytest.raises(InvalidKey):
        kv.build([("text", b"")])
    with pytest.raises(InvalidValue):
        kv.build([(b"k", 5)])
    root = kv.build([(bytearray(b"a"), bytearray(b"1")), (memoryview(b"b").tobytes(), b"2")])
    assert list(kv.iterate(root)) == [(b"a", b"1"), (b"b", b"2")]
    assert all(type(k) is bytes and type(v) is bytes for k, v in kv.iterate(root))


def test_largest_entries_build_and_read(kv):
    big = [(bytes([i]) * MAX_KEY_SIZE, bytes([i]) * MAX_VALUE_SIZE) for i in range(1, 6)]
    root = kv.build(big)
    assert list(kv.iterate(root)) == big
    kv.check(root)


def test_unsorted_build_is_refused(kv):
    with pytest.raises(InvalidInput, match="out of order"):
        kv.build([(b"b", b""), (b"a", b"")])
    with pytest.raises(InvalidInput, match="out of order"):
        kv.build([(b"a", b""), (b"a", b"")])


def test_root_text_round_trip_and_bad_text(kv):
    root = kv.build([(b"%03d" % i, b"x") for i in range(100)])
    assert Root.parse(str(root)) == root
    with pytest.raises(InvalidRef):
        Root.parse("zz")
    with pytest.raises(InvalidRef):
        Root.parse("00" * 10)


def test_corrupt_node_blob_names_the_ref(kv):
    root = kv.build([(b"%05d" % i, b"x" * 20) for i in range(2000)])
    kv.nodes.cache.clear()
    store = kv.store
    cid = root.ref.cid
    data = bytearray(store._blobs[cid])
    data[len(data) // 2] ^= 0x01
    store._blobs[cid] = bytes(data)
    with pytest.raises(IntegrityError, match=root.ref.short()):
        kv.get(root, b"00001")


def test_missing_node_blob(kv):
    root = kv.build([(b"%05d" % i, b"x" * 20) for i in range(2000)])
    kv.nodes.cache.clear()
    kv.store.delete([root.ref.cid])
    with pytest.raises(BlobNotFound, match=root.ref.cid.hex()):
        list(kv.iterate(root))


def test_check_finds_a_misplaced_cut():
    """A tree whose node boundaries are not the content-defined ones fails check_tree."""
    from gotkv.node import Node
    kv = make_kv()
    entries = [(b"%05d" % i, b"x" * 20) for i in range(200)]
    # Hand-build two leaves split at an arbitrary place, and an index root over them.
    left = kv.nodes.save(Node(0, [k for k, _ in entries[:100]], [v for _, v in entries[:100]]))
    right = kv.nodes.save(Node(0, [k for k, _ in entries[100:]], [v for _, v in entries[100:]]))
    top = kv.nodes.save(Node(1, [entries[0][0], entries[100][0]], [left.to_bytes(), right.to_bytes()]))
    with pytest.raises(CorruptNode):
        kv.check(Root(top, 1))
