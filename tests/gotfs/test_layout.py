"""The exact GotFS key layout and value formats.

    /                                  -> Info (dir)
    /a/                                -> Info (dir)
    /a/f.txt/                          -> Info (file)
    /a/f.txt/<NUL><BE64 end offset>    -> Extent

Info keys end in '/' and hold no NUL; an extent key is its file's Info key + NUL + the
big-endian u64 offset where the extent ENDS, so the extent holding byte `off` is the first key
>= extent_key(path, off + 1). A directory's subtree is one contiguous key span. Info and Extent
have canonical bytes (pinned here as golden vectors), and decoding garbage raises CorruptNode.
"""

from __future__ import annotations

import random
import stat
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gotfs import keys
from gotfs.extent import Extent
from gotfs.info import SPECIAL, Info, Kind
from gotkv import Span
from gotkv.blobs.ref import Ref
from gotkv.errors import CorruptNode, InvalidInput

from .conftest import extents_of, make_fs, rand_bytes


def entries(fs, root):
    return list(fs.kv.iterate(root, Span()))


# -- keys ----------------------------------------------------------------------------------

def test_key_functions():
    assert keys.info_key(()) == b"/"
    assert keys.info_key((b"a",)) == b"/a/"
    assert keys.info_key((b"a", b"f.txt")) == b"/a/f.txt/"
    assert keys.extent_key((b"a", b"f.txt"), 10) == b"/a/f.txt/\x00\x00\x00\x00\x00\x00\x00\x00\x0a"
    assert keys.extent_key((), 1 << 40) == b"/\x00" + (1 << 40).to_bytes(8, "big")
    k = keys.extent_key((b"a", b"f.txt"), 0x0102030405060708)
    assert k.count(b"\x00") == 1 and k.index(b"\x00") == len(k) - 9
    assert keys.extent_end(k) == 0x0102030405060708
    assert keys.is_extent_key(k) and not keys.is_extent_key(b"/a/f.txt/")
    assert keys.path_of(k) == (b"a", b"f.txt") and keys.path_of(b"/a/f.txt/") == (b"a", b"f.txt")
    assert keys.path_of(b"/") == () and keys.path_of(keys.extent_key((), 5)) == ()


@given(st.lists(st.binary(min_size=1, max_size=8).filter(lambda b: b"/" not in b and b"\x00" not in b),
                max_size=4).map(tuple), st.integers(0, (1 << 64) - 1))
def test_key_round_trip(path, end):
    k = keys.extent_key(path, end)
    assert keys.path_of(k) == path and keys.extent_end(k) == end and keys.is_extent_key(k)
    assert k.startswith(keys.info_key(path)) and k in keys.subtree_span(path)
    assert keys.path_of(keys.info_key(path)) == path and not keys.is_extent_key(keys.info_key(path))


def test_exact_keys_and_values_of_a_small_tree():
    fs = make_fs()
    r = fs.new()
    assert entries(fs, r) == [(b"/", Info.dir(0o755).to_bytes())]
    r = fs.mkdir(r, "a", 0o700)
    r = fs.write_file(r, "a/f.txt", b"0123456789", mode=0o640)
    got = entries(fs, r)
    assert [k for k, _ in got] == [b"/", b"/a/", b"/a/f.txt/", b"/a/f.txt/\x00" + struct.pack(">Q", 10)]
    assert Info.from_bytes(got[1][1]) == Info.dir(0o700)
    assert Info.from_bytes(got[2][1]) == Info.file(0o640, 10)
    e = Extent.from_bytes(got[3][1])
    assert e.length == 10 and bytes(fs.data.read_extent(e)) == b"0123456789"
    # a symlink and an empty file are an Info and nothing else
    r = fs.symlink(r, "a/l", "f.txt")
    r = fs.create(r, "a/empty")
    assert [k for k, _ in entries(fs, r)] == [b"/", b"/a/", b"/a/empty/", b"/a/f.txt/",
                                              b"/a/f.txt/\x00" + struct.pack(">Q", 10), b"/a/l/"]


def test_extent_keys_hold_end_offsets_and_seek_finds_the_extent():
    fs = make_fs()
    data = rand_bytes(7, 300_000)
    r = fs.write_file(fs.mkdir(fs.new(), "d"), "d/f", data)
    ext = extents_of(fs, r, "d/f")
    assert len(ext) > 10, "small chunks should give many extents"
    # extents tile the file: each starts where the previous ended, the last ends at the size
    assert ext[0][0] == 0 and ext[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ext, ext[1:]))
    for start, end, e in ext:
        assert bytes(fs.data.read_extent(e)) == data[start:end]
    rng = random.Random(1)
    path = (b"d", b"f")
    for off in [0, 1, len(data) - 1] + [s for s, _, _ in ext] + [e - 1 for _, e, _ in ext] + \
            [rng.randrange(len(data)) for _ in range(50)]:
        k, v = fs.kv.seek(r, keys.extent_key(path, off + 1))
        end = keys.extent_end(k)
        e = Extent.from_bytes(v)
        assert keys.path_of(k) == path and end - e.length <= off < end
        assert fs.data.read_extent(e)[off - (end - e.length)] == data[off]
    # past the last byte the seek leaves the file's extents
    nxt = fs.kv.seek(r, keys.extent_key(path, len(data) + 1))
    assert nxt is None or keys.path_of(nxt[0]) != path


def test_holes_have_no_extents():
    fs = make_fs()
    r = fs.write_at(fs.create(fs.new(), "f"), "f", 100_000, b"xyz")
    r = fs.truncate(r, "f", 200_000)
    ext = extents_of(fs, r, "f")
    assert ext[0][0] == 100_000 and ext[-1][1] == 100_003
    assert fs.stat(r, "f").size == 200_000


def test_subtree_is_one_contiguous_span():
    fs = make_fs()
    r = fs.new()
    for d in ["a", "a/b", "a/b-c", "a/b/x", "a/b0", "a/b.", "a/b/x/y", "a-b", "ab"]:
        r = fs.mkdir(r, d)
    for f in ["a/b/f", "a/b-c/f", "a/b/x/g", "a/b0/h", "a/b!"]:
        r = fs.write_file(r, f, rand_bytes(len(f), 20_000))
    all_keys = [k for k, _ in entries(fs, r)]
    # "/a/b-c/" sorts before "/a/b/" ('-' < '/') and is not inside it
    assert all_keys.index(b"/a/b-c/") < all_keys.index(b"/a/b/")
    for d in ["a", "a/b", "a/b-c", "a/b/x", "a/b0", "ab", ""]:
        p = keys.parse_path(d)
        span = keys.subtree_span(p)
        inside = [i for i, k in enumerate(all_keys) if k in span]
        assert inside == list(range(inside[0], inside[-1] + 1)), f"{d!r} is not contiguous"
        expected = [k for k in all_keys if keys.path_of(k)[:len(p)] == p]
        assert [all_keys[i] for i in inside] == expected
        assert [k for k, _ in fs.kv.iterate(r, span)] == expected
    assert [n for n, _ in fs.listdir(r, "a/b")] == ["f", "x"]
    # removing a directory takes exactly its span
    r2 = fs.remove(r, "a/b", recursive=True)
    assert [k for k, _ in entries(fs, r2)] == [k for k in all_keys if keys.path_of(k)[:2] != (b"a", b"b")]


# -- Info ------------------------------------------------------------------------------------

xattr_lists = st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=50)), max_size=5,
                       unique_by=lambda t: t[0])


times = st.one_of(st.none(), st.integers(-(1 << 63), (1 << 63) - 1))


@st.composite
def infos(draw):
    kind = draw(st.sampled_from(list(Kind)))
    target = draw(st.binary(min_size=1, max_size=100)) if kind == Kind.SYMLINK else b""
    size = 0 if kind in SPECIAL else draw(st.integers(0, (1 << 63) - 1))
    owner = draw(st.one_of(st.none(), st.tuples(st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1))))
    rdev = draw(st.integers(0, (1 << 64) - 1)) if kind in (Kind.CHAR_DEVICE, Kind.BLOCK_DEVICE) else 0
    return Info(kind, draw(st.integers(0, 0o7777)), size, target, tuple(draw(xattr_lists)), draw(times),
                *(owner or (None, None)), draw(times), draw(times), rdev)


@settings(max_examples=300)
@given(infos())
def test_info_round_trip(info):
    raw = info.to_bytes()
    back = Info.from_bytes(raw)
    assert back == info and back.to_bytes() == raw
    # every proper prefix is malformed, and so is any trailing byte
    for cut in {0, 1, len(raw) // 2, len(raw) - 1}:
        with pytest.raises(CorruptNode):
            Info.from_bytes(raw[:cut])
    with pytest.raises(CorruptNode):
        Info.from_bytes(raw + b"\x00")


@settings(max_examples=300)
@given(infos(), infos(), st.sets(st.sampled_from(Info.__slots__)))
def test_info_with_is_replace(a, b, names):
    """with_ builds the copy by position (it is on every request of a writable mount): it
    must agree with Value.replace field by field, errors included."""
    changes = {n: getattr(b, n) for n in names}
    try:
        expected = a.replace(**changes)
    except InvalidInput:
        with pytest.raises(InvalidInput):
            a.with_(**changes)
        return
    assert a.with_(**changes) == expected
    with pytest.raises(TypeError):
        a.with_(colour=1)


@pytest.mark.parametrize("kind", [0, 8, 255])
def test_info_of_an_unknown_kind_is_corrupt(kind):
    raw = bytearray(Info.file(0o644, 0).to_bytes())
    raw[1] = kind
    with pytest.raises(CorruptNode):
        Info.from_bytes(bytes(raw))


@given(xattr_lists, st.randoms(use_true_random=False))
def test_xattrs_sorted_whatever_the_input_order(xattrs, rnd):
    shuffled = list(xattrs)
    rnd.shuffle(shuffled)
    a = Info.file(0o644, 3, xattrs=tuple(xattrs))
    b = Info.file(0o644, 3, xattrs=tuple(shuffled))
    assert a == b and a.to_bytes() == b.to_bytes()
    assert [n for n, _ in a.xattrs] == sorted(n for n, _ in xattrs)


def test_xattrs_set_through_fs_are_sorted():
    fs = make_fs()
    r = fs.write_file(fs.new(), "f", b"x")
    for name in [b"user.z", b"user.a", b"security.m", b"user.a"]:
        r = fs.set_xattr(r, "f", name, name[::-1])
    info = fs.stat(r, "f")
    assert info.xattrs == ((b"security.m", b"m.ytiruces"), (b"user.a", b"a.resu"), (b"user.z", b"z.resu"))
    r2 = fs.remove_xattr(r, "f", b"user.a")
    assert fs.stat(r2, "f").xattr(b"user.a") is None and fs.stat(r, "f").xattr(b"user.a") == b"a.resu"


def test_info_golden_bytes():
    # u8 version | u8 type | u32 mode | u64 size | u8 flags | [i64 mtime] | u16 tlen | target
    # | u16 count | (u8 nlen | name | u32 vlen | value)*, little endian
    assert Info.dir(0o755).to_bytes() == bytes.fromhex(
        "01" "01" "ed010000" "0000000000000000" "00" "0000" "0000")
    f = Info.file(0o644, 10, xattrs=((b"user.b", b"2"), (b"user.a", b"1")), mtime_ns=1)
    assert f.to_bytes() == bytes.fromhex(
        "01" "02" "a4010000" "0a00000000000000" "01" "0100000000000000" "0000" "0200"
        "06" + b"user.a".hex() + "01000000" "31"
        "06" + b"user.b".hex() + "01000000" "32")
    link = Info.symlink(b"../t")
    assert link.to_bytes() == bytes.fromhex(
        "01" "03" "ff010000" "0400000000000000" "00" "0400" + b"../t".hex() + "0000")
    for info in (Info.dir(0o755), f, link):
        assert Info.from_bytes(info.to_bytes()) == info


def test_info_version_2_golden_bytes():
    # version 2 only when a version-2 field or kind is present; the extras follow the mtime
    # in flag order: u32 uid, u32 gid (2) | i64 atime (4) | i64 ctime (8) | u64 rdev (16)
    f = Info.file(0o600, 0, mtime_ns=5, uid=1000, gid=100, atime_ns=3, ctime_ns=7)
    assert f.to_bytes() == bytes.fromhex(
        "02" "02" "80010000" "0000000000000000" "0f" "0500000000000000" "e8030000" "64000000"
        "0300000000000000" "0700000000000000" "0000" "0000")
    dev = Info.special(stat.S_IFCHR | 0o620, rdev=0x0501)
    assert dev.kind == Kind.CHAR_DEVICE and dev.st_mode() == stat.S_IFCHR | 0o620
    assert dev.to_bytes() == bytes.fromhex("02" "06" "90010000" "0000000000000000" "10" "0105000000000000"
                                           "0000" "0000")
    fifo = Info.special(stat.S_IFIFO | 0o644)
    assert fifo.to_bytes() == bytes.fromhex("02" "04" "a4010000" "0000000000000000" "00" "0000" "0000")
    for info in (f, dev, fifo):
        assert Info.from_bytes(info.to_bytes()) == info


def test_info_without_new_fields_keeps_version_1_bytes_and_roots():
    """Trees made before version 2 decode, and re-encode to the same bytes: same roots."""
    old = bytes.fromhex("01" "02" "a4010000" "0a00000000000000" "01" "0100000000000000" "0000" "0000")
    info = Info.from_bytes(old)
    assert info == Info.file(0o644, 10, mtime_ns=1) and info.to_bytes() == old
    # times equal to the mtime say nothing: dropped, so the bytes stay version 1
    assert Info.file(0o644, 10, mtime_ns=1, atime_ns=1, ctime_ns=1).to_bytes() == old
    fs = make_fs()
    r = fs.write_file(fs.new(), "f", b"x")
    assert fs.kv.get(r, keys.info_key((b"f",)))[0] == 1


def test_info_non_canonical_or_unknown_is_corrupt():
    v1 = Info.file(0o644, 10, mtime_ns=1).to_bytes()
    for bad in (b"\x03" + v1[1:],  # unknown version
                v1[:1] + b"\x04" + v1[2:],  # a FIFO in version 1
                b"\x02" + v1[1:],  # version 2 that says nothing version 1 cannot
                v1[:14] + b"\x20" + v1[15:]):  # an unknown flag
        with pytest.raises(CorruptNode):
            Info.from_bytes(bad)
    twice = Info.file(0o644, 0, mtime_ns=1, ctime_ns=2).to_bytes()
    for ctime in (1, 0):  # a ctime not after the mtime has one encoding: none
        with pytest.raises(CorruptNode):
            Info.from_bytes(twice[:23] + ctime.to_bytes(8, "little", signed=True) + twice[31:])
    assert Info.file(0o644, 0, mtime_ns=5, ctime_ns=4) == Info.file(0o644, 0, mtime_ns=5)
    for bad in (dict(kind=Kind.FIFO, size=1), dict(kind=Kind.FILE, rdev=1), dict(kind=Kind.FILE, uid=1)):
        with pytest.raises(InvalidInput):
            Info(**bad)


def test_extent_golden_bytes():
    ref = Ref(bytes(range(32)))
    e = Extent(ref, 5, 10)
    assert e.to_bytes() == bytes.fromhex("05000000" "0a000000") + bytes(range(32))
    keyed = Extent(Ref(bytes(range(32)), bytes(range(32, 64))), 0x01020304, 7)
    assert keyed.to_bytes() == bytes.fromhex("04030201" "07000000") + bytes(range(64))
    assert Extent.from_bytes(e.to_bytes()) == e and Extent.from_bytes(keyed.to_bytes()) == keyed
    assert e.trimmed(2, 3) == Extent(ref, 7, 3)


def test_invalid_values_are_refused():
    with pytest.raises(InvalidInput):
        Info.file(0o170644)  # type bits are not mode bits
    with pytest.raises(InvalidInput):
        Info.file(0o644, target=b"x")
    with pytest.raises(InvalidInput):
        Info.file(0o644, -1)
    with pytest.raises(InvalidInput):
        Info.file(xattrs=((b"", b"v"),))
    with pytest.raises(InvalidInput):
        Extent(Ref(bytes(32)), 0, 0)


# -- garbage -------------------------------------------------------------------------------

@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=80), infos().map(lambda i: i.to_bytes()).flatmap(
    lambda raw: st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)).map(
        lambda t: raw[:t[0]] + bytes([t[1]]) + raw[t[0] + 1:]))))
def test_info_garbage_raises_corrupt_node(raw):
    try:
        info = Info.from_bytes(raw)
    except CorruptNode:
        return
    assert isinstance(info, Info)


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=100), st.binary(min_size=40, max_size=40), st.binary(min_size=72, max_size=72)))
def test_extent_garbage_raises_corrupt_node(raw):
    try:
        e = Extent.from_bytes(raw)
    except CorruptNode:
        return
    assert e.to_bytes() == raw


@pytest.mark.parametrize("raw", [b"", b"\x01", b"\x02" + bytes(16), b"\x01\x09" + bytes(16),  # bad version, bad kind
                                 b"\x01\x01" + b"\xff\xff\x00\x00" + bytes(12),  # mode beyond 0o7777
                                 Info.dir().to_bytes()[:-1], Info.symlink(b"abc").to_bytes()[:-3]])
def test_info_specific_garbage(raw):
    with pytest.raises(CorruptNode):
        Info.from_bytes(raw)


@pytest.mark.parametrize("raw", [bytes(40), bytes(72), b"\x00" * 39, b"\xff" * 40,
                                 struct.pack("<II", 0xFFFFFFFF, 2) + bytes(32)])
def test_extent_specific_garbage(raw):
    with pytest.raises(CorruptNode):
        Extent.from_bytes(raw)


def test_a_decoded_encoding_is_remembered_and_a_bad_one_still_fails():
    """Info.from_bytes answers an encoding it decoded before with the same (immutable) Info;
    long encodings are not kept; a malformed one raises every time."""
    raw = Info.file(0o600, 12, mtime_ns=1_700_000_000_000_000_000).to_bytes()
    first = Info.from_bytes(raw)
    assert Info.from_bytes(bytes(bytearray(raw))) is first  # an equal encoding, another object
    big = Info.file(xattrs=((b"user.big", b"v" * 4000),)).to_bytes()
    assert Info.from_bytes(big) == Info.from_bytes(big) and Info.from_bytes(big) is not Info.from_bytes(big)
    for _ in range(2):
        with pytest.raises(CorruptNode):
            Info.from_bytes(raw + b"\x00")


def test_an_info_a_transaction_stores_is_read_back_without_a_parse(monkeypatch):
    """Tx.put_info enters the encoding in from_bytes's table: the next Tx.info answers the
    stored Info itself; one with fields of other types than a parse gives is parsed as before."""
    from gotfs.tx import Tx

    fs = make_fs()
    tx = Tx(fs, fs.new())
    parses = []
    real = Info._parse.__func__
    monkeypatch.setattr(Info, "_parse", classmethod(lambda cls, data: parses.append(data) or real(cls, data)))
    stored = Info.file(0o640, 3, mtime_ns=1_234_567_891_011_121_314, ctime_ns=1_234_567_891_011_121_999)
    tx.put_info((b"f",), stored)
    assert tx.info((b"f",)) is stored and parses == []
    listed = Info.file(xattrs=[(b"user.a", b"1")], mtime_ns=1_234_567_891_011_121_315)
    tx.put_info((b"g",), listed)
    back = tx.info((b"g",))
    assert back == Info.file(xattrs=((b"user.a", b"1"),), mtime_ns=1_234_567_891_011_121_315)
    assert back.xattrs.__class__ is tuple and len(parses) == 1
