"""cli benchmark: what a `got` command costs as a whole process, beside Python and git.

On one tree of small files (10,000; --quick: 1,000), committed in got and in git, each round
runs every command once, in an order that alternates between rounds, and each figure is the
median over the rounds of a ratio taken within that round:

- start-up: `got --version` and `got help` against a bare `python -c pass` of the same
  interpreter (target 1.5x);
- reads: `got log -n 10`, `got show` (a commit that changed one file), `got cat` and
  `got branch` against the same bare start (target 2x);
- the working directory: a no-change `got status` and `got diff` of one edited file against
  git's (target 3x), and a one-file commit against `git commit -a` (target 4x);
- the floors of a read, no target: a script with none of got's code that does what `got log`
  cannot do without (argparse, config.json through json, two queries of refs.sqlite through
  sqlite3), and the same plus what opening one blob needs (the store's index, cryptography's
  AEAD, zstandard, blake3), against the same bare start: what log/branch and show/cat could
  reach if got's own modules and work cost nothing.

The absolute medians are in each note, with the same ratio taken on CPU time (user + system
of the child), which a loaded machine disturbs less. Run on a quiet machine: a second process
competing for the CPU stretches Python's start-up more than git's.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Figure
from benchmarks.repo import ENV as _REPO_ENV, _got

# No background gc competing with the timings; and bytecode cached, as an install leaves it
# (scripts/install.sh compiles it): PYTHONDONTWRITEBYTECODE would recompile got at every start.
ENV = {k: v for k, v in dict(_REPO_ENV, GOT_AUTO_GC="0").items() if k != "PYTHONDONTWRITEBYTECODE"}

START_TARGET, READ_TARGET, WORK_TARGET, COMMIT_TARGET = 1.5, 2.0, 3.0, 4.0

# See the module docstring. argparse is told its width, as cli.main's formatter is (argparse
# would import shutil to find it); the AEAD comes from cryptography's bindings, as the codec's does.
FLOOR_READ = """
import argparse, json, sqlite3, sys
p = argparse.ArgumentParser(prog="got log", formatter_class=lambda prog: argparse.HelpFormatter(prog, width=78))
p.add_argument("rev", nargs="?"); p.add_argument("--oneline", action="store_true")
p.add_argument("-n", "--max-count", type=int); p.add_argument("--json", action="store_true")
p.parse_args(sys.argv[1:])
with open(".got/config.json") as f:
    json.load(f)
db = sqlite3.connect(".got/refs.sqlite")
refs = dict(db.execute("SELECT name, value FROM refs"))
for row in db.execute("SELECT id FROM commit_bodies LIMIT 10"):
    print(row[0].hex())
"""
FLOOR_BLOB = FLOOR_READ + """
import blake3, zstandard
from cryptography.hazmat.bindings._rust import openssl
sqlite3.connect(".got/store/index.sqlite").execute("SELECT 1").fetchall()
aead = openssl.aead.AESGCM(blake3.blake3(b"a blob", key=bytes(32)).digest())
sealed = aead.encrypt(bytes(12), zstandard.ZstdCompressor().compress(b"file 1\\n" * 8), b"\\x01")
sys.stdout.buffer.write(zstandard.ZstdDecompressor().decompress(aead.decrypt(bytes(12), sealed, b"\\x01")))
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `cmd`."""
    t0, c0 = time.perf_counter(), _cpu()
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0, _cpu() - c0


def _make_tree(top: Path, files: int) -> None:
    per_dir = 100
    for i in range(files):
        d = top / f"d{i // per_dir:03}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i % per_dir:03}.txt").write_text(f"file {i}\n" * 8)


def _setup(work: Path, files: int) -> tuple[Path, Path]:
    got_dir, git_dir = work / "got", work / "git"
    for d in (got_dir, git_dir):
        d.mkdir()
        _make_tree(d, files)
    got = _got()
    subprocess.run(got + ["init"], cwd=got_dir, env=ENV, check=True, capture_output=True)
    subprocess.run(got + ["commit", "-m", "first"], cwd=got_dir, env=ENV, check=True, capture_output=True)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "first"]):
        subprocess.run(cmd, cwd=git_dir, env=ENV, check=True, capture_output=True)
    for d in (got_dir, git_dir):  # a second commit that changes one file, for `got show`
        (d / "d000" / "f000.txt").write_text("second\n")
    subprocess.run(got + ["commit", "-m", "second"], cwd=got_dir, env=ENV, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-qam", "second"], cwd=git_dir, env=ENV, check=True, capture_output=True)
    return got_dir, git_dir


def _round(got_dir: Path, git_dir: Path, n: int, flip: bool) -> dict[str, tuple[float, float]]:
    """One pass over every command; `flip` reverses the order (alternation across rounds)."""
    got = _got()
    bare = [sys.executable, "-c", "pass"]
    steps = [
        ("python", bare, got_dir),
        ("floor_read", [sys.executable, "-c", FLOOR_READ, "-n", "10"], got_dir),
        ("floor_blob", [sys.executable, "-c", FLOOR_BLOB, "-n", "10"], got_dir),
        ("version", got + ["--version"], got_dir),
        ("help", got + ["help"], got_dir),
        ("log", got + ["log", "-n", "10"], got_dir),
        ("show", got + ["show"], got_dir),
        ("cat", got + ["cat", "HEAD:d000/f001.txt"], got_dir),
        ("branch", got + ["branch"], got_dir),
        ("status", got + ["status"], got_dir),
        ("git_status", ["git", "status"], git_dir),
    ]
    times = {}
    for name, cmd, cwd in reversed(steps) if flip else steps:
        times[name] = _time(cmd, cwd)
    edit = f"edit {n}\n"
    for d in (got_dir, git_dir):
        (d / "d001" / "f001.txt").write_text(edit)
    pairs = [("diff", got + ["diff"], got_dir), ("git_diff", ["git", "diff"], git_dir)]
    commits = [("commit", got + ["commit", "-m", f"edit {n}"], got_dir),
               ("git_commit", ["git", "commit", "-qam", f"edit {n}"], git_dir)]
    for name, cmd, cwd in (pairs[::-1] + commits[::-1]) if flip else (pairs + commits):
        times[name] = _time(cmd, cwd)
    return times


def run(quick: bool) -> list[Figure]:
    files, rounds = (1000, 3) if quick else (10_000, 9)
    with tempfile.TemporaryDirectory(prefix="got-bench-cli-") as tmp:
        got_dir, git_dir = _setup(Path(tmp), files)
        for d in (got_dir, git_dir):  # warm the page cache and got's stat cache once
            _time(_got() + ["status"] if d == got_dir else ["git", "status"], d)
        samples = [_round(got_dir, git_dir, n, flip=n % 2 == 1) for n in range(rounds)]

    def med(name: str) -> float:
        return statistics.median(s[name][0] for s in samples)

    def ratio(name: str, base: str, which: int = 0) -> float:
        return statistics.median(s[name][which] / s[base][which] for s in samples)

    figs = []
    for name, target in (("version", START_TARGET), ("help", START_TARGET), ("log", READ_TARGET),
                         ("show", READ_TARGET), ("cat", READ_TARGET), ("branch", READ_TARGET)):
        figs.append(Figure(f"{name}_vs_python", ratio(name, "python"), "x", target, "lower",
                           note=f"got {med(name) * 1e3:.0f} ms, python -c pass {med('python') * 1e3:.0f} ms; "
                                f"on CPU time {ratio(name, 'python', 1):.2f}x"))
    for name, what in (("floor_read", "argparse, json, sqlite3: under log and branch"),
                       ("floor_blob", "and a blob's AEAD, zstandard, blake3: under show and cat")):
        figs.append(Figure(f"{name}_vs_python", ratio(name, "python"), "x", None, "lower",
                           note=f"{what}; {med(name) * 1e3:.0f} ms; on CPU time {ratio(name, 'python', 1):.2f}x"))
    for name, target in (("status", WORK_TARGET), ("diff", WORK_TARGET), ("commit", COMMIT_TARGET)):
        figs.append(Figure(f"{name}_vs_git", ratio(name, f"git_{name}"), "x", target, "lower",
                           note=f"got {med(name) * 1e3:.0f} ms, git {med('git_' + name) * 1e3:.0f} ms, "
                                f"{files} files; on CPU time {ratio(name, f'git_{name}', 1):.2f}x"))
    return figs

