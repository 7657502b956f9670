"""Codec: deterministic sealing, round trips, compression, and verify-on-read."""

import os
import random

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gotkv.blobs.codec import CIPHERS, MAX_PLAINTEXT, Codec, content_id
from gotkv.blobs.ref import Ref
from gotkv.errors import GotError, IntegrityError, InvalidInput

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
TAG = 16  # AES-256-GCM and ChaCha20-Poly1305 tags alike
FLAG = 1  # body format byte

# Plaintexts: arbitrary bytes (mostly incompressible), repeated patterns (compressible), empty.
plaintexts = st.one_of(
    st.just(b""),
    st.binary(max_size=4096),
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=40), st.integers(1, 3000)),
    st.builds(lambda seed, n: random.Random(seed).randbytes(n), st.integers(0, 2**32), st.integers(0, 70_000)),
)
secrets = st.one_of(st.none(), st.binary(min_size=32, max_size=32))


@pytest.fixture(params=[(None, "aes-256-gcm"), (SECRET, "aes-256-gcm"), (SECRET, "chacha20-poly1305")],
                ids=["plain", "aes-256-gcm", "chacha20-poly1305"])
def codec(request):
    secret, cipher = request.param
    return Codec(secret, cipher=cipher)


# -- determinism -----------------------------------------------------------------------------


@given(plaintexts, secrets)
@settings(max_examples=60, deadline=None)
def test_deterministic(plaintext, secret):
    ref1, stored1 = Codec(secret).encode(plaintext)
    ref2, stored2 = Codec(secret).encode(plaintext)  # a fresh codec: no state carried over
    assert ref1 == ref2 and stored1 == stored2
    assert ref1.cid == content_id(stored1) == blake3.blake3(stored1).digest()


def test_convergent_key():
    plaintext = b"hello, got" * 10
    ref, _ = Codec(SECRET).encode(plaintext)
    assert ref.key == blake3.blake3(plaintext, key=SECRET).digest()
    assert Codec(None).encode(plaintext)[0].key == b""


@given(st.binary(max_size=2048))
@settings(max_examples=30, deadline=None)
def test_different_secret_gives_different_ref(plaintext):
    ref_a, stored_a = Codec(SECRET).encode(plaintext)
    ref_b, stored_b = Codec(OTHER_SECRET).encode(plaintext)
    ref_plain, _ = Codec(None).encode(plaintext)
    assert ref_a.cid != ref_b.cid and ref_a.key != ref_b.key and stored_a != stored_b
    assert ref_plain.cid not in (ref_a.cid, ref_b.cid)


def test_different_plaintext_gives_different_ref(codec):
    assert codec.encode(b"a")[0] != codec.encode(b"b")[0]


def test_encryption_hides_plaintext():
    plaintext = os.urandom(1000)
    _, stored = Codec(SECRET).encode(plaintext)
    assert plaintext[:32] not in stored
    _, stored_plain = Codec(None).encode(plaintext)
    assert plaintext in stored_plain  # sanity: without a secret it is there


# -- round trips -----------------------------------------------------------------------------


@given(plaintexts, secrets)
@settings(max_examples=80, deadline=None)
def test_round_trip(plaintext, secret):
    codec = Codec(secret)
    ref, stored = codec.encode(plaintext)
    assert bool(ref.key) == (secret is not None)
    assert codec.decode(ref, stored) == plaintext
    # the key travels in the ref: any codec of the same repo opens it, even a fresh one
    assert Codec(secret).decode(ref, bytes(stored)) == plaintext


def test_round_trip_memoryview(codec):
    plaintext = b"xyz" * 1000
    ref, stored = codec.encode(memoryview(plaintext))
    assert codec.decode(ref, stored) == plaintext
    assert (ref, stored) == codec.encode(plaintext)


def test_round_trip_max_size(codec):
    plaintext = random.Random(7).randbytes(MAX_PLAINTEXT)
    ref, stored = codec.encode(plaintext)
    assert codec.decode(ref, stored) == plaintext


def test_round_trip_max_size_compressible(codec):
    plaintext = bytes(MAX_PLAINTEXT)
    ref, stored = codec.encode(plaintext)
    assert len(stored) < 10_000
    assert codec.decode(ref, stored) == plaintext


# -- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [b"a" * 100_000, b"the same line, again and again\n" * 3000])
def test_compressible_is_stored_smaller(codec, plaintext):
    _, stored = codec.encode(plaintext)
    assert len(stored) < len(plaintext) // 10


def test_incompressible_is_stored_raw(codec):
    plaintext = random.Random(1).randbytes(50_000)
    _, stored = codec.encode(plaintext)
    overhead = FLAG + (TAG if codec.secret else 0)
    assert len(stored) == len(plaintext) + overhead  # zstd skipped: it would not shrink


def test_empty_plaintext(codec):
    ref, stored = codec.encode(b"")
    assert len(stored) == FLAG + (TAG if codec.secret else 0)
    assert codec.decode(ref, stored) == b""


# -- verify on read --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext", [b"", b"tiny", random.Random(2).randbytes(300), b"squeeze me " * 50], ids=["empty", "tiny", "random", "zstd"]
)
def test_flipping_any_byte_is_detected(codec, plaintext):
    ref, stored = codec.encode(plaintext)
    for i in range(len(stored)):
        for bit in (0x01, 0x80):
            bad = bytearray(stored)
            bad[i] ^= bit
            with pytest.raises(IntegrityError) as info:
                codec.decode(ref, bytes(bad))
            assert ref.short() in str(info.value)
            assert ref.short() in info.value.what


def test_truncated_or_extended_stored_bytes_are_detected(codec):
    ref, stored = codec.encode(b"some plaintext" * 20)
    for bad in (stored[:-1], stored[1:], stored + b"\x00", b""):
        with pytest.raises(IntegrityError, match=ref.short()):
            codec.decode(ref, bad)


def test_tampering_with_recomputed_cid_fails_the_tag():
    """An attacker who can rewrite a blob and its id still cannot forge the AEAD tag."""
    codec = Codec(SECRET)
    ref, stored = codec.encode(b"pay alice 10" * 10)
    bad = bytearray(stored)
    bad[5] ^= 1
    forged = Ref(content_id(bytes(bad)), ref.key)
    with pytest.raises(IntegrityError, match="authentication tag") as info:
        codec.decode(forged, bytes(bad))
    assert forged.short() in str(info.value)


def test_wrong_key_in_ref():
    codec = Codec(SECRET)
    ref, stored = codec.encode(b"secret stuff" * 10)
    other_ref, _ = codec.encode(b"other stuff" * 10)
    for key in (other_ref.key, bytes(32), bytes(b ^ 1 for b in ref.key)):
        with pytest.raises(IntegrityError, match=ref.short()):
            codec.decode(Ref(ref.cid, key), stored)


def test_keyless_ref_in_encrypted_repo():
    codec = Codec(SECRET)
    ref, stored = codec.encode(b"data" * 10)
    with pytest.raises(IntegrityError, match=ref.short()):
        codec.decode(Ref(ref.cid), stored)


def test_ref_for_other_blob():
    codec = Codec(None)
    ref_a, _ = codec.encode(b"a" * 10)
    _, stored_b = codec.encode(b"b" * 10)
    with pytest.raises(IntegrityError, match=ref_a.short()):
        codec.decode(ref_a, stored_b)


@pytest.mark.parametrize("stored", [b"", b"\x02abc", b"\xffhello", b"\x01not a zstd frame"])
def test_bad_body_is_an_integrity_error(stored):
    """Bytes that hash correctly but are not a valid body are still refused, never returned."""
    ref = Ref(content_id(stored))
    with pytest.raises(IntegrityError, match=ref.short()):
        Codec(None).decode(ref, stored)


def test_integrity_error_is_a_got_error(codec):
    ref, stored = codec.encode(b"x")
    with pytest.raises(GotError, match="corrupt"):
        codec.decode(ref, stored + b"!")


# -- bad input -------------------------------------------------------------------------------


def test_oversized_plaintext(codec):
    with pytest.raises(InvalidInput, match=str(MAX_PLAINTEXT)) as info:
        codec.encode(bytes(MAX_PLAINTEXT + 1))
    assert str(MAX_PLAINTEXT + 1) in str(info.value)


@pytest.mark.parametrize("secret", [b"", b"short", bytes(31), bytes(33), bytes(64)])
def test_bad_secret(secret):
    with pytest.raises(InvalidInput, match="32 bytes"):
        Codec(secret)


# -- threads ---------------------------------------------------------------------------------


def test_shared_codec_across_threads(codec):
    from concurrent.futures import ThreadPoolExecutor

    data = [random.Random(i).randbytes(1000) * (i % 5 + 1) for i in range(64)]
    expected = [codec.encode(d) for d in data]

    def work(i):
        ref, stored = codec.encode(data[i])
        assert (ref, stored) == expected[i]
        return codec.decode(ref, stored) == data[i]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, list(range(64)) * 4))


# -- ciphers ---------------------------------------------------------------------------------


def test_default_cipher_is_aes_gcm():
    assert Codec(SECRET).cipher == "aes-256-gcm"


def test_ciphers_do_not_open_each_other():
    """A repo's cipher is part of its format: the other one refuses its blobs, never misreads them."""
    plaintext = b"sealed once" * 100
    sealed = {name: Codec(SECRET, cipher=name).encode(plaintext) for name in CIPHERS}
    assert len({stored for _, stored in sealed.values()}) == len(CIPHERS)
    assert len({ref.key for ref, _ in sealed.values()}) == 1  # the key is convergent, not per cipher
    for name, (ref, stored) in sealed.items():
        assert Codec(SECRET, cipher=name).decode(ref, stored) == plaintext
        for other in CIPHERS.keys() - {name}:
            with pytest.raises(IntegrityError, match="authentication tag"):
                Codec(SECRET, cipher=other).decode(ref, stored)


def test_unknown_cipher():
    with pytest.raises(InvalidInput, match="unknown cipher"):
        Codec(SECRET, cipher="rot13")


def test_decode_view_does_not_share_the_stored_buffer(codec):
    """read_extent decodes out of a scratch buffer it reuses: the result must not alias it."""
    plaintext = random.Random(7).randbytes(5000)
    ref, stored = codec.encode(plaintext)
    scratch = bytearray(stored)
    plain = codec.decode_view(ref, memoryview(scratch))
    scratch[:] = bytes(len(scratch))
    assert bytes(plain) == plaintext


def test_incompressible_probe_decides_raw_without_compressing_the_rest():
    """A chunk whose first 64 KiB do not shrink is stored raw even if its tail would; one whose
    start shrinks is compressed as a whole. Either way the bytes depend on the plaintext only."""
    codec = Codec(SECRET)
    noise = random.Random(3).randbytes(64 << 10)
    random_then_zeros = noise + bytes(1 << 20)
    zeros_then_random = bytes(1 << 20) + noise
    ref_a, stored_a = codec.encode(random_then_zeros)
    ref_b, stored_b = codec.encode(zeros_then_random)
    assert len(stored_a) == 1 + len(random_then_zeros) + TAG  # raw
    assert len(stored_b) < len(zeros_then_random) // 4  # compressed
    assert codec.encode(random_then_zeros) == (ref_a, stored_a)
    assert codec.decode(ref_a, stored_a) == random_then_zeros
    assert codec.decode(ref_b, stored_b) == zeros_then_random


@pytest.mark.parametrize("kind", ["random", "compressible"])
def test_own_takes_a_copy_that_seals_like_encode(codec, kind):
    """write_many hands `own` a view of the chunker's buffer, which is overwritten at once."""
    data = random.Random(4).randbytes(200_000) if kind == "random" else b"abc" * 70_000
    buffer = bytearray(data)
    owned = codec.own(memoryview(buffer))
    buffer[:] = bytes(len(buffer))  # the chunker moves on
    ref, stored = codec.encode_owned(owned)
    assert (ref, stored) == codec.encode(data)
    assert codec.decode(ref, stored) == data
