"""Codec: deterministic sealing, round trips, compression, and verify-on-read."""

import os
import random

import blake3
import pytest
from hypothesis import given, settings
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import strategies as st

from gotkv.blobs.codec import CIPHERS, LAYOUTS, MAX_PLAINTEXT, Codec, aead_class, content_id
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


@pytest.fixture(params=[(None, "aes-256-gcm", 2), (SECRET, "aes-256-gcm", 2), (SECRET, "chacha20-poly1305", 2),
                        (SECRET, "aes-256-gcm", 1), (SECRET, "chacha20-poly1305", 1)],
                ids=["plain", "aes-256-gcm", "chacha20-poly1305", "layout1-aes-256-gcm", "layout1-chacha20-poly1305"])
def codec(request):
    secret, cipher, layout = request.param
    return Codec(secret, cipher=cipher, layout=layout)


# -- determinism -----------------------------------------------------------------------------


@given(plaintexts, secrets)
@settings(max_examples=60, deadline=None)
def test_deterministic(plaintext, secret):
    ref1, stored1 = Codec(secret).encode(plaintext)
    ref2, stored2 = Codec(secret).encode(plaintext)  # a fresh codec: no state carried over
    assert ref1 == ref2 and stored1 == stored2
    assert ref1.cid == content_id(stored1) == blake3.blake3(stored1).digest()


def test_convergent_key_is_derived_from_the_sealed_bytes():
    """key = BLAKE3(flag + payload, key=derive_key(context of layout and cipher, secret))."""
    plaintext = random.Random(8).randbytes(1000)  # incompressible: flag 0, payload = plaintext
    for layout in LAYOUTS:
        for cipher in CIPHERS:
            ref, _ = Codec(SECRET, cipher=cipher, layout=layout).encode(plaintext)
            subkey = blake3.blake3(SECRET, derive_key_context=f"got 2026-12-01 blob key, layout {layout}, {cipher}").digest()
            assert ref.key == blake3.blake3(b"\x00" + plaintext, key=subkey).digest()
    assert Codec(None).encode(plaintext)[0].key == b""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_key_never_seals_two_different_messages(layout):
    """One plaintext can be stored as different payloads (another zstd level or version, a
    new compression rule). Those must get different keys: under one key and the fixed nonce,
    two ciphertexts would leak the XOR of their payloads and GCM's authentication key."""
    rnd = random.Random(12)
    words = [rnd.randbytes(rnd.randint(2, 9)).hex().encode() for _ in range(300)]
    plaintext = b" ".join(rnd.choice(words) for _ in range(30_000))
    fast = Codec(SECRET, level=1, layout=layout).encode(plaintext)
    small = Codec(SECRET, level=19, layout=layout).encode(plaintext)
    assert fast[1] != small[1]  # the payloads differ...
    assert fast[0].key != small[0].key  # ...so must the keys
    for ref, stored in (fast, small):
        assert Codec(SECRET, layout=layout).decode(ref, stored) == plaintext


GOLDEN = blake3.blake3(b"got golden plaintext").digest(length=100_000)  # incompressible


@pytest.mark.parametrize("layout, cipher, cid", [
    (2, "aes-256-gcm", "1834d9a87bd7aee2b26adf79ba050eac02c2d3b55a9018e2592d3ab89c1b196a"),
    (2, "chacha20-poly1305", "d6a219c0faf5cc1b84f5c2df929a94f615942224bef2431e2cf12091a047ff71"),
    (1, "aes-256-gcm", "72132767ec15529e67b718f568411d62b5bcec15daf3bff5e7ad2e48026c481a"),
    (1, "chacha20-poly1305", "215bb8ee5524f5d906ffa1e46fe1d4f6cb872577064107eb62fd9c67a14eb330"),
])
def test_golden_stored_bytes(layout, cipher, cid):
    """The stored bytes are part of the format: built here from the primitives, and pinned."""
    secret = bytes(range(32))
    ref, stored = Codec(secret, cipher=cipher, layout=layout).encode(GOLDEN)
    subkey = blake3.blake3(secret, derive_key_context=f"got 2026-12-01 blob key, layout {layout}, {cipher}").digest()
    key = blake3.blake3(b"\x00" + GOLDEN, key=subkey).digest()
    aead = {"aes-256-gcm": AESGCM, "chacha20-poly1305": ChaCha20Poly1305}[cipher](key)
    expected = (b"\x00" + aead.encrypt(bytes(12), GOLDEN, b"\x00") if layout == 2
                else aead.encrypt(bytes(12), b"\x00" + GOLDEN, None))
    assert bytes(stored) == expected and ref.key == key
    assert ref.cid == content_id(expected) and ref.cid.hex() == cid


def test_golden_unencrypted():
    ref, stored = Codec(None).encode(GOLDEN)
    assert bytes(stored) == b"\x00" + GOLDEN
    assert ref.cid.hex() == "a9036da300014e5e13a5e59a0123a06c732189ae7740d8099ffa47f079e9fbed"


def test_layout2_keeps_the_flag_in_the_clear():
    codec = Codec(SECRET)
    raw = random.Random(5).randbytes(100_000)
    _, stored = codec.encode(raw)
    assert stored[0] == 0 and len(stored) == 1 + len(raw) + TAG
    _, stored = codec.encode(b"z" * 100_000)
    assert stored[0] == 1


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


def test_ciphers_and_layouts_do_not_open_each_other():
    """A repo's cipher and layout are part of its format: another one refuses its blobs,
    never misreads them, and no key is shared between them."""
    plaintext = b"sealed once" * 100
    kinds = [(cipher, layout) for cipher in CIPHERS for layout in LAYOUTS]
    sealed = {kind: Codec(SECRET, cipher=kind[0], layout=kind[1]).encode(plaintext) for kind in kinds}
    assert len({bytes(stored) for _, stored in sealed.values()}) == len(kinds)
    assert len({ref.key for ref, _ in sealed.values()}) == len(kinds)
    for (cipher, layout), (ref, stored) in sealed.items():
        assert Codec(SECRET, cipher=cipher, layout=layout).decode(ref, stored) == plaintext
        for other in set(kinds) - {(cipher, layout)}:
            with pytest.raises(IntegrityError):
                Codec(SECRET, cipher=other[0], layout=other[1]).decode(ref, stored)


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


def test_incompressible_probe_decides_raw_only_when_no_window_shrinks():
    """The probe compresses a few windows spread over the chunk: random throughout is stored
    raw without compressing it whole; random with compressible stretches (a tar of a binary
    and text) is compressed, wherever the stretches are. Either way the bytes depend on the
    plaintext only."""
    codec = Codec(SECRET)
    noise = random.Random(3).randbytes(1 << 20)
    random_then_zeros = noise[:64 << 10] + bytes(1 << 20)
    zeros_then_random = bytes(1 << 20) + noise[:64 << 10]
    middle_zeros = noise[:400 << 10] + bytes(300 << 10) + noise[400 << 10:]
    ref, stored = codec.encode(noise)
    assert len(stored) == 1 + len(noise) + TAG  # raw
    for mixed in (random_then_zeros, zeros_then_random, middle_zeros):
        ref, stored = codec.encode(mixed)
        assert len(stored) < len(mixed) - (200 << 10)  # compressed
        assert codec.encode(mixed) == (ref, stored)
        assert codec.decode(ref, stored) == mixed


@pytest.mark.parametrize("kind", ["random", "compressible"])
def test_seal_into_a_reused_buffer_seals_like_encode(codec, kind):
    """write_many seals each chunk into one of a few reused buffers: the stored bytes are a
    view of it, equal to encode's, and nothing is written past them."""
    data = random.Random(4).randbytes(200_000) if kind == "random" else b"abc" * 70_000
    out = bytearray(b"\xee" * (len(data) + codec.overhead + 10))
    ref, stored = codec.seal_into(memoryview(data), out)
    ref0, stored0 = codec.encode(data)
    assert ref == ref0 and bytes(stored) == bytes(stored0)
    assert codec.decode(ref, stored) == data
    if isinstance(stored, memoryview):  # layout 1 seals into memory of its own
        assert stored.obj is out
        assert out[len(stored):] == b"\xee" * (len(out) - len(stored))
    del stored
    again = random.Random(5).randbytes(300) if kind == "random" else b"xyz" * 100
    ref2, stored2 = codec.seal_into(again, out)  # the buffer reused: the first blob is unaffected
    assert codec.decode(ref2, stored2) == again


def test_seal_into_refuses_too_little_room(codec):
    data = random.Random(6).randbytes(100_000)
    if codec.secret is not None and codec.layout == 1:
        return  # sealed into memory of its own
    with pytest.raises(ValueError, match="room"):
        codec.seal_into(data, bytearray(len(data)))


# -- decode_into -----------------------------------------------------------------------------


def test_decode_into_writes_a_raw_payload_in_place(codec):
    plaintext = random.Random(6).randbytes(200_000)
    ref, stored = codec.encode(plaintext)
    out = bytearray(codec.raw_size(len(stored)) + 2)
    window = memoryview(out)[1:-1]
    if codec.secret is not None and codec.layout == 1:  # the flag is inside the ciphertext
        assert codec.decode_into(ref, memoryview(bytes(stored)), window) is False
        assert out == bytes(len(out))
        return
    assert codec.decode_into(ref, memoryview(bytes(stored)), window) is True
    assert bytes(window) == plaintext and out[0] == out[-1] == 0  # nothing written around it


def test_decode_into_declines_compressed_payloads(codec):
    ref, stored = codec.encode(b"compress me " * 10_000)
    out = bytearray(codec.raw_size(len(stored)))
    assert codec.decode_into(ref, stored, memoryview(out)) is False
    assert out == bytes(len(out))


def test_decode_into_verifies(codec):
    ref, stored = codec.encode(random.Random(9).randbytes(5000))
    bad = bytearray(stored)
    bad[len(bad) // 2] ^= 1
    out = memoryview(bytearray(codec.raw_size(len(bad))))
    if codec.secret is not None and codec.layout == 1:
        return
    with pytest.raises(IntegrityError, match=ref.short()):
        codec.decode_into(ref, bytes(bad), out)
    with pytest.raises(ValueError, match="room"):
        codec.decode_into(ref, stored, out[1:])


def test_tag_only_check_cannot_be_passed_without_the_key():
    """What the tag check rests on: without the key, no altered bytes authenticate, whatever
    cid is claimed for them (the key is derived with the repo secret)."""
    codec = Codec(SECRET)
    ref, stored = codec.encode(b"pay alice 10" * 10)
    for forged in (bytes([stored[0] ^ 1]) + bytes(stored[1:]), bytes(stored[:-1]) + bytes([stored[-1] ^ 1])):
        with pytest.raises(IntegrityError, match="authentication tag"):
            codec.decode(Ref(content_id(forged), ref.key), forged)


# -- known refs: sealing skipped --------------------------------------------------------------

def test_a_known_ref_is_returned_without_sealing_and_others_seal_as_usual(codec):
    """seal_into(known=...) returns the ref sealing would make, with no stored bytes, for a
    plaintext that seals to a known ref; any other plaintext seals exactly as without it."""
    rnd = random.Random(5)
    for plaintext in (rnd.randbytes(300_000), b"abc" * 50_000, b""):
        ref, stored = codec.seal_into(plaintext, bytearray(len(plaintext) + codec.overhead))
        stored = bytes(stored)
        known = {codec.known_id(ref): ref}
        again, none = codec.seal_into(plaintext, bytearray(len(plaintext) + codec.overhead), known)
        assert again == ref and none is None
        other = plaintext + b"!"
        want, want_stored = codec.seal_into(other, bytearray(len(other) + codec.overhead))
        got, got_stored = codec.seal_into(other, bytearray(len(other) + codec.overhead), known)
        assert got == want and bytes(got_stored) == bytes(want_stored)
        assert codec.decode(ref, stored) == plaintext


@pytest.mark.parametrize("cipher", sorted(CIPHERS))
def test_the_aead_is_cryptographys_public_class(cipher):
    """The codec takes its AEADs from cryptography's compiled bindings (cheaper to import):
    they must be the very classes the public module exports, or the shortcut is wrong."""
    from cryptography.hazmat.primitives.ciphers import aead

    assert aead_class(cipher) is getattr(aead, CIPHERS[cipher])


def test_opening_a_blob_imports_no_cipher_package_and_still_rejects_a_bad_tag():
    """Decoding needs the AEAD alone, not cryptography's ciphers package (its base,
    algorithms and modes); a rejected tag is still an IntegrityError."""
    import subprocess
    import sys

    probe = """
import sys
from gotkv.blobs.codec import Codec
from gotkv.errors import IntegrityError
codec = Codec(bytes(range(32)))
ref, stored = codec.encode(b"hello " * 100)
assert codec.decode(ref, stored) == b"hello " * 100
bad = bytearray(stored); bad[-1] ^= 1
try:
    codec.decode(ref, bytes(bad))
except IntegrityError:
    pass
else:
    raise SystemExit("a bad tag was accepted")
print(sorted(m for m in sys.modules if m.startswith("cryptography.hazmat.primitives")))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
