"""merge benchmark: a three-way merge of two branches of a 100k-file tree, beside `git merge`.

The tree: 100 directories of 1,000 small text files. Branch "ours" changes 10 files, branch
"theirs" 10 others (a conflict-free merge); a second pair also edits 10 files on both sides,
on different lines, so the merge line-merges them. Measured:

  merge_100k        gotfs.merge.merge with a cold node cache (ms); target <= 50
  nodes_read        nodes the merge loaded from the store (cold), beside the tree's node count
                    and what the two diffs alone read: the cost follows the change
  merge_100k_lines  the same with 10 files edited on both sides (line merges, ms)
  got_merge_command `got merge` run as a command in a 100k-file working directory (ms):
                    start-up, merge, the dirty check of the paths it writes, those writes, the commit
  git_merge         `git merge --no-edit` of the same trees in the same run (ms), the same way

--quick: 10k files.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.harness import Figure, timed
from benchmarks.repo import ENV, _got as _got_command


def _name(i: int) -> tuple[str, str]:
    return f"d{i // 1000:03}", f"f{i:06}.txt"


def _text(i: int) -> bytes:
    return b"".join(b"file %d line %d\n" % (i, k) for k in range(8))


def _edit(data: bytes, line: int, tag: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    lines[line] = tag + b"\n"
    return b"".join(lines)


def _plan(n: int) -> dict[str, dict[int, bytes]]:
    """The files each branch changes: ours and theirs disjoint; `both` on different lines."""
    rnd = random.Random(5)
    picked = rnd.sample(range(n), 30)
    ours = {i: _edit(_text(i), 1, b"ours") for i in picked[:10]}
    theirs = {i: _edit(_text(i), 1, b"theirs") for i in picked[10:20]}
    both_o = {i: _edit(_text(i), 1, b"ours") for i in picked[20:]}
    both_t = {i: _edit(_text(i), 6, b"theirs") for i in picked[20:]}
    return {"ours": ours, "theirs": theirs, "both_ours": {**ours, **both_o}, "both_theirs": {**theirs, **both_t}}


def _got(store_dir: Path, n: int, plan: dict) -> list[Figure]:
    from gotfs import FS
    from gotfs.dirs import mkdir
    from gotfs.files import write_file, write_files
    from gotfs.merge import merge
    from gotfs.tx import Tx
    from gotkv import LocalStore

    store = LocalStore(store_dir)
    fs = FS(store, secret=b"k" * 32)
    tx = Tx(fs, fs.new())
    for d in range((n + 999) // 1000):
        mkdir(tx, (b"d%03d" % d,))
    files = ((tuple(s.encode() for s in _name(i)), (lambda i=i: io.BytesIO(_text(i))), 0o644, None)
             for i in range(n))
    for _ in write_files(tx, files):
        pass
    base = tx.commit()

    def branch(changes: dict[int, bytes]):
        t = Tx(fs, base)
        for i, data in changes.items():
            write_file(t, tuple(s.encode() for s in _name(i)), data)
        return t.commit()

    roots = {k: branch(v) for k, v in plan.items()}
    store.flush()
    nodes = fs.kv.nodes
    tree_nodes = len(fs.kv.reachable([base]))

    def cold(fn):
        nodes.cache.clear()
        fs.data.cache.clear()
        nodes.reset_counters()
        t, result = timed(fn)
        return t, result, nodes.fetches

    t, (root, conflicts), fetched = cold(lambda: merge(fs, base, roots["ours"], roots["theirs"]))
    assert not conflicts and merge(fs, base, roots["theirs"], roots["ours"]).root == root
    _, _, diff_fetched = cold(lambda: (list(fs.kv.diff(base, roots["ours"])), list(fs.kv.diff(base, roots["theirs"]))))
    t2, (root2, conflicts2), fetched2 = cold(lambda: merge(fs, base, roots["both_ours"], roots["both_theirs"]))
    assert not conflicts2
    store.close()
    return [
        Figure("merge_100k", t * 1000, "ms", 50, "lower",
               note=f"{n} files, 10 changed on each side, cold node cache, LocalStore"),
        Figure("nodes_read", fetched, "nodes", better="lower",
               note=f"of {tree_nodes} in the tree; the two diffs alone read {diff_fetched}"),
        Figure("merge_100k_lines", t2 * 1000, "ms", better="lower",
               note=f"10 files each side plus 10 edited on both (line merges): {fetched2} nodes read"),
    ]


def _command(tool: list[str], repo: Path, n: int, plan: dict) -> float:
    """ms of `TOOL merge theirs` run as a command on `n` files (ours checked out): the same
    steps for git and got — first commit, branch, 10 edits each side, then the merge."""
    for i in range(n):
        d, f = _name(i)
        (repo / d).mkdir(parents=True, exist_ok=True)
        (repo / d / f).write_bytes(_text(i))

    def run(*args: str) -> None:
        subprocess.run([*tool, *args], cwd=repo, env=ENV, check=True, capture_output=True)

    def commit_changes(changes: dict[int, bytes], message: str) -> None:
        for i, data in changes.items():
            d, f = _name(i)
            (repo / d / f).write_bytes(data)
        run("commit", "-q", "-a", "-m", message) if tool == ["git"] else run("commit", "-m", message)

    if tool == ["git"]:
        run("init", "-q", "-b", "main")
        run("add", "-A")
        run("commit", "-q", "-m", "base")
        run("checkout", "-q", "-b", "theirs")
    else:
        run("init")
        run("commit", "-m", "base")
        run("switch", "-c", "theirs")
    commit_changes(plan["theirs"], "theirs")
    run("checkout", "-q", "main") if tool == ["git"] else run("switch", "main")
    commit_changes(plan["ours"], "ours")
    t, _ = timed(lambda: run("merge", "-q", "--no-edit", "theirs") if tool == ["git"] else run("merge", "theirs"))
    return t * 1000


def run(quick: bool) -> list[Figure]:
    n = 10_000 if quick else 100_000
    plan = _plan(n)
    work = Path(tempfile.mkdtemp(prefix="got-bench-merge-"))
    try:
        figs = _got(work / "store", n, plan)
        (work / "got").mkdir()
        got_ms = _command(_got_command(), work / "got", n, plan)
        figs.append(Figure("got_merge_command", got_ms, "ms", better="lower",
                           note="`got merge` as a command: start-up, merge, dirty check and writes of the "
                                "changed paths, the merge commit"))
        if shutil.which("git") is not None:
            (work / "git").mkdir()
            git_ms = _command(["git"], work / "git", n, plan)
            figs.append(Figure("git_merge", git_ms, "ms", better="lower",
                               note=f"`git merge` of the same trees, same run; git/got command "
                                    f"{git_ms / got_ms:.2f}x, git/got library {git_ms / figs[0].value:.0f}x"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figs
