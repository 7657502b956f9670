"""The commit graph of `got log --graph`, drawn in text as git draws it.

    *   3f0c… Merge branch 'topic'
    |\\
    | * 9a1e… on topic
    * | 77b2… on main
    |/
    * 0c4d… first

Each lane is a column (two characters wide) waiting for one commit. A commit takes its lane
(or a new one), marks it `*`, and hands the lane on to its first parent; further parents open
lanes to its right. Lanes waiting for the same commit join, and lanes to the right of a
closed one shift left; those moves are drawn one column per row with `\\` and `/`. Commits
must come children first (log order); parents not in the list end their lane. Cost: O(commits
x lanes) characters.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from gotfs.repo import Commit
from gotkv.blobs.ref import Ref


def graph(commits: Iterable[tuple[Ref, Commit]]) -> Iterator[tuple[Ref, Commit, str, list[str], str]]:
    """For each commit: (ref, commit, its row's prefix, the rows drawn after it, the prefix of
    the lines that follow those rows)."""
    commits = list(commits)
    listed = {ref.cid for ref, _ in commits}
    lanes: list[bytes] = []
    for ref, commit in commits:
        if ref.cid in lanes:
            col = lanes.index(ref.cid)
        else:
            lanes.append(ref.cid)
            col = len(lanes) - 1
        row = "".join("* " if i == col else "| " for i in range(len(lanes)))
        parents = list(dict.fromkeys(p.cid for p in commit.parents if p.cid in listed))
        sources = []
        for i, cid in enumerate(lanes):
            if i == col:
                sources += [(i, p) for p in parents]
            elif cid != ref.cid:  # another lane waiting for this commit ends here
                sources.append((i, cid))
        new: list[bytes] = []
        edges = []
        for src, cid in sources:
            if cid not in new:
                new.append(cid)
            edges.append((src, new.index(cid)))
        rows = _moves(edges)
        lanes = new
        yield ref, commit, row, rows, "| " * len(lanes)


def _moves(edges: list[tuple[int, int]]) -> list[str]:
    """Rows that carry each lane from its column to its new one, one column per row."""
    rows: list[str] = []
    cur = [src for src, _ in edges]
    while any(c != dst for c, (_, dst) in zip(cur, edges)):
        width = 2 * (max(cur + [dst for _, dst in edges]) + 1)
        chars = [" "] * width
        for k, (_, dst) in enumerate(edges):
            c = cur[k]
            if c == dst:
                chars[2 * c] = "|" if chars[2 * c] == " " else chars[2 * c]
            elif dst > c:
                chars[2 * c + 1] = "\\"
                cur[k] = c + 1
            else:
                chars[2 * c - 1] = "/"
                cur[k] = c - 1
        rows.append("".join(chars).rstrip())
    return rows
