"""push, fetch, pull and clone through the library, on a directory remote and a real S3 engine.

The same tests run on both engines (the `remote_url` fixture); what a user meets at the
command line (exit codes, one-line errors, racing processes, kill -9) is in tests/cli/test_remote.py.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from gotfs.repo import Repo
from gotfs.repo import merging, remotes as R
from gotkv.blobs.remote.objects import RemoteError
from gotkv.blobs.remote.url import open_objects
from gotkv.errors import InvalidInput

AUTHOR = "t <t@example.com>"


@pytest.fixture(params=["dir", "s3"])
def remote_url(request, tmp_path) -> str:
    if request.param == "dir":
        return str(tmp_path / "remote")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/repo"


def make_repo(path: Path, files: dict[str, bytes]) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    repo = Repo.init(path)
    repo.commit_workdir("first", author=AUTHOR)
    return repo


def tree(path: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != ".got"]
        for name in filenames:
            p = Path(dirpath) / name
            out[p.relative_to(path).as_posix()] = p.read_bytes()
    return out


def commit(repo: Repo, files: dict[str, bytes], message: str = "change") -> None:
    for rel, data in files.items():
        (repo.workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo.workdir / rel).write_bytes(data)
    repo.commit_workdir(message, author=AUTHOR)


FILES = {"notes.txt": b"the plaintext canary 7f3a\n", "src/a.py": b"print('canary')\n" * 50,
         "big.bin": random.Random(1).randbytes(6 << 20)}


def test_push_then_clone_gives_the_same_tree_and_root(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", FILES)
    R.add_remote(a, "origin", remote_url)
    report = R.push(a, "origin")
    assert report.commits == 1 and report.bytes > 6 << 20
    b, cloned, branch = R.clone(remote_url, tmp_path / "b", a.config.secret)
    assert branch == "main" and cloned.commits == 1
    assert tree(tmp_path / "b") == FILES
    assert b.head() == a.head() and b.head_root() == a.head_root()  # same key and salt: same blobs
    assert R.push(a, "origin").refs == {}  # nothing new: up to date
    a.close(), b.close()


def test_push_costs_what_changed(tmp_path, remote_url):
    """A one-byte edit in a large file sends at most 3 chunks plus the changed nodes."""
    big = bytearray(random.Random(2).randbytes(24 << 20))
    a = make_repo(tmp_path / "a", {"big.bin": bytes(big), "small.txt": b"x"})
    R.add_remote(a, "origin", remote_url)
    first = R.push(a, "origin")
    big[len(big) // 2] ^= 1
    commit(a, {"big.bin": bytes(big)})
    second = R.push(a, "origin")
    assert second.commits == 1
    assert second.bytes < 3 * (4 << 20) + (256 << 10), second
    assert second.bytes < first.bytes / 4
    assert second.requests <= 6, second  # catch up, one pack, one journal entry (+ its catch-up)
    a.close()


def test_fetch_and_pull_fast_forward(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", FILES)
    R.add_remote(a, "origin", remote_url)
    R.push(a, "origin")
    b, _, _ = R.clone(remote_url, tmp_path / "b", a.config.secret)
    commit(b, {"notes.txt": b"edited on b\n", "new/file": b"n"}, "from b")
    R.push(b, "origin")
    report = R.fetch(a, "origin")
    assert report.commits == 1 and set(report.refs) == {"remotes/origin/main"}
    assert a.resolve("origin/main") == b.head()
    assert a.head() != b.head()
    _, outcome = R.pull(a, "origin")
    assert outcome == "fast-forward"
    assert a.head() == b.head() and tree(tmp_path / "a") == tree(tmp_path / "b")
    assert R.pull(a, "origin")[1] == "up to date"
    a.close(), b.close()


def test_diverged_push_is_refused_and_pull_merges_with_conflicts(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", {"f": b"1\n"})
    R.add_remote(a, "origin", remote_url)
    R.push(a, "origin")
    b, _, _ = R.clone(remote_url, tmp_path / "b", a.config.secret)
    commit(a, {"f": b"from a\n"})
    commit(b, {"f": b"from b\n"})
    R.push(a, "origin")
    with pytest.raises(R.RemoteMoved, match="origin/main has moved: fetch, then merge"):
        R.push(b, "origin")
    R.fetch(b, "origin")
    assert b.resolve("origin/main") == a.head()
    mine = b.head()
    assert R.pull(b, "origin")[1] == "conflict"
    assert (tmp_path / "b" / "f").read_bytes() == (b"<<<<<<< HEAD\nfrom b\n=======\nfrom a\n"
                                                   b">>>>>>> origin/main\n")
    assert b.head() == mine  # nothing committed yet
    merging.abort_merge(b)
    assert (tmp_path / "b" / "f").read_bytes() == b"from b\n"  # exactly as before the pull
    assert R.pull(b, "origin")[1] == "conflict"
    (tmp_path / "b" / "f").write_bytes(b"from both\n")
    merged = merging.continue_merge(b, author=AUTHOR)
    assert b.read_commit(merged).parents == (mine, a.head())
    R.push(b, "origin")  # a fast-forward of the remote now
    assert R.pull(a, "origin")[1] == "fast-forward"
    assert tree(tmp_path / "a") == tree(tmp_path / "b") == {"f": b"from both\n"}
    a.close(), b.close()


def test_pull_merges_diverged_branches_and_push_fast_forwards(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", {"shared.txt": b"1\n2\n3\n"})
    R.add_remote(a, "origin", remote_url)
    R.push(a, "origin")
    b, _, _ = R.clone(remote_url, tmp_path / "b", a.config.secret)
    commit(a, {"from_a.txt": b"a", "shared.txt": b"1 from a\n2\n3\n"})
    commit(b, {"from_b.txt": b"b", "shared.txt": b"1\n2\n3 from b\n"})
    R.push(a, "origin")
    assert R.pull(b, "origin")[1] == "merged"
    head = b.read_commit(b.head())
    assert len(head.parents) == 2 and head.parents[1] == a.head()
    assert tree(tmp_path / "b") == {"from_a.txt": b"a", "from_b.txt": b"b", "shared.txt": b"1 from a\n2\n3 from b\n"}
    assert b.status() == []
    R.push(b, "origin")
    assert R.pull(a, "origin")[1] == "fast-forward"
    assert a.head() == b.head() and tree(tmp_path / "a") == tree(tmp_path / "b")
    a.close(), b.close()


def test_push_delete_and_other_branches(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", {"f": b"1"})
    R.add_remote(a, "origin", remote_url)
    a.create_branch("feature")
    R.push(a, "origin", "main")
    R.push(a, "origin", "feature")
    R.fetch(a, "origin")
    assert set(a.refs.list("remotes/origin/")) == {"remotes/origin/main", "remotes/origin/feature"}
    R.push(a, "origin", "feature", delete=True)
    R.fetch(a, "origin")
    assert set(a.refs.list("remotes/origin/")) == {"remotes/origin/main"}
    a.close()


def test_the_remote_sees_only_ciphertext(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", FILES)
    a.create_branch("secret-branch-name")
    R.add_remote(a, "origin", remote_url)
    R.push(a, "origin")
    R.push(a, "origin", "secret-branch-name")
    objects = open_objects(remote_url)
    keys = list(objects.list(""))
    assert any(k.startswith("packs/") for k in keys) and any(k.startswith("journal/") for k in keys)
    everything = b"".join(objects.get(k) for k in keys) + "".join(keys).encode()
    for plain in (b"canary", b"notes.txt", b"secret-branch-name", b"heads/main", b"first",
                  a.config.secret, a.config.secret.hex().encode(), a.config.salt.hex().encode()):
        assert plain not in everything, plain
    a.close()


def test_a_push_of_many_small_files_costs_few_requests(tmp_path, remote_url):
    files = {f"d{i % 20}/f{i}.txt": f"small file {i}\n".encode() * (i % 7 + 1) for i in range(2000)}
    a = make_repo(tmp_path / "a", files)
    R.add_remote(a, "origin", remote_url)
    report = R.push(a, "origin")
    assert report.requests <= 10, report
    b, cloned, _ = R.clone(remote_url, tmp_path / "b", a.config.secret)
    assert tree(tmp_path / "b") == files
    assert cloned.requests <= 20, cloned
    a.close(), b.close()


def test_wrong_key_other_repo_and_not_a_remote(tmp_path, remote_url):
    a = make_repo(tmp_path / "a", {"f": b"1"})
    R.add_remote(a, "origin", remote_url)
    R.push(a, "origin")
    with pytest.raises(RemoteError, match="the key does not open"):
        R.clone(remote_url, tmp_path / "b", bytes(32))
    assert not (tmp_path / "b").exists()  # nothing written before the key was checked
    other = make_repo(tmp_path / "other", {"g": b"2"})
    with pytest.raises(RemoteError, match="the key does not open"):
        R.add_remote(other, "origin", remote_url)
    assert R.remotes(other) == {}
    with pytest.raises(RemoteError, match="not a got remote"):
        R.clone(remote_url + "-nothing-here", tmp_path / "c", a.config.secret)
    a.close(), other.close()


def test_a_place_holding_other_data_is_refused(tmp_path):
    place = tmp_path / "not-empty"
    place.mkdir()
    (place / "holiday.jpg").write_bytes(b"jpeg")
    a = make_repo(tmp_path / "a", {"f": b"1"})
    R.add_remote(a, "origin", str(place))
    with pytest.raises(RemoteError, match="holds other data"):
        R.push(a, "origin")
    assert sorted(os.listdir(place)) == ["holiday.jpg"]
    a.close()


def test_a_remote_written_by_a_newer_got_is_refused(tmp_path):
    a = make_repo(tmp_path / "a", {"f": b"1"})
    R.add_remote(a, "origin", str(tmp_path / "r"))
    R.push(a, "origin")
    marker = tmp_path / "r" / "got-remote"
    marker.write_text(marker.read_text().replace('"format": 1', '"format": 99'))
    with pytest.raises(RemoteError, match="newer got"):
        R.fetch(a, "origin")
    a.close()


def test_an_unencrypted_repo_cannot_use_remotes(tmp_path):
    path = tmp_path / "plain"
    path.mkdir()
    repo = Repo.init(path, encrypt=False)
    with pytest.raises(InvalidInput, match="not encrypted"):
        R.add_remote(repo, "origin", str(tmp_path / "r"))
    repo.close()


def test_key_text_round_trip(tmp_path):
    a = make_repo(tmp_path / "a", {"f": b"1"})
    assert R.parse_key(R.key_text(a) + "\n") == a.config.secret
    for bad in ("", "got-key-1:abc", "zz" * 32, "got-key-2:" + "00" * 32):
        with pytest.raises(InvalidInput):
            R.parse_key(bad)
    a.close()
