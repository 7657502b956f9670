"""Packing groups (gotfs/packing.py): small files are chunked in content-defined groups, so a
release that changes scattered files stores those files' groups, not the whole tree again."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from gotfs import packing
from gotfs.repo import Repo

SALT = bytes(range(32))


def _groups(items):
    return list(packing.groups(items, lambda i: i[0], lambda i: i[1], SALT))


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=12), st.integers(0, 600_000)), max_size=300))
@settings(max_examples=200, deadline=None)
def test_groups_partition_in_order_and_are_bounded(items):
    groups = _groups(items)
    assert [i for g in groups for i in g] == items
    for g in groups:
        assert g
        if len(g) > 1:
            assert all(n < packing.ALONE for _, n in g)
            assert sum(n for _, n in g[:-1]) < packing.MAX_GROUP  # only the last file may cross it
    assert _groups(items) == groups  # the same items, the same groups


def test_a_changed_size_moves_few_group_boundaries():
    rng = random.Random(1)
    items = [(b"dir/file%05d" % i, rng.randint(100, 20_000)) for i in range(3000)]
    before = {tuple(p for p, _ in g) for g in _groups(items)}
    changed = list(items)
    changed[1500] = (changed[1500][0], changed[1500][1] + 15_000)
    after = {tuple(p for p, _ in g) for g in _groups(changed)}
    assert len(after - before) <= 3


def test_a_release_with_scattered_changes_stores_little(tmp_path):
    rng = random.Random(2)
    work = tmp_path / "w"
    files = {f"pkg{i % 40}/mod{i}.py": rng.randbytes(rng.randint(500, 2000)).hex().encode()
             for i in range(4000)}
    for rel, data in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    repo = Repo.init(work)
    repo.commit_workdir("one", author="t")
    first = repo.store.stats()["live_bytes"]
    for i in rng.sample(range(4000), 20):  # a release: 20 scattered files edited
        p = work / f"pkg{i % 40}/mod{i}.py"
        p.write_bytes(p.read_bytes() + b"# fixed\n")
    for rel in files:  # and every file rewritten, as unpacking a release does (new ctimes)
        (work / rel).write_bytes((work / rel).read_bytes())
    repo.commit_workdir("two", author="t")
    added = repo.store.stats()["live_bytes"] - first
    assert added < first / 4, (added, first)
    repo.close()
