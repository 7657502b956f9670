"""Merging in a repository through the library: merge base, the per-path dirty check, and
merge / continue / abort on the working directory (the command line is tests/cli/test_merge.py)."""

from __future__ import annotations

import os
import random

import pytest

from gotfs.repo import Repo, merging
from gotfs.repo.merging import MergeWouldOverwrite

AUTHOR = "t <t@example.com>"


def write(repo: Repo, files: dict[str, bytes | None]) -> None:
    for rel, data in files.items():
        p = repo.workdir / rel
        if data is None:
            p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def commit(repo: Repo, files: dict, message: str = "c"):
    write(repo, files)
    return repo.commit_workdir(message, author=AUTHOR)[0]


@pytest.fixture
def repo(tmp_path) -> Repo:
    r = Repo.init(tmp_path / "w")
    yield r
    r.close()


def test_merge_base_is_the_newest_common_ancestor(repo):
    root = commit(repo, {"a": b"1"})
    repo.create_branch("x")
    main1 = commit(repo, {"a": b"2"})
    repo.checkout("x")
    x1 = commit(repo, {"b": b"1"})
    assert merging.merge_base(repo, main1, x1) == root
    assert merging.merge_base(repo, root, x1) == root and merging.merge_base(repo, x1, x1) == x1
    assert merging.merge(repo, "main", author=AUTHOR).kind == "merged"
    m = repo.head()
    repo.checkout("main")
    main2 = commit(repo, {"c": b"1"})
    assert merging.merge_base(repo, main2, m) == main1  # not root: main1 is newer and common
    lone = repo.commit(repo.fs.new(), "a history of its own", author=AUTHOR, branch="lone")
    assert merging.merge_base(repo, main2, lone) is None
    with pytest.raises(merging.Unrelated):
        merging.merge(repo, "lone")


def test_dirty_looks_only_at_the_paths_and_agrees_with_status(repo):
    rnd = random.Random(4)
    files = {f"d{i % 3}/f{i}.txt": b"x%d\n" % i for i in range(30)}
    commit(repo, {**files, "link_target": b"t", ".gotignore": b"ignored/\n*.tmp\n"})
    os.symlink("link_target", repo.workdir / "ln")
    base_ref, base = repo.commit_workdir("with link", author=AUTHOR)
    names = sorted(files)
    for p in rnd.sample(names, 4):
        write(repo, {p: b"edited\n"})
    for p in rnd.sample(names, 3):
        (repo.workdir / p).unlink(missing_ok=True)
    os.chmod(repo.workdir / names[0], 0o755)
    write(repo, {"new.txt": b"untracked\n", "ignored/x": b"i", "a.tmp": b"t", "d9/new": b"n"})
    os.unlink(repo.workdir / "ln")
    os.symlink("elsewhere", repo.workdir / "ln")
    wc = repo.workcopy()
    try:
        status = {c.path for c in wc.status(base)}
        candidates = sorted(set(names) | status | {"ignored/x", "a.tmp", "nowhere", "d0", "ln", "d9"})
        assert set(wc.dirty(base, candidates)) == status & set(candidates)
    finally:
        wc.close()


def test_conflict_then_abort_then_continue(repo):
    commit(repo, {"doc.txt": b"1\n2\n3\n", "keep": b"k"})
    repo.create_branch("topic")
    commit(repo, {"doc.txt": b"1\nmain\n3\n"})
    ours = repo.head()
    repo.checkout("topic")
    commit(repo, {"doc.txt": b"1\ntopic\n3\n", "t": b"t"})
    repo.checkout("main")
    write(repo, {"keep": b"local edit"})
    out = merging.merge(repo, "topic", author=AUTHOR)
    assert out.kind == "conflict" and [c.path for c in out.conflicts] == ["doc.txt"]
    assert merging.state(repo).name == "topic"
    with pytest.raises(merging.MergeInProgress):
        merging.merge(repo, "topic")
    merging.abort_merge(repo)
    assert not (repo.workdir / "t").exists() and (repo.workdir / "doc.txt").read_bytes() == b"1\nmain\n3\n"
    assert (repo.workdir / "keep").read_bytes() == b"local edit" and repo.head() == ours
    merging.merge(repo, "topic", author=AUTHOR)
    with pytest.raises(merging.UnresolvedConflicts):
        merging.continue_merge(repo, author=AUTHOR)
    write(repo, {"doc.txt": b"1\nboth\n3\n"})
    ref = merging.continue_merge(repo, author=AUTHOR)
    c = repo.read_commit(ref)
    assert c.parents == (ours, repo.resolve("topic")) and c.message == "Merge branch 'topic' into main"
    assert repo.fs.read(c.root, "keep") == b"k"  # the unrelated local edit stays uncommitted
    assert [x.path for x in repo.status()] == ["keep"]


def test_a_dirty_path_stops_the_merge_before_anything_is_written(repo):
    commit(repo, {"a": b"1\n", "b": b"1\n"})
    repo.create_branch("topic")
    commit(repo, {"b": b"main\n"})
    repo.checkout("topic")
    commit(repo, {"a": b"topic\n", "c": b"new\n"})
    repo.checkout("main")
    write(repo, {"c": b"mine, untracked\n"})
    with pytest.raises(MergeWouldOverwrite, match="uncommitted changes to c"):
        merging.merge(repo, "topic")
    assert (repo.workdir / "a").read_bytes() == b"1\n" and merging.state(repo) is None
