"""Codec: plaintext <-> stored bytes, deterministic so that equal plaintext dedups.

    payload = zstd(plaintext), flag 0x01   when that is shorter (and a probe says it may be),
              plaintext,       flag 0x00   otherwise
    key     = BLAKE3(flag + payload, key=subkey)      subkey = derive_key(context, repo_secret)
    cid     = BLAKE3(stored)

Two layouts of the stored bytes (a repository records its layout in its config):

    layout 2 (new repositories):  stored = flag + AEAD(key).encrypt(nonce=0, payload, aad=flag)
    layout 1 (older ones):        stored = AEAD(key).encrypt(nonce=0, flag + payload)

Layout 2 keeps the flag in the clear, authenticated as associated data, so the ciphertext is
the payload alone: a raw chunk decrypts straight into a caller's buffer (`decode_into`) with
nothing to strip, which lets the mount lay consecutive chunks side by side and answer a read
that straddles two of them with one slice. It also lets a raw chunk be sealed straight from
the chunker's buffer into the caller's (`seal_into`): the cipher's output is the stored
bytes after the flag, so sealing copies nothing.

The key is derived from exactly the bytes it seals (flag and payload), never from the
plaintext alone: the payload of one plaintext can change between versions (a zstd upgrade, a
new compression rule), and sealing two different payloads under one key and the fixed nonce
would reuse the nonce, which leaks their XOR and GCM's authentication key. With the key bound
to the sealed bytes, a key seals one message ever, so the fixed nonce is safe. The subkey is
derived per layout and cipher (BLAKE3 derive_key), so keys never repeat across them either.

The AEAD is AES-256-GCM, or ChaCha20-Poly1305 for repositories created before the choice was
recorded (`CIPHERS`). AES-256-GCM is several times faster than ChaCha20 on x86 CPUs with
AES-NI (figures: docs/benchmarks.md, "Figures behind design choices"), and sealing and
opening megabyte chunks is on the critical path of every commit and every mounted read.

Verification. Without a secret the body is stored as is, the ref has an empty key, and
decoding checks the cid. A keyed ref is checked by its AEAD tag: since a key seals one
message and is derived with the repo secret, bytes that authenticate under it are the bytes
it sealed, for anyone who does not hold the secret. The content hash itself is re-checked by
`sync` (copying between stores), by stores whose bytes come from outside this machine's
trust (see store.py), and by `got fsck --read-data`. Not hashing on every local read takes
a BLAKE3 pass over every byte off the mount's read path.

The hot libraries (blake3, zstd, cryptography >= 50) release the GIL, so one Codec may be used
from many threads and decoding scales with them: per-thread zstd contexts live in a
threading.local.

cryptography and zstandard are imported on first use (`_libs`), not with this module: together
they are ~15 ms of a process's start, and a command that reads only refs (`got branch`) or a
repository that compresses nothing it reads never needs one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import blake3

from gotkv.blobs.ref import KEY_SIZE, Ref
from gotkv.errors import IntegrityError, InvalidInput

_RAW = 0
_ZSTD = 1
_FLAGS = (b"\x00", b"\x01")
_NONCE = bytes(12)
TAG = 16  # both AEADs
MAX_PLAINTEXT = 4 << 20
_PROBE_WINDOWS = 4  # see Codec.seal_into
_PROBE_WINDOW = 16 << 10
CIPHERS = {"aes-256-gcm": "AESGCM", "chacha20-poly1305": "ChaCha20Poly1305"}  # name -> class in _libs
DEFAULT_CIPHER = "aes-256-gcm"
LAYOUTS = (1, 2)
DEFAULT_LAYOUT = 2


class _Libs:
    """cryptography's AEADs and InvalidTag, and zstandard, each imported on its first use.

    An attribute is a dict look-up once loaded. `except _libs.InvalidTag` is evaluated only
    when something was raised, so a failure before any cipher ran still finds the class."""

    def __getattr__(self, name: str):
        if name == "zstandard":
            import zstandard

            self.zstandard = zstandard
        elif name == "InvalidTag":
            from cryptography.exceptions import InvalidTag

            self.InvalidTag = InvalidTag
        elif name in ("AESGCM", "ChaCha20Poly1305"):
            self.AESGCM, self.ChaCha20Poly1305 = _aead_classes()
        else:
            raise AttributeError(name)
        return self.__dict__[name]


_libs = _Libs()


def _aead_classes() -> tuple[type, type]:
    """(AESGCM, ChaCha20Poly1305), the very classes cryptography.hazmat.primitives.ciphers.aead
    exports, taken from the compiled bindings that module re-exports them from: importing the
    public module first imports its package (the ciphers' base, algorithms and modes, ~12 ms
    of a start that only opens blobs). Should a cryptography release move them, the public
    import is used; tests/gotkv/blobs/test_codec.py checks both give the same classes."""
    try:
        from cryptography.hazmat.bindings._rust import openssl

        return openssl.aead.AESGCM, openssl.aead.ChaCha20Poly1305
    except (ImportError, AttributeError):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

        return AESGCM, ChaCha20Poly1305


def aead_class(cipher: str) -> type:
    """The AEAD class of a cipher named in CIPHERS (imports cryptography on first use)."""
    return getattr(_libs, CIPHERS[cipher])


def content_id(data: bytes | memoryview) -> bytes:
    """BLAKE3-256 of stored bytes: the id every store files a blob under."""
    return blake3.blake3(data).digest()


class Codec:
    """Turns plaintext into (Ref, stored bytes) and back. Holds no state but its settings."""

    def __init__(self, secret: bytes | None = None, *, level: int = 1, cipher: str = DEFAULT_CIPHER,
                 layout: int = DEFAULT_LAYOUT):
        if secret is not None and len(secret) != KEY_SIZE:
            raise InvalidInput(f"the repo secret must be {KEY_SIZE} bytes, got {len(secret)}")
        if cipher not in CIPHERS:
            raise InvalidInput(f"unknown cipher {cipher!r} (known: {', '.join(CIPHERS)})")
        if layout not in LAYOUTS:
            raise InvalidInput(f"unknown blob layout {layout!r} (known: {', '.join(map(str, LAYOUTS))})")
        self.secret = secret
        self.encrypted = secret is not None
        self.level = level
        self.cipher = cipher
        self.layout = layout
        self._subkey = None if secret is None else blake3.blake3(
            secret, derive_key_context=f"got 2026-12-01 blob key, layout {layout}, {cipher}").digest()
        self._local = threading.local()

    @classmethod
    def opener(cls, *, cipher: str = DEFAULT_CIPHER, layout: int = DEFAULT_LAYOUT, encrypted: bool = True) -> Codec:
        """A codec that only decodes, for a repo that encrypts (or not) with this cipher and
        layout, without its secret: keys travel in refs, so opening needs none. For a process
        that must never hold the secret (gotfs.mount.decoder's child)."""
        codec = cls(None, cipher=cipher, layout=layout)
        codec.encrypted = encrypted
        return codec

    @property
    def overhead(self) -> int:
        """Stored bytes beyond the payload: the flag, and the tag when encrypting."""
        return 1 + (TAG if self.encrypted else 0)

    def _aead(self, key: bytes):
        """The cipher object for one key."""
        return aead_class(self.cipher)(key)

    def _zstd(self):
        """This thread's (ZstdCompressor, ZstdDecompressor)."""
        pair = getattr(self._local, "pair", None)
        if pair is None:
            zstd = _libs.zstandard
            pair = (zstd.ZstdCompressor(level=self.level), zstd.ZstdDecompressor())
            self._local.pair = pair
        return pair

    def key_for(self, flag: int, payload: bytes | memoryview) -> bytes:
        """The convergent key of one sealed message (see the module docstring)."""
        h = blake3.blake3(_FLAGS[flag], key=self._subkey)
        h.update(payload)
        return h.digest()

    # -- encoding ----------------------------------------------------------------------

    def encode(self, plaintext: bytes | memoryview) -> tuple[Ref, bytes | bytearray]:
        """Seal plaintext. Deterministic: equal plaintext and secret give an equal ref."""
        out = bytearray(len(plaintext) + self.overhead)
        ref, stored = self.seal_into(plaintext, out)
        if not isinstance(stored, memoryview):  # layout 1: sealed into memory of its own
            return ref, stored
        size = len(stored)
        stored.release()
        del out[size:]  # a compressed payload is shorter than the room left for a raw one
        return ref, out

    def known_id(self, ref: Ref) -> bytes:
        """What seal_into looks a ref up by in its `known` map: the data key when encrypting
        (derived from the sealed bytes with the secret), else the content id."""
        return ref.key if self.encrypted else ref.cid

    def seal_into(self, plaintext: bytes | memoryview, out: bytearray | memoryview,
                  known: Mapping[bytes, Ref] | None = None) -> tuple[Ref, memoryview | bytes | None]:
        """Seal plaintext into `out`, which has room for len(plaintext) + overhead bytes;
        return the ref and the stored bytes: a view of `out` (layout 1: bytes of their own).

        For the write path, which seals each chunk straight out of the chunker's buffer
        into a buffer it reuses: an incompressible chunk (random, encrypted or already
        compressed data) is read by the hash and the cipher and written by the cipher,
        all with the GIL released; nothing of it is copied in Python. `plaintext` must not
        change until this returns.

        A chunk none of whose probe windows shrink is taken as incompressible without
        compressing it whole. The windows (_PROBE_WINDOWS of _PROBE_WINDOW bytes, spread
        from start to end) catch a chunk that only starts incompressible, such as a tar of a
        binary and text. The choice depends on the plaintext alone, so equal plaintext still
        gives equal bytes.

        `known` maps known_id(ref) to refs of blobs the caller vouches are stored: when the
        plaintext seals to one of them, that ref is returned with None for the stored bytes,
        and neither the cipher nor the content hash runs (a chunk of the unchanged part of an
        edited file costs its key's hash alone). The key names exactly the bytes it seals
        (flag and payload, hashed with the secret), so a key found in `known` is the ref this
        call would have made.
        """
        if self.encrypted and self.secret is None:
            raise InvalidInput("this codec only opens blobs (Codec.opener): it has no secret to seal with")
        if len(plaintext) > MAX_PLAINTEXT:
            raise InvalidInput(f"a blob's plaintext is at most {MAX_PLAINTEXT} bytes, got {len(plaintext)}")
        flag, payload = self._payload(plaintext)
        if self.encrypted:
            key = self.key_for(flag, payload)
            if known and key in known:
                return known[key], None
        else:
            cid = None
            if known:
                h = blake3.blake3(_FLAGS[flag])
                h.update(payload)
                cid = h.digest()  # content_id of the stored bytes below
                if cid in known:
                    return known[cid], None
        if self.encrypted and self.layout == 1:
            body = bytearray().join((_FLAGS[flag], payload))
            stored = self._aead(key).encrypt(_NONCE, body, None)
            return Ref(content_id(stored), key), stored
        size = len(payload) + self.overhead
        if len(out) < size:
            raise ValueError(f"seal_into needs {size} bytes of room, got {len(out)}")
        stored = memoryview(out)[:size]
        stored[0] = flag
        if not self.encrypted:
            stored[1:] = payload
            return Ref(cid or content_id(stored)), stored
        self._aead(key).encrypt_into(_NONCE, payload, _FLAGS[flag], stored[1:])
        return Ref(content_id(stored), key), stored

    def _payload(self, plaintext: bytes | memoryview) -> tuple[int, bytes | memoryview]:
        """(flag, payload): the plaintext itself, or its zstd frame when that is shorter."""
        n = len(plaintext)
        if n > _PROBE_WINDOWS * _PROBE_WINDOW and not self._may_shrink(plaintext):
            return _RAW, plaintext
        compressed = self._zstd()[0].compress(plaintext)
        return (_ZSTD, compressed) if len(compressed) < n else (_RAW, plaintext)

    def _may_shrink(self, plaintext: bytes | memoryview) -> bool:
        compress = self._zstd()[0].compress
        step = (len(plaintext) - _PROBE_WINDOW) // (_PROBE_WINDOWS - 1)
        view = memoryview(plaintext)
        return any(len(compress(view[i * step:i * step + _PROBE_WINDOW])) < _PROBE_WINDOW
                   for i in range(_PROBE_WINDOWS))

    # -- decoding ----------------------------------------------------------------------

    def decode(self, ref: Ref, stored: bytes | memoryview) -> bytes:
        """Verify and open stored bytes. Raises IntegrityError naming the ref on any mismatch."""
        plain = self.decode_view(ref, stored)
        return plain if isinstance(plain, bytes) else bytes(plain)

    def decode_view(self, ref: Ref, stored: bytes | memoryview) -> bytes | memoryview:
        """Like decode, without copying an uncompressed body out of the decrypted buffer.

        For large data chunks read through the mount: the copy would cost a fresh megabyte
        (page faults included) per chunk, with the GIL held. The result never shares memory
        with `stored`, which may be a view of a mapped pack that the store releases after.
        """
        flag, payload = self._open(ref, stored)
        if flag == _ZSTD:
            return self._unzstd(ref, payload)
        return payload if ref.key else bytes(payload)  # keyless: a view of `stored`, so copy

    def raw_size(self, stored_size: int) -> int:
        """The plaintext size of a stored blob of this size if its payload is raw (layout 2 or
        unencrypted): what `decode_into` needs room for."""
        return stored_size - self.overhead

    def decode_into(self, ref: Ref, stored: bytes | memoryview, out: memoryview) -> bool:
        """Verify stored bytes and, if their payload is raw, decrypt it straight into `out`
        (exactly raw_size(len(stored)) bytes); True if it did. False, with `out` untouched,
        when the payload is compressed (or the layout keeps the flag inside the ciphertext):
        use decode_view then. Raises IntegrityError as decode does; after a failed tag check
        `out` may hold garbage, never anything returned as data.
        """
        if self.encrypted and self.layout == 1:
            return False
        if len(out) != self.raw_size(len(stored)):
            raise ValueError(f"decode_into needs {self.raw_size(len(stored))} bytes of room, got {len(out)}")
        if len(stored) < self.overhead:
            raise IntegrityError(f"blob {ref.short()}", "too short to be a stored blob")
        flag = stored[0]
        if flag != _RAW:
            if flag != _ZSTD:
                raise IntegrityError(f"blob {ref.short()}", f"unknown body format {bytes([flag])!r}")
            return False
        if not ref.key:
            self._check_keyless(ref, stored)
            out[:] = memoryview(stored)[1:]
            return True
        try:
            self._aead(ref.key).decrypt_into(_NONCE, memoryview(stored)[1:], _FLAGS[flag], out)
        except _libs.InvalidTag:
            raise IntegrityError(f"blob {ref.short()}", "authentication tag rejected") from None
        return True

    def _open(self, ref: Ref, stored: bytes | memoryview) -> tuple[int, bytes | memoryview]:
        """Verify; return (flag, payload). Keyless, the payload is a view of `stored`; keyed,
        it is memory of its own."""
        if not ref.key:
            self._check_keyless(ref, stored)
            if not stored:
                raise IntegrityError(f"blob {ref.short()}", "empty stored bytes")
            return self._flag(ref, stored[0]), memoryview(stored)[1:]
        try:
            if self.layout == 1:
                body = self._aead(ref.key).decrypt(_NONCE, stored, None)
                if not body:
                    raise IntegrityError(f"blob {ref.short()}", "empty body")
                return self._flag(ref, body[0]), memoryview(body)[1:]
            if len(stored) < self.overhead:
                raise IntegrityError(f"blob {ref.short()}", "too short to be a stored blob")
            flag = self._flag(ref, stored[0])
            return flag, self._aead(ref.key).decrypt(_NONCE, memoryview(stored)[1:], _FLAGS[flag])
        except _libs.InvalidTag:
            raise IntegrityError(f"blob {ref.short()}", "authentication tag rejected") from None

    def _check_keyless(self, ref: Ref, stored: bytes | memoryview) -> None:
        if self.encrypted:
            raise IntegrityError(f"blob {ref.short()}", "ref carries no key in an encrypted repo")
        if content_id(stored) != ref.cid:
            raise IntegrityError(f"blob {ref.short()}", "content hash does not match its id")

    @staticmethod
    def _flag(ref: Ref, flag: int) -> int:
        if flag not in (_RAW, _ZSTD):
            raise IntegrityError(f"blob {ref.short()}", f"unknown body format {bytes([flag])!r}")
        return flag

    def _unzstd(self, ref: Ref, payload: bytes | memoryview) -> bytes:
        decompressor = self._zstd()[1]
        try:
            return decompressor.decompress(payload, max_output_size=MAX_PLAINTEXT)
        except _libs.zstandard.ZstdError as e:
            raise IntegrityError(f"blob {ref.short()}", f"bad zstd frame ({e})") from None
