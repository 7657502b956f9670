"""Versioning on gotfs: commits, branches and tags (Repo), the working directory (WorkCopy)."""

from gotfs.repo.commit import Commit, commit_id
from gotfs.repo.repo import Repo
from gotfs.repo.workcopy import WorkCopy

__all__ = ["Repo", "WorkCopy", "Commit", "commit_id"]
