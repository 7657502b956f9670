"""A repository key under a passphrase (gotfs/repo/keywrap.py): the config file alone gives
nothing, the right passphrase opens the repository unchanged, a wrong one is refused, and a
repository without one opens as before, never asking."""

from __future__ import annotations

import json

import pytest

from gotfs.repo import Repo, keywrap

AUTHOR = "t <t@example.com>"


def _never() -> str:
    raise AssertionError("asked for a passphrase")


def test_wrap_round_trip_and_a_wrong_passphrase():
    secret = bytes(range(32))
    wrapped = keywrap.wrap(secret, "correct horse")
    assert keywrap.unwrap(wrapped, "correct horse") == secret
    assert secret.hex() not in json.dumps(wrapped)
    with pytest.raises(keywrap.WrongPassphrase):
        keywrap.unwrap(wrapped, "correct horse!")
    with pytest.raises(ValueError):
        keywrap.unwrap({**wrapped, "salt": "zz"}, "correct horse")
    with pytest.raises(keywrap.WrongPassphrase):  # a wrapping moved onto another secret's parameters
        keywrap.unwrap({**wrapped, "nonce": keywrap.wrap(secret, "correct horse")["nonce"]}, "correct horse")


def test_a_repository_under_a_passphrase(tmp_path):
    repo = Repo.init(tmp_path, passphrase="pw one")
    secret = repo.config.secret
    (tmp_path / "f.txt").write_bytes(b"data\n")
    head, _ = repo.commit_workdir("first", author=AUTHOR)
    repo.close()
    text = (tmp_path / ".got" / "config.json").read_text()
    assert secret.hex() not in text and '"secret"' not in text and "wrapped_secret" in text
    with pytest.raises(keywrap.WrongPassphrase):
        Repo.open(tmp_path, passphrase=lambda: "pw two")
    with Repo.open(tmp_path, passphrase=lambda: "pw one") as repo:
        assert repo.config.secret == secret and repo.head() == head
        repo.set_passphrase("pw two")  # change: the key, and so every blob, stays
    with Repo.open(tmp_path, passphrase=lambda: "pw two") as repo:
        assert repo.fs.read(repo.head_root(), "f.txt") == b"data\n"
        repo.set_passphrase(None)
    with Repo.open(tmp_path, passphrase=_never) as repo:  # plain again: opens without asking
        assert repo.config.secret == secret and repo.head() == head
    assert json.loads((tmp_path / ".got" / "config.json").read_text())["secret"] == secret.hex()


def test_a_repository_without_one_never_asks(tmp_path):
    Repo.init(tmp_path).close()
    with Repo.open(tmp_path, passphrase=_never) as repo:
        assert repo.config.secret is not None and repo.config.wrapped is None


def test_an_unencrypted_repository_has_no_key_to_protect(tmp_path):
    with pytest.raises(ValueError):
        Repo.init(tmp_path / "a", encrypt=False, passphrase="pw")
    with Repo.init(tmp_path / "b", encrypt=False) as repo:
        with pytest.raises(ValueError):
            repo.set_passphrase("pw")
