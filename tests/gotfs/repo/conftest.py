"""Fixtures shared by the tests of gotfs.repo (a module's own `repo` fixture overrides this one)."""

from __future__ import annotations

import pytest

from gotfs.repo import Repo


@pytest.fixture
def repo(tmp_path):
    """A repository whose working directory holds a.txt = "one\\n", committed once."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("one\n")
    r = Repo.init(work)
    r.commit_workdir("first", author="t")
    yield r
    r.close()
