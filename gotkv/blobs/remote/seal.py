"""Sealing a remote's own records (journal entries, the settings in its marker).

Blobs arrive at a remote already sealed by the codec; what the remote adds (which packs hold
which blobs, the branch table, the repository's settings) is sealed here, so the remote's
engine sees ciphertext and object sizes only. AES-256-GCM with a random 96-bit nonce under a
key derived from the repo secret for this one purpose (BLAKE3 derive_key): records are few
(one per push), so random nonces are far from their collision bound. Format:
`b"GS1" + nonce(12) + ciphertext + tag(16)`.
"""

from __future__ import annotations

import os

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gotkv.errors import IntegrityError

_MAGIC = b"GS1"
_CONTEXT = "got remote records v1"


class Sealer:
    """Seals and opens small records with a key only holders of the repo secret can derive."""

    def __init__(self, secret: bytes, *, context: str = _CONTEXT):
        """`context` names the purpose: each purpose gets a key of its own (BLAKE3 derive_key)."""
        key = blake3.blake3(secret, derive_key_context=context).digest()
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, aad: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return _MAGIC + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, *, what: str, aad: bytes = b"") -> bytes:
        """The plaintext, or IntegrityError naming `what` (a wrong key looks the same as damage)."""
        if len(sealed) < 31 or sealed[:3] != _MAGIC:
            raise IntegrityError(what, "not a sealed got record")
        try:
            return self._aead.decrypt(sealed[3:15], sealed[15:], aad)
        except InvalidTag:
            raise IntegrityError(what, "authentication failed (wrong key, or damaged)") from None
