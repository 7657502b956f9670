"""A repository secret kept under a passphrase instead of in plain text.

Without a passphrase `.got/config.json` holds the repo secret itself, readable by whoever can
read the file (mode 0600). With one, it holds the secret wrapped: scrypt derives a key from
the passphrase and a random salt, and AES-256-GCM seals the secret under it, so the file
alone gives nothing, and a wrong passphrase fails the tag check instead of yielding a wrong
key. The wrapped form replaces the `secret` field (an older got, finding none, refuses the
repository as unreadable rather than taking it for an unencrypted one).

scrypt's cost (N=2^17, r=8, p=1: 128 MiB and a few tenths of a second) is paid once per
process that opens the repository; the parameters are stored beside the wrapped secret, so
they can be raised later without breaking older wrappings.

The passphrase comes from GOT_PASSPHRASE, else from a prompt when stdin and stderr are a
terminal; otherwise opening fails with one line saying how to give it.

cryptography and getpass are imported where they are used: every repository command imports
this module (Repo.open's default prompt), and only one whose key is wrapped needs them.
"""

from __future__ import annotations

import os
import sys

from gotkv.errors import GotError, InvalidInput

ENV = "GOT_PASSPHRASE"
_AAD = b"got repo secret v1"
_N, _R, _P = 1 << 17, 8, 1
_typed: dict[str, str] = {}  # what was typed at the prompt, by variable: asked once per process


class WrongPassphrase(GotError):
    exit_code = 1

    def __init__(self):
        super().__init__("wrong passphrase for this repository's key")


class PassphraseNeeded(GotError):
    exit_code = 1

    def __init__(self, env: str = ENV):
        what = "this repository's key is protected by a passphrase" if env == ENV else "no new passphrase"
        super().__init__(f"{what}: set {env}, or run on a terminal")


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def wrap(secret: bytes, passphrase: str) -> dict:
    """The secret sealed under `passphrase`: what config.json keeps as `wrapped_secret`."""
    if not passphrase:
        raise InvalidInput("an empty passphrase protects nothing")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_kek(passphrase, salt, _N, _R, _P)).encrypt(nonce, secret, _AAD)
    return {"kdf": "scrypt", "n": _N, "r": _R, "p": _P, "salt": salt.hex(), "nonce": nonce.hex(),
            "sealed": sealed.hex()}


def unwrap(doc: dict, passphrase: str) -> bytes:
    """The secret in a wrapped_secret; WrongPassphrase if `passphrase` does not open it."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        if doc["kdf"] != "scrypt":
            raise ValueError
        kek = _kek(passphrase, bytes.fromhex(doc["salt"]), int(doc["n"]), int(doc["r"]), int(doc["p"]))
        nonce, sealed = bytes.fromhex(doc["nonce"]), bytes.fromhex(doc["sealed"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("its wrapped_secret is damaged or of an unknown kind") from None
    try:
        return AESGCM(kek).decrypt(nonce, sealed, _AAD)
    except InvalidTag:
        raise WrongPassphrase() from None


def ask(prompt: str = "Passphrase: ", *, confirm: bool = False, env: str = ENV) -> str:
    """The passphrase from the variable `env`, else typed at the terminal (twice with
    `confirm`); PassphraseNeeded when there is neither. What was typed is remembered for the
    rest of the process (and its forks: a background mount opens the repository again)."""
    given = os.environ.get(env) or _typed.get(env)
    if given:
        return given
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise PassphraseNeeded(env)
    import getpass

    typed = getpass.getpass(prompt, stream=sys.stderr)
    if confirm and getpass.getpass("Again: ", stream=sys.stderr) != typed:
        raise InvalidInput("the two passphrases differ")
    _typed[env] = typed
    return typed
