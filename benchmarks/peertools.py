"""The peers benchmark's tools: got, restic, borg and git driven as real processes, each in
a fresh repository, and how one run of commands is measured (wall time, peak RSS, the
repository's bytes). benchmarks/peers.py runs the workloads through them; bigtree.py
measures with the same helpers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


MiB = 1 << 20
TOOLS = ("got", "restic", "borg", "git")
PACKAGES = {"restic": "restic", "borg": "borgbackup", "git": "git"}
ENV = dict(os.environ, GOT_AUTHOR="bench <bench@localhost>", GOT_AUTO_GC="0",
           GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
           GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost",
           RESTIC_PASSWORD="bench", BORG_PASSPHRASE="bench",
           BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
           BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="YES")


# -- processes ------------------------------------------------------------------------

def _got() -> list[str]:
    exe = shutil.which("got", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "cli.main"]


@dataclass
class Run:
    seconds: float = 0.0
    rss_mib: float = 0.0


def _measure(cmds: list[list[str]], cwd: Path, env: dict) -> Run:
    """Run `cmds` one after another: total wall seconds and the largest peak RSS among them.

    Peak RSS is GNU time's %M: the tool is time's child, forked from a small process (a child
    forked from this one would carry this interpreter's high-water mark across execve)."""
    out = Run()
    tfile = cwd.parent / ".bench-time"
    use_time = os.path.exists("/usr/bin/time")
    for cmd in cmds:
        full = (["/usr/bin/time", "-o", str(tfile), "-f", "%M"] + cmd) if use_time else cmd
        t0 = time.perf_counter()
        done = subprocess.run(full, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.seconds += time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}): "
                               + done.stderr.decode(errors="replace").strip()[-300:])
        if use_time:
            out.rss_mib = max(out.rss_mib, int(tfile.read_text().split()[-1]) / 1024)
    return out


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def _sync() -> None:
    os.sync()


def _drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((w for w in out if w[:1].isdigit()), "?")


def _ensure_peers(install: bool) -> dict[str, str]:
    """The peers on PATH, by name -> version; with `install`, apt-get the missing ones first."""
    missing = [t for t in PACKAGES if shutil.which(t) is None]
    if missing and install and shutil.which("apt-get") and os.geteuid() == 0:
        pkgs = [PACKAGES[t] for t in missing]
        apt = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs]
        if subprocess.run(cmd, env=apt, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=apt, capture_output=True)
            subprocess.run(cmd, env=apt, capture_output=True)
    found = {}
    for t in PACKAGES:
        if shutil.which(t):
            found[t] = _version([t, "version"] if t == "restic" else [t, "--version"])
    return found


# -- the tools ------------------------------------------------------------------------

class Tool:
    """One tool's fresh repository over one data directory."""

    name = ""

    def __init__(self, data: Path, repos: Path, tag: str) -> None:
        self.data = data
        self.repo = repos / f"{self.name}-{tag}"
        self.env = dict(ENV)
        self.n = 0

    def init(self) -> None: ...

    def snapshot_cmds(self) -> list[list[str]]: ...

    def snapshot(self) -> Run:
        self.n += 1
        return _measure(self.snapshot_cmds(), self.data, self.env)

    def size(self) -> int:
        return _du(self.repo)


class Got(Tool):
    name = "got"

    def __init__(self, data: Path, repos: Path, tag: str) -> None:
        super().__init__(data, repos, tag)
        self.repo = data / ".got"

    def init(self) -> None:
        _measure([_got() + ["init"]], self.data, self.env)

    def snapshot_cmds(self) -> list[list[str]]:
        return [_got() + ["commit", "--allow-empty", "-m", f"s{self.n}"]]


class Git(Tool):
    name = "git"

    def _git(self) -> list[str]:
        return ["git", f"--git-dir={self.repo}", f"--work-tree={self.data}"]

    def init(self) -> None:
        _measure([self._git() + ["init", "-q"]], self.data, self.env)
        (self.repo / "info").mkdir(exist_ok=True)
        (self.repo / "info" / "exclude").write_text("/.got/\n")

    def snapshot_cmds(self) -> list[list[str]]:
        return [self._git() + ["add", "-A"], self._git() + ["commit", "-q", "--allow-empty", "-m", f"s{self.n}"]]


class Restic(Tool):
    name = "restic"

    def __init__(self, data: Path, repos: Path, tag: str) -> None:
        super().__init__(data, repos, tag)
        self.env.update(RESTIC_REPOSITORY=str(self.repo), RESTIC_CACHE_DIR=str(repos / f"cache-restic-{tag}"))

    def init(self) -> None:
        _measure([["restic", "init"]], self.data, self.env)

    def snapshot_cmds(self) -> list[list[str]]:
        return [["restic", "backup", "-q", "--exclude", ".got", str(self.data)]]


class Borg(Tool):
    name = "borg"

    def __init__(self, data: Path, repos: Path, tag: str) -> None:
        super().__init__(data, repos, tag)
        self.env.update(BORG_REPO=str(self.repo), BORG_BASE_DIR=str(repos / f"base-borg-{tag}"))

    def init(self) -> None:
        _measure([["borg", "init", "-e", "repokey"]], self.data, self.env)

    def snapshot_cmds(self) -> list[list[str]]:
        return [["borg", "create", "--exclude", "sh:**/.got", f"::s{self.n}", str(self.data)]]


CLASSES = {"got": Got, "restic": Restic, "borg": Borg, "git": Git}


@dataclass
class Results:
    """Per workload, per tool: a number, or an error message."""

    values: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    dropped: bool = True  # the page cache could be dropped where asked
    tree_files: int = 0
    logical: int = 0  # bytes of all the releases' files
    releases: list[str] = field(default_factory=list)
    # after each release: logical bytes so far, and each tool's repository bytes
    release_logical: list[int] = field(default_factory=list)
    release_stored: dict[str, list[int]] = field(default_factory=dict)

    def put(self, key: str, tool: str, value: float) -> None:
        self.values.setdefault(key, {})[tool] = value

    def get(self, key: str, tool: str) -> float | None:
        return self.values.get(key, {}).get(tool)


def _tools(names: list[str], data: Path, repos: Path, tag: str, res: Results) -> list[Tool]:
    out = []
    for n in names:
        t = CLASSES[n](data, repos, tag)
        try:
            t.init()
        except RuntimeError as e:
            res.errors[n] = str(e)
            continue
        out.append(t)
    return out


def _each(tools: list[Tool], res: Results, fn) -> None:
    """fn(tool) for every tool; a peer's failure is recorded and the others go on (got's raises)."""
    for t in tools:
        if t.name in res.errors:
            continue
        try:
            fn(t)
        except RuntimeError as e:
            if t.name == "got":
                raise
            res.errors[t.name] = str(e)
