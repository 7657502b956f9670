"""Commit bodies kept in refs.sqlite (History.read_commit): read without opening a blob, checked
by their digest, never kept under a passphrase, and never trusted by fsck."""

from __future__ import annotations

import sqlite3

from gotfs.repo import Repo
from gotfs.repo.fsck import fsck

AUTHOR = "t <t@example.com>"


def _bodies(repo: Repo) -> dict[bytes, bytes]:
    with sqlite3.connect(repo.dot / "refs.sqlite") as db:
        return dict(db.execute("SELECT id, body FROM commit_bodies"))


def _commit(repo: Repo, text: str):
    (repo.workdir / "f.txt").write_text(text)
    return repo.commit_workdir(text, author=AUTHOR)[0]


def test_a_commit_is_kept_and_read_back_without_its_blob(tmp_path):
    with Repo.init(tmp_path) as repo:
        ref = _commit(repo, "one")
        commit = repo.read_commit(ref, kept=False)
        assert _bodies(repo) == {ref.cid: commit.to_bytes()}
        repo.store.delete([ref.cid])  # what is kept serves the log; fsck goes to the store
        assert repo.read_commit(ref) == commit and [c for _, c in repo.log()] == [commit]
        assert any("missing" in p for p in fsck(repo).problems)


def test_a_body_that_fails_its_digest_is_read_from_the_store_again(tmp_path):
    with Repo.init(tmp_path) as repo:
        ref = _commit(repo, "one")
        truth = repo.read_commit(ref, kept=False)
        forged = truth.to_bytes().replace(b'"one"', b'"two"')
        with sqlite3.connect(repo.dot / "refs.sqlite") as db:
            db.execute("UPDATE commit_bodies SET body=?", (forged,))
        assert repo.read_commit(ref) == truth
        assert _bodies(repo) == {ref.cid: truth.to_bytes()}  # and kept right again


def test_nothing_is_kept_under_a_passphrase_and_setting_one_drops_what_was(tmp_path):
    with Repo.init(tmp_path / "a", passphrase="pw") as repo:
        ref = _commit(repo, "one")
        assert repo.read_commit(ref).message == "one" and _bodies(repo) == {}
    with Repo.init(tmp_path / "b") as repo:
        _commit(repo, "one")
        assert _bodies(repo)
        repo.set_passphrase("pw")
        assert _bodies(repo) == {}
        files = [p for p in repo.dot.iterdir() if p.name.startswith("refs.sqlite")]
        assert not any(b'"message":"one"' in p.read_bytes() for p in files)  # no copy left in a page or the WAL
        ref = _commit(repo, "two")
        assert [c.message for _, c in repo.log()] == ["two", "one"] and _bodies(repo) == {}
        assert b"two" not in (repo.dot / "refs.sqlite").read_bytes()


def test_an_unencrypted_repository_keeps_bodies_too(tmp_path):
    with Repo.init(tmp_path, encrypt=False) as repo:
        ref = _commit(repo, "one")
        repo.store.delete([ref.cid])
        assert repo.read_commit(ref).message == "one"
