"""The pager for long output on a terminal, as git runs one: $GOT_PAGER, else $PAGER, else less.

less gets LESS=FRX unless LESS is set (quit at once when the output fits the screen, pass
colours through, leave the screen as it was), so short output prints as if there were none.
An empty pager or `cat` means none. Costs a fork and exec of the pager, only when stdout is a
terminal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Callable


def pager_command() -> str | None:
    """The shell command to page through, or None for no pager."""
    command = os.environ.get("GOT_PAGER")
    if command is None:
        command = os.environ.get("PAGER")
    if command is None:
        command = "less" if shutil.which("less") else ""
    return None if command.strip() in ("", "cat") else command


def start_pager() -> Callable[[], None] | None:
    """Send stdout (file descriptor 1, so raw bytes too) through the pager when stdout is a
    terminal; returns what waits for the pager to finish, or None if no pager was started.

    Colours are decided before this (cli.output.configure) on the terminal itself."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    command = pager_command()
    if command is None:
        return None
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    try:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        return None
    sys.stdout.flush()
    os.dup2(proc.stdin.fileno(), sys.stdout.fileno())
    proc.stdin.close()

    def finish() -> None:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the pager sees the end of its input
        os.close(devnull)
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.wait()

    return finish
