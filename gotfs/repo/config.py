"""The repository's settings: `.got/config.json`, and the atomic file write that keeps it whole.

    format             the codec's blob layout (gotkv/blobs/codec.py)
    salt               the tree-shape salt (node boundaries, gotkv.params)
    secret             the encryption secret, in plain text, or `wrapped_secret` under a
                       passphrase (keywrap.py); it never leaves this machine
    target/max node size, cipher

A config is read once when a repository is opened and written only by init, clone and a
change of passphrase, each time as one atomic replace of the whole file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from gotkv.blobs.codec import CIPHERS, DEFAULT_CIPHER, DEFAULT_LAYOUT, LAYOUTS
from gotfs.repo import keywrap
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from pathlib import Path

DOT = ".got"
LEGACY_CIPHER = "chacha20-poly1305"  # what a config.json without a "cipher" field was sealed with
FORMAT = DEFAULT_LAYOUT  # written by this version: config "format" is the blob layout


class Config(Value):
    __slots__ = ("salt", "secret", "target_node_size", "max_node_size", "cipher", "format", "wrapped")
    _compare = __slots__[:-1]  # `wrapped`, the secret under a passphrase (keywrap.wrap), is not compared
    salt: bytes
    secret: bytes | None
    target_node_size: int
    max_node_size: int
    cipher: str
    format: int
    wrapped: dict | None

    def __init__(self, salt: bytes, secret: bytes | None, target_node_size: int = 8192,
                 max_node_size: int = 65536, cipher: str = DEFAULT_CIPHER, format: int = FORMAT,
                 wrapped: dict | None = None) -> None:
        for name, value in (("salt", salt), ("secret", secret), ("target_node_size", target_node_size),
                            ("max_node_size", max_node_size), ("cipher", cipher), ("format", format),
                            ("wrapped", wrapped)):
            object.__setattr__(self, name, value)

    def to_json(self) -> str:
        doc = {"format": self.format, "salt": self.salt.hex()}
        if self.wrapped is not None:
            doc["wrapped_secret"] = self.wrapped
        else:
            doc["secret"] = self.secret.hex() if self.secret else None
        doc.update(target_node_size=self.target_node_size, max_node_size=self.max_node_size, cipher=self.cipher)
        return json.dumps(doc, indent=2)

    @classmethod
    def from_json(cls, text: str, passphrase: Callable[[], str] = keywrap.ask) -> Config:
        """The config in config.json's `text`; a wrapped secret is opened with `passphrase()`
        (keywrap.WrongPassphrase if it does not open it)."""
        doc = json.loads(text)
        fmt = doc.get("format", 1)
        if fmt not in LAYOUTS:
            raise ValueError(f"format {fmt!r} is not one this version of got reads "
                             f"({', '.join(map(str, LAYOUTS))}); it was made by a newer got")
        cipher = doc.get("cipher", LEGACY_CIPHER)
        if cipher not in CIPHERS:  # checked here: the codec is built on the first blob read
            raise ValueError(f"unknown cipher {cipher!r} (known: {', '.join(CIPHERS)})")
        wrapped = doc.get("wrapped_secret")
        if wrapped is not None:
            secret = keywrap.unwrap(wrapped, passphrase())
        else:
            secret = bytes.fromhex(doc["secret"]) if doc["secret"] else None
        return cls(bytes.fromhex(doc["salt"]), secret, doc["target_node_size"], doc["max_node_size"],
                   cipher, fmt, wrapped)


def write_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old file or the new one, never a
    mix: write a sibling, fsync it, rename it over. One file write and one fsync."""
    tmp = os.path.splitext(os.fspath(path))[0] + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
