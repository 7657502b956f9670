"""An edit inside a big file seals and posts only the chunks it changed: the working copy
hands the file's previous chunks to the chunker (DataStore.write_many's `known`), and every
chunk that seals to one of them is taken as stored. The root must be the one a write of the
same contents from scratch makes (history independence)."""

from __future__ import annotations

import random

import pytest

from gotfs.repo import Repo
from tests.gotfs.repo.test_basetree import _age, _commit, _staged

MiB = 1 << 20


@pytest.fixture
def repo(tmp_path) -> Repo:
    r = Repo.init(tmp_path / "w")
    yield r
    r.close()


def _data_posts(repo: Repo, monkeypatch) -> list[int]:
    """Record the size of every data chunk posted from now on (nodes are far smaller)."""
    sizes: list[int] = []
    post = repo.fs.store.post

    def counting(data, cid=None):
        if len(data) >= 64 << 10:
            sizes.append(len(data))
        return post(data, cid)

    monkeypatch.setattr(repo.fs.store, "post", counting)
    return sizes


@pytest.mark.parametrize("where", [0, 0.5, 0.999])
@pytest.mark.parametrize("neighbours", [0, 30], ids=["alone", "with-small-files"])
def test_a_one_byte_overwrite_posts_at_most_two_chunks_and_keeps_the_root(repo, monkeypatch, where, neighbours):
    rnd = random.Random(7)
    big = repo.workdir / "big.bin"
    data = bytearray(rnd.randbytes(12 * MiB))
    big.write_bytes(data)
    for i in range(neighbours):  # (more than half of the files unchanged: the base tree is edited)
        (repo.workdir / f"s{i}.txt").write_bytes(rnd.randbytes(rnd.randrange(1, 5000)))
    _age(repo)
    _commit(repo)
    at = int(where * (len(data) - 1))
    data[at] ^= 0xFF
    big.write_bytes(data)
    _age(repo)
    posts = _data_posts(repo, monkeypatch)
    root = _commit(repo)
    monkeypatch.undo()
    assert len(posts) <= 2, posts
    assert repo.fs.read(root, "big.bin") == data
    assert root == _staged(repo)  # the tree a write of everything, nothing known, makes


def test_only_previous_chunks_the_store_still_holds_are_skipped(repo, monkeypatch):
    """`known` holds only refs the store still has: a chunk gone from it is sealed again."""
    big = repo.workdir / "big.bin"
    data = bytearray(random.Random(3).randbytes(8 * MiB))
    big.write_bytes(data)
    _age(repo)
    _commit(repo)
    data[10] ^= 1  # (the first chunk changes)
    big.write_bytes(data)
    _age(repo)
    exists = repo.fs.store.exists
    monkeypatch.setattr(repo.fs.store, "exists", lambda cids: set(sorted(exists(cids))[::2]))
    posts = _data_posts(repo, monkeypatch)
    root = _commit(repo)
    monkeypatch.undo()
    assert 2 * MiB < sum(posts) < 7 * MiB  # about half, not all, posted again
    assert repo.fs.read(root, "big.bin") == data
    assert root == _staged(repo)
