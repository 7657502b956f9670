"""bigtree benchmark: commits and status of a 100k-file working directory, beside git's.

The tree: 100,000 files of ~1 KiB (hex text) in 1,000 directories. Both tools run as real
processes on their own copy of it, in one run (got with GOT_AUTO_GC=0, git with gc.auto=0):

  first_commit_s       got init + the first commit (git: init, add -A, commit)
  first_commit_rss     peak RSS of that commit (MiB; /usr/bin/time %M); target <= 128
  status_nochange_s    `got status` with nothing changed (git status); target <= 1
  commit_nochange_s    `got commit --allow-empty` with nothing changed (git add -A + commit
                       --allow-empty); target <= 1
  commit_one_s         a commit after one file is edited (git add -A + commit); target <= 1
  commit_rss           the largest peak RSS of the no-change and one-file commits (MiB); target <= 128

The files are aged past the stat cache's racily-clean window (two seconds) before the
no-change figures, as they would be in a real working directory. The status and commit
figures are medians of three rounds, got and git alternating; each note gives git's.

--quick: 10,000 files in 100 directories.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

from benchmarks.harness import Figure
from benchmarks.peertools import ENV, Run, _got, _measure

RACY_S = 2.1
REPEAT = 3  # rounds of each later step, the tools alternating; the median is reported
GIT = ["git", "-c", "gc.auto=0", "-c", "maintenance.auto=false"]  # no gc left running in the background


def _make_tree(root: Path, files: int, dirs: int) -> None:
    rnd = random.Random(24)
    per_dir = files // dirs
    for d in range(dirs):
        sub = root / f"d{d:04}"
        sub.mkdir(parents=True)
        for i in range(per_dir):
            n = d * per_dir + i
            (sub / f"f{n:06}.txt").write_bytes(rnd.randbytes(512).hex().encode()[:1000 + n % 48])


def _edit_one(root: Path) -> None:
    name = sorted(os.listdir(root / "d0000"))[len(os.listdir(root / "d0000")) // 2]
    with open(root / "d0000" / name, "ab") as f:
        f.write(b"edited\n")


def run(quick: bool) -> list[Figure]:
    files, dirs = (10_000, 100) if quick else (100_000, 1_000)
    got, git = _got(), shutil.which("git")
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="got-bigtree-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        g, h = work / "got" / "tree", work / "git" / "tree"
        _make_tree(g, files, dirs)
        shutil.copytree(g, h)
        subprocess.run(["sync"], check=True)
        tools = {"got": g, "git": h} if git else {"got": g}
        cmds = {
            "first": {"got": [got + ["init"], got + ["commit", "-m", "first"]],
                      "git": [["git", "init", "-q"], GIT + ["add", "-A"], GIT + ["commit", "-q", "-m", "first"]]},
            "status": {"got": [got + ["status"]], "git": [GIT + ["status"]]},
            "nochange": {"got": [got + ["commit", "--allow-empty", "-m", "again"]],
                         "git": [GIT + ["add", "-A"], GIT + ["commit", "-q", "--allow-empty", "-m", "again"]]},
            "one": {"got": [got + ["commit", "-m", "one"]],
                    "git": [GIT + ["add", "-A"], GIT + ["commit", "-q", "-m", "one"]]},
        }
        res: dict[tuple[str, str], Run] = {}

        def each(step: str, repeat: int = 1, before=None) -> None:
            """Run `step` with each tool in turn, `repeat` rounds: the median time, the peak RSS."""
            runs: dict[str, list[Run]] = {tool: [] for tool in tools}
            for _ in range(repeat):
                if before:
                    before()
                for tool, cwd in tools.items():
                    runs[tool].append(_measure(cmds[step][tool], cwd, ENV))
            for tool, got_runs in runs.items():
                res[step, tool] = Run(median(r.seconds for r in got_runs), max(r.rss_mib for r in got_runs))

        def edit() -> None:
            for cwd in tools.values():
                _edit_one(cwd)
            time.sleep(RACY_S)

        each("first")
        time.sleep(RACY_S)
        each("status", REPEAT)
        each("nochange", REPEAT)
        each("one", REPEAT, edit)

    def note(step: str, what: str) -> str:
        other = res.get((step, "git"))
        return f"{what}; git {other.seconds:.2f} s" if other else what

    tree = f"{files:,} files of ~1 KiB in {dirs:,} dirs"
    figs.append(Figure("first_commit_s", res["first", "got"].seconds, "s", better="lower",
                       note=note("first", f"init + first commit of {tree}")))
    figs.append(Figure("first_commit_rss", res["first", "got"].rss_mib, "MiB", 128, "lower",
                       note=f"peak RSS of the first commit; git {res['first', 'git'].rss_mib:.0f} MiB" if git else ""))
    figs.append(Figure("status_nochange_s", res["status", "got"].seconds, "s", 1.0, "lower",
                       note=note("status", "status, nothing changed")))
    figs.append(Figure("commit_nochange_s", res["nochange", "got"].seconds, "s", 1.0, "lower",
                       note=note("nochange", "commit --allow-empty, nothing changed")))
    figs.append(Figure("commit_one_s", res["one", "got"].seconds, "s", 1.0, "lower",
                       note=note("one", "commit after one file edited")))
    figs.append(Figure("commit_rss", max(res["nochange", "got"].rss_mib, res["one", "got"].rss_mib), "MiB",
                       128, "lower", note="largest peak RSS of the no-change and one-file commits"))
    return figs
