"""End-to-end helpers: run the real `got` command in a temporary directory and compare trees.

Every test drives `python -m cli.main` in a subprocess (what the `got` console script runs),
so argument parsing, exit codes, stderr and crashes are those a user meets.
"""

from __future__ import annotations

import os
import stat as st
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AUTHOR = "Test Author <test@example.com>"


def got_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOT_")}
    env["GOT_AUTHOR"] = AUTHOR
    env["GOT_AUTO_GC"] = "0"  # a background gc would race tests that count blobs (tests of it set 1)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def got_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


class Got:
    """Runs `got` in one directory; `got("log", "-n", "1")` returns the CompletedProcess."""

    def __init__(self, cwd: Path):
        self.cwd = Path(cwd)

    def __call__(self, *args: str, ok: bool = True, cwd: Path | None = None, binary: bool = False,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(got_cmd(*args), cwd=cwd or self.cwd, env=got_env(), capture_output=True,
                              text=not binary, timeout=timeout)
        if ok and done.returncode != 0:
            raise AssertionError(f"got {' '.join(args)} exited {done.returncode}:\n"
                                 f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done

    def out(self, *args: str) -> str:
        return self(*args).stdout

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(got_cmd(*args), cwd=self.cwd, env=got_env(), **kw)


def assert_clean_error(done: subprocess.CompletedProcess, code: int | None = None) -> str:
    """A failure as the CLI promises it: non-zero exit, one `got: ` line, no traceback."""
    assert done.returncode != 0, done
    if code is not None:
        assert done.returncode == code, done
    err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode()
    outp = done.stdout if isinstance(done.stdout, str) else done.stdout.decode()
    assert "Traceback" not in err + outp, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("got: "), lines
    return lines[0]


def manifest(top: Path) -> dict[str, tuple]:
    """path -> (kind, mode, bytes | target) for everything under `top` except .got/."""
    top = Path(top)
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = Path(dirpath).relative_to(top)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".got"]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            s = os.lstat(p)
            if st.S_ISLNK(s.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif st.S_ISDIR(s.st_mode):
                out[rel] = ("dir", st.S_IMODE(s.st_mode))
            else:
                out[rel] = ("file", st.S_IMODE(s.st_mode), p.read_bytes())
    return out


def stored_manifest(workdir: Path, rev: str) -> dict[str, tuple]:
    """The same manifest, read through the library from a committed revision."""
    from gotfs.repo import Repo
    with Repo.open(workdir) as repo:
        root = repo.root_of(rev)
        out = {}
        for path, info in repo.fs.walk(root):
            if not path:
                continue
            if info.is_symlink:
                out[path] = ("link", os.fsdecode(info.target))
            elif info.is_dir:
                out[path] = ("dir", info.mode)
            else:
                out[path] = ("file", info.mode, repo.fs.read(root, path))
        return out


def write(top: Path, files: dict[str, bytes | str | None]) -> None:
    """Create, overwrite (bytes/str) or delete (None) files below `top`."""
    for rel, data in files.items():
        p = Path(top) / rel
        if data is None:
            p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    Got(d)("init")
    return d


@pytest.fixture
def got(repo_dir: Path) -> Got:
    return Got(repo_dir)
