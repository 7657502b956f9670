"""A merge stopped by conflicts, as the working directory keeps it until --continue or
--abort: what `got status` reads on every run.

Apart from gotfs/repo/merging.py (which makes and ends that state) so that a status, which
only asks whether a merge is in progress, imports neither the tree merge nor the text merge.
Cost of state(): one refs query.
"""

from __future__ import annotations

import json

from gotkv.blobs.ref import Ref
from gotkv.root import Root
from gotkv.value import Value

TYPE_CHECKING = False  # typing's flag without importing typing; checkers take it as True
if TYPE_CHECKING:
    from gotfs.repo.repo import Repo

STATE, MERGE_HEAD = "MERGE_STATE", "MERGE_HEAD"


class MergeState(Value):
    """A merge stopped by conflicts: what `got status`, --continue and --abort work from.
    (A Value, not a dataclass: status reads one on every run, and dataclasses costs ~8 ms.)"""

    __slots__ = ("orig", "theirs", "root", "name", "message", "conflicts", "touched")
    orig: Ref  # HEAD's commit when the merge started
    theirs: Ref
    root: Root  # the merged tree as written into the working directory
    name: str  # what was merged, as the user named it
    message: str
    conflicts: list[dict]  # {"path", "kind", "note"}
    touched: list[str]  # every working-directory path the merge wrote

    def __init__(self, orig: Ref, theirs: Ref, root: Root, name: str, message: str, conflicts: list[dict],
                 touched: list[str]) -> None:
        for field, value in zip(self.__slots__, (orig, theirs, root, name, message, conflicts, touched)):
            object.__setattr__(self, field, value)

    def to_json(self) -> str:
        return json.dumps({"orig": str(self.orig), "theirs": str(self.theirs), "root": str(self.root),
                           "name": self.name, "message": self.message, "conflicts": self.conflicts,
                           "touched": self.touched})

    @classmethod
    def from_json(cls, text: str) -> MergeState:
        d = json.loads(text)
        return cls(Ref.parse(d["orig"]), Ref.parse(d["theirs"]), Root.parse(d["root"]), d["name"],
                   d["message"], d["conflicts"], d["touched"])


def state(repo: Repo) -> MergeState | None:
    """The merge in progress in this working directory, if any."""
    text = repo.refs.get(STATE)
    return MergeState.from_json(text) if text else None


def still_marked(repo: Repo, path: str) -> bool:
    """True if the working file at `path` still holds conflict markers (a regular file only).
    Cost: one read of that file."""
    host = repo.workdir / path
    if host.is_symlink() or not host.is_file():
        return False
    from gotfs.mergetext import has_markers  # (merge3's import, only for a conflicted file)

    with open(host, "rb") as f:
        return has_markers(f.read())
