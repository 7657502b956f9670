"""repo benchmark: the `got` command next to `git`, on the same data, in the same run.

Both tools are driven as real executables on copies of one real many-file tree (this
Python's stdlib, without __pycache__): first commit, a no-change commit, a one-file-edit
commit, status, diff of two commits (--stat), and checkout of an older commit. Each figure is
got's time, with git's time and the ratio git/got in the note (> 1: got is faster).

Then both store N versions of one big random file, each version with a few small in-place
edits: git keeps each version whole (zlib cannot shrink random data), got stores the
changed chunks. repo_size_ratio is git's repository size over got's.

--quick: a small tree (the stdlib's email package) and 3 versions of a 32 MiB file.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from benchmarks.gotfs import _random_bytes
from benchmarks.harness import Figure, timed

MiB = 1 << 20
ENV = dict(os.environ, GOT_AUTHOR="bench <bench@localhost>", GIT_AUTHOR_NAME="bench",
           GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")


def _got() -> list[str]:
    exe = shutil.which("got", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "cli.main"]


def _run(cmd: list[str], cwd: Path) -> float:
    t, _ = timed(lambda: subprocess.run(cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE))
    return t


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "site-packages"))


def _pair(figs: list[Figure], name: str, got_s: float, git_s: float, what: str) -> None:
    figs.append(Figure(name, got_s, "s", better="lower",
                       note=f"{what}; git {git_s:.3f} s, git/got {git_s / got_s:.2f}x"))


def _tree_ops(work: Path, tree: Path, figs: list[Figure]) -> None:
    got, gitw = work / "got", work / "git"
    _copy_tree(tree, got)
    _copy_tree(tree, gitw)
    files = sum(1 for p in got.rglob("*") if p.is_file())
    os.sync()
    g = _run(_got() + ["init"], got) + _run(_got() + ["commit", "-m", "first"], got)
    h = (_run(["git", "init", "-q"], gitw) + _run(["git", "add", "-A"], gitw)
         + _run(["git", "commit", "-q", "-m", "first"], gitw))
    _pair(figs, "commit_tree", g, h, f"first commit of {files} files")

    g = _run(_got() + ["commit", "--allow-empty", "-m", "again"], got)
    h = _run(["git", "add", "-A"], gitw) + _run(["git", "commit", "-q", "--allow-empty", "-m", "again"], gitw)
    _pair(figs, "commit_nochange", g, h, "no-change commit (scan only)")

    rel = sorted(p for p in got.rglob("*.py"))[0].relative_to(got)
    for base in (got, gitw):
        with open(base / rel, "a") as f:
            f.write("\n# edited\n")
    g = _run(_got() + ["commit", "-m", "edit"], got)
    h = _run(["git", "add", "-A"], gitw) + _run(["git", "commit", "-q", "-m", "edit"], gitw)
    _pair(figs, "commit_edit", g, h, "one-file-edit commit")

    g = _run(_got() + ["status"], got)
    h = _run(["git", "status", "--porcelain"], gitw)
    _pair(figs, "status", g, h, "status of a clean tree")

    g = _run(_got() + ["diff", "--stat", "HEAD~2", "HEAD"], got)
    h = _run(["git", "diff", "--stat", "HEAD~2", "HEAD"], gitw)
    _pair(figs, "diff", g, h, "diff --stat of two commits")

    g = _run(_got() + ["checkout", "HEAD~2"], got) + _run(_got() + ["checkout", "main"], got)
    h = _run(["git", "checkout", "-q", "HEAD~2"], gitw) + _run(["git", "checkout", "-q", "master"], gitw)
    _pair(figs, "checkout", g, h, "checkout of an older commit and back")


def _versions(work: Path, mib: int, n: int, figs: list[Figure]) -> None:
    got, gitw = work / "vgot", work / "vgit"
    got.mkdir()
    gitw.mkdir()
    _run(_got() + ["init"], got)
    _run(["git", "init", "-q"], gitw)
    rnd = random.Random(11)
    data = bytearray(_random_bytes(rnd, mib * MiB))
    t_got = t_git = 0.0
    for v in range(n):
        for _ in range(3):  # a few small in-place edits per version
            o = rnd.randrange(len(data) - 16)
            data[o:o + 16] = rnd.randbytes(16)
        for base in (got, gitw):
            (base / "big.bin").write_bytes(data)
        t_got += _run(_got() + ["commit", "-m", f"v{v}"], got)
        t_git += _run(["git", "add", "big.bin"], gitw) + _run(["git", "commit", "-q", "-m", f"v{v}"], gitw)
    got_size, git_size = _du(got / ".got"), _du(gitw / ".git")
    figs.append(Figure("versions_got_size", got_size / MiB, "MiB", better="lower",
                       note=f"{n} versions of a {mib} MiB random file, 3 small edits each"))
    figs.append(Figure("versions_git_size", git_size / MiB, "MiB", better="lower", note="same versions in git"))
    figs.append(Figure("repo_size_ratio", git_size / got_size, "ratio", note="git size / got size"))
    figs.append(Figure("versions_commit_time", t_got, "s", better="lower",
                       note=f"git {t_git:.2f} s, git/got {t_git / t_got:.2f}x"))


def run(quick: bool) -> list[Figure]:
    if shutil.which("git") is None:
        return []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    tree = stdlib / "email" if quick else stdlib
    figs: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="got-bench-repo-"))
    try:
        _tree_ops(work, tree, figs)
        _versions(work, 32 if quick else 1024, 3, figs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figs
