"""Versioning on gotfs: commits, branches and tags (Repo), the working directory (WorkCopy)."""

from gotkv.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Commit": "gotfs.repo.commit",
    "commit_id": "gotfs.repo.commit",
    "Repo": "gotfs.repo.repo",
    "WorkCopy": "gotfs.repo.workcopy",
})

__all__ = ["Repo", "WorkCopy", "Commit", "commit_id"]
