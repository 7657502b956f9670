"""Formatting shared by the commands: sizes, modes, dates, JSON, and progress on stderr.

Progress is drawn with rich on stderr, only when stderr is a terminal, and disappears when the
work is done, so scripts and pipes see nothing of it.
"""

from __future__ import annotations

import contextlib
import json
import stat as st
import sys
import time
from typing import Callable, Iterator

from gotfs.info import Info
from gotfs.repo import Commit, commit_id
from gotkv.blobs.ref import Ref

SHORT = 12


def out(text: str = "") -> None:
    print(text)


def emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def mode_text(info: Info) -> str:
    """git-style octal mode: 100644 file, 040755 directory, 120777 symlink."""
    return f"{info.st_mode():06o}"


def kind_name(info: Info) -> str:
    return {1: "dir", 2: "file", 3: "symlink", 4: "fifo", 5: "socket", 6: "char-device", 7: "block-device"}[int(info.kind)]


def is_exec(info: Info) -> bool:
    return bool(info.mode & st.S_IXUSR)


def short_id(ref: Ref) -> str:
    return commit_id(ref)[:SHORT]


def date_text(time_ns: int) -> str:
    t = time.localtime(time_ns / 1e9)
    return time.strftime("%a %b %d %H:%M:%S %Y %z", t)


def first_line(message: str) -> str:
    return (message.strip().splitlines() or [""])[0]


def commit_header(ref: Ref, commit: Commit, decorations: str = "") -> str:
    """The `got log` / `got show` block for one commit."""
    lines = [f"commit {commit_id(ref)}{decorations}"]
    if len(commit.parents) > 1:
        lines.append("Merge: " + " ".join(short_id(p) for p in commit.parents))
    lines += [f"Author: {commit.author}", f"Date:   {date_text(commit.time_ns)}", ""]
    lines += ["    " + line for line in (commit.message.rstrip("\n").splitlines() or [""])]
    return "\n".join(lines)


def commit_json(ref: Ref, commit: Commit) -> dict:
    return {"id": commit_id(ref), "parents": [commit_id(p) for p in commit.parents],
            "author": commit.author, "time_ns": commit.time_ns,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(commit.time_ns / 1e9)),
            "message": commit.message, "root": str(commit.root)}


def progress_enabled() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress(label: str, *, unit: str = "files") -> Iterator[Callable[..., None]]:
    """A transient progress line on stderr; yields `update(count, nbytes=None)`.

    Count-only work shows a spinner with the count, elapsed time and, given bytes, the volume.
    Off (a no-op callback) when stderr is not a terminal.
    """
    if not progress_enabled():
        yield lambda *a, **k: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = [SpinnerColumn(), TextColumn("{task.description}"),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, refresh_per_second=8) as bar:
        task = bar.add_task(label, total=None, detail="")
        last = [0.0]
        started = time.monotonic()

        def update(count: int | None = None, nbytes: int | None = None) -> None:
            now = time.monotonic()
            if now - last[0] < 0.1:
                return
            last[0] = now
            parts = []
            if count is not None:
                parts.append(f"{count} {unit}")
            if nbytes is not None:
                parts.append(human_size(nbytes))
                parts.append(f"{human_size(nbytes / max(now - started, 1e-3))}/s")
            bar.update(task, detail=", ".join(parts))

        yield update


def transfer_progress(label: str):
    """progress() for push, fetch and clone: `update(objects, bytes)`, shown with the rate."""
    return progress(label, unit="objects")


def transfer_summary(report) -> str:
    """'3 commits, 41 objects, 12.0 MiB in 1.2 s (10.0 MiB/s), 9 requests'."""
    rate = f" ({human_size(report.bytes / report.seconds)}/s)" if report.seconds > 0 and report.bytes else ""
    requests = f", {report.requests} requests" if report.requests else ""
    commits = f"{report.commits} commit{'s' if report.commits != 1 else ''}"
    return f"{commits}, {report.blobs} objects, {human_size(report.bytes)} in {report.seconds:.1f} s{rate}{requests}"


def ref_moves(report) -> list[str]:
    """One line per ref a fetch moved, as git prints them."""
    lines = []
    for name, (old, new) in sorted(report.refs.items()):
        shown = name.removeprefix("remotes/")
        if old is None:
            lines.append(f" * [new branch]  {shown}")
        elif new is None:
            lines.append(f" - [deleted]     {shown}")
        else:
            lines.append(f"   {old[:SHORT]}..{new[:SHORT]}  {shown}")
    return lines
