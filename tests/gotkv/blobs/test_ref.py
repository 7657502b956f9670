"""Ref: binary and text forms, validation, and value semantics."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gotkv.blobs.ref import CID_SIZE, KEY_SIZE, Ref
from gotkv.errors import GotError, InvalidInput, InvalidRef

cids = st.binary(min_size=CID_SIZE, max_size=CID_SIZE)
keys = st.one_of(st.just(b""), st.binary(min_size=KEY_SIZE, max_size=KEY_SIZE))
refs = st.builds(Ref, cids, keys)

CID = bytes(range(32))
KEY = bytes(range(100, 132))


@given(refs)
def test_bytes_round_trip(ref):
    raw = ref.to_bytes()
    assert len(raw) == (CID_SIZE if not ref.key else CID_SIZE + KEY_SIZE)
    assert raw[:CID_SIZE] == ref.cid and raw[CID_SIZE:] == ref.key
    assert Ref.from_bytes(raw) == ref


@given(refs)
def test_text_round_trip(ref):
    text = str(ref)
    assert text == ref.to_bytes().hex()  # lowercase hex of the binary form
    assert len(text) in (64, 128)
    assert Ref.parse(text) == ref
    assert Ref.parse(f"  {text}\n") == ref  # surrounding whitespace (a pasted line) is fine


def test_short_form_without_key():
    ref = Ref(CID)
    assert ref.key == b""
    assert ref.to_bytes() == CID
    assert str(ref) == CID.hex()
    assert Ref.parse(CID.hex()) == ref
    assert ref.short() == CID.hex()[:12]


def test_long_form_with_key():
    ref = Ref(CID, KEY)
    assert ref.to_bytes() == CID + KEY
    assert str(ref) == CID.hex() + KEY.hex()
    assert Ref.parse(CID.hex() + KEY.hex()) == ref
    assert Ref.from_bytes(CID + KEY).key == KEY
    assert ref.short() == CID.hex()[:12]  # names the content id, never the key


def test_key_matters_for_equality():
    assert Ref(CID) != Ref(CID, KEY)
    assert Ref(CID, KEY) != Ref(CID, bytes(32))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ab",
        CID.hex()[:-2],  # 31 bytes
        CID.hex() + "ab",  # 33 bytes
        CID.hex() + KEY.hex()[:-2],  # 63 bytes
        CID.hex() + KEY.hex() + "ab",  # 65 bytes
        CID.hex() * 3,  # 96 bytes
        CID.hex()[:-1],  # odd number of digits
        "zz" * 32,  # not hex
        CID.hex()[:-2] + "g0",
        "0x" + CID.hex()[2:],
    ],
)
def test_parse_rejects_malformed_text(text):
    with pytest.raises(InvalidRef) as info:
        Ref.parse(text)
    message = str(info.value)
    assert "not a ref" in message
    assert "64 or 128 hex digits" in message
    assert repr(text)[:40] in message  # the bad text is named


@pytest.mark.parametrize("value", [None, 123, bytes(32), CID.hex().encode()], ids=["none", "int", "bytes", "hex-bytes"])
def test_parse_rejects_non_text(value):
    with pytest.raises(InvalidRef, match="not a ref"):
        Ref.parse(value)


def test_parse_message_is_bounded_for_huge_input():
    with pytest.raises(InvalidRef) as info:
        Ref.parse("q" * 100_000)
    assert len(str(info.value)) < 300


def test_invalid_ref_is_a_got_error():
    with pytest.raises(InvalidRef) as info:
        Ref.parse("nope")
    err = info.value
    assert isinstance(err, InvalidInput) and isinstance(err, GotError) and isinstance(err, ValueError)
    assert err.exit_code == 2


@pytest.mark.parametrize("n", [0, 1, 31, 33, 63, 65, 96])
def test_from_bytes_rejects_other_lengths(n):
    with pytest.raises(InvalidRef, match=f"got {n}"):
        Ref.from_bytes(bytes(n))


@pytest.mark.parametrize(
    "cid,key",
    [
        (b"", b""),
        (bytes(31), b""),
        (bytes(33), b""),
        (CID.hex(), b""),  # text where bytes belong
        (bytearray(CID), b""),
        (CID, bytes(16)),
        (CID, bytes(33)),
        (CID, KEY.hex()),
        (None, b""),
    ],
)
def test_constructor_validates(cid, key):
    with pytest.raises(InvalidRef):
        Ref(cid, key)


def test_frozen():
    ref = Ref(CID, KEY)
    with pytest.raises(AttributeError):
        ref.cid = bytes(32)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ref.key = b""  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        ref.extra = 1  # type: ignore[attr-defined]  # slots: no stray attributes
    assert ref.cid == CID and ref.key == KEY


@given(refs)
def test_hashable_and_equal_by_value(ref):
    twin = Ref(bytes(ref.cid), bytes(ref.key))
    assert twin == ref and twin is not ref
    assert hash(twin) == hash(ref)
    assert len({ref, twin}) == 1
    assert {ref: 1}[twin] == 1
    assert Ref.parse(str(ref)) in {ref}
