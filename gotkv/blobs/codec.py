"""Codec: plaintext <-> stored bytes, deterministic so that equal plaintext dedups.

    body   = 0x01 + zstd(plaintext)   when that is shorter, else 0x00 + plaintext
    key    = BLAKE3(plaintext, key=repo_secret)            (convergent: same data, same key)
    stored = ChaCha20-Poly1305(key).encrypt(nonce=0, body)  (a key only ever seals one plaintext,
                                                             so the fixed nonce is never reused)
    cid    = BLAKE3(stored)

Without a secret the body is stored as is and the ref has an empty key. Decoding verifies the
cid first (any store can check that) and then the AEAD tag; either failure raises
IntegrityError naming the ref. The hot libraries (blake3, zstd, cryptography) release the GIL,
so one Codec may be used from many threads: per-thread zstd contexts live in a threading.local.
"""

from __future__ import annotations

import threading

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from gotkv.blobs.ref import KEY_SIZE, Ref
from gotkv.errors import IntegrityError, InvalidInput

_RAW = b"\x00"
_ZSTD = b"\x01"
_NONCE = bytes(12)
MAX_PLAINTEXT = 4 << 20


def content_id(data: bytes | memoryview) -> bytes:
    """BLAKE3-256 of stored bytes: the id every store files a blob under."""
    return blake3.blake3(data).digest()


class Codec:
    """Turns plaintext into (Ref, stored bytes) and back. Holds no state but its settings."""

    def __init__(self, secret: bytes | None = None, *, level: int = 1):
        if secret is not None and len(secret) != KEY_SIZE:
            raise InvalidInput(f"the repo secret must be {KEY_SIZE} bytes, got {len(secret)}")
        self.secret = secret
        self.level = level
        self._local = threading.local()

    def _zstd(self) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            pair = (zstandard.ZstdCompressor(level=self.level), zstandard.ZstdDecompressor())
            self._local.pair = pair
        return pair

    def encode(self, plaintext: bytes | memoryview) -> tuple[Ref, bytes]:
        """Seal plaintext. Deterministic: equal plaintext and secret give an equal ref."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise InvalidInput(f"a blob's plaintext is at most {MAX_PLAINTEXT} bytes, got {len(plaintext)}")
        compressed = self._zstd()[0].compress(plaintext)
        if len(compressed) < len(plaintext):
            body = _ZSTD + compressed
        else:
            body = _RAW + bytes(plaintext)
        if self.secret is None:
            return Ref(content_id(body)), body
        key = blake3.blake3(plaintext, key=self.secret).digest()
        stored = ChaCha20Poly1305(key).encrypt(_NONCE, body, None)
        return Ref(content_id(stored), key), stored

    def decode(self, ref: Ref, stored: bytes) -> bytes:
        """Verify and open stored bytes. Raises IntegrityError naming the ref on any mismatch."""
        if content_id(stored) != ref.cid:
            raise IntegrityError(f"blob {ref.short()}", "content hash does not match its id")
        if ref.key:
            try:
                body = ChaCha20Poly1305(ref.key).decrypt(_NONCE, stored, None)
            except InvalidTag:
                raise IntegrityError(f"blob {ref.short()}", "authentication tag rejected") from None
        elif self.secret is not None:
            raise IntegrityError(f"blob {ref.short()}", "ref carries no key in an encrypted repo")
        else:
            body = stored
        return self._open_body(ref, body)

    def _open_body(self, ref: Ref, body: bytes) -> bytes:
        flag = body[:1]
        if flag == _RAW:
            return body[1:]
        if flag == _ZSTD:
            try:
                return self._zstd()[1].decompress(memoryview(body)[1:], max_output_size=MAX_PLAINTEXT)
            except zstandard.ZstdError as e:
                raise IntegrityError(f"blob {ref.short()}", f"bad zstd frame ({e})") from None
        raise IntegrityError(f"blob {ref.short()}", f"unknown body format {flag!r}")
