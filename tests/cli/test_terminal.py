"""Terminal behaviour through a real pty: colour only on a terminal and without NO_COLOR, the
pager for long output, and nothing of either when stdout is a pipe."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from tests.cli.conftest import got_cmd, got_env, write


def on_terminal(cwd, *args: str, **env: str) -> tuple[int, str]:
    """Run got with stdout on a pty; (exit status, what the terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(got_cmd(*args), cwd=cwd, env=got_env(**env), stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the pty has closed it
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=60)
    return proc.returncode, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.fixture
def edited(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "first")
    write(repo_dir, {"a.txt": "two\n"})
    return repo_dir


def test_colour_on_a_terminal_only(edited, got):
    code, screen = on_terminal(edited, "diff", GOT_PAGER="")
    assert code == 0 and "\x1b[32m+two" in screen and "\x1b[31m-one" in screen
    code, screen = on_terminal(edited, "diff", GOT_PAGER="", NO_COLOR="1")
    assert code == 0 and "+two" in screen and "\x1b[" not in screen
    piped = got.out("diff")
    assert "+two" in piped and "\x1b[" not in piped


def test_pager_on_a_terminal_only(edited, got):
    code, screen = on_terminal(edited, "log", GOT_PAGER="sed s/^/paged:/", NO_COLOR="1")
    assert code == 0 and "paged:commit " in screen
    code, screen = on_terminal(edited, "--no-pager", "log", GOT_PAGER="sed s/^/paged:/", NO_COLOR="1")
    assert code == 0 and "paged:" not in screen and "commit " in screen
    code, screen = on_terminal(edited, "log", "--json", GOT_PAGER="sed s/^/paged:/")
    assert code == 0 and "paged:" not in screen
    assert "paged:" not in got.out("log")  # a pipe is never paged


def test_default_pager_is_less_that_quits_on_short_output(edited):
    code, screen = on_terminal(edited, "log", NO_COLOR="1", TERM="xterm")
    assert code == 0 and "commit " in screen and "first" in screen
