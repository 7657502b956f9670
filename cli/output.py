"""Formatting shared by the commands: sizes, modes, dates, names, colour, JSON, and progress.

stdout carries data, stderr messages. `configure` (called by cli.main) sets -q, which silences
`out` (what a command reports it did) but not `emit_json`, and colour, which is on only when
stdout is a terminal and NO_COLOR is unset (https://no-color.org).

Names are shown as git shows them with core.quotePath off: a name holding a control character,
a double quote, a backslash or bytes that are not UTF-8 is printed in double quotes with C
escapes, octal for bytes that have no letter (quote_path). In JSON every string is valid UTF-8:
a name that is not gets U+FFFD for the bad bytes and, beside it, the same key with `_b64`
holding the exact bytes in base64 (docs/cli.md).

Progress is drawn with rich on stderr, only when stderr is a terminal, and disappears when the
work is done, so scripts and pipes see nothing of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat as st
import sys
import time
from collections.abc import Callable, Iterator

TYPE_CHECKING = False  # typing's flag without importing typing (~2 ms of a start); checkers take it as True
if TYPE_CHECKING:
    from gotfs.info import Info
    from gotfs.repo import Commit
    from gotkv.blobs.ref import Ref

SHORT = 12
_settings = {"quiet": False, "json": False, "colour": False}
_COLOURS = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1"}


def configure(*, quiet: bool = False, json_output: bool = False) -> None:
    """Set -q and --json (under either `out` prints nothing, so stdout holds only the JSON),
    and colour from the terminal and NO_COLOR (before any pager takes stdout)."""
    _settings["quiet"] = quiet
    _settings["json"] = json_output
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    _settings["colour"] = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def is_quiet() -> bool:
    return _settings["quiet"]


def out(text: str = "") -> None:
    """A line of what the command reports on stdout (nothing under -q or --json)."""
    if not (_settings["quiet"] or _settings["json"]):
        print(text)


def paint(text: str, colour: str) -> str:
    """`text` in `colour` (red, green, yellow, cyan, bold) when colour is on, else as it is."""
    if not _settings["colour"] or not text:
        return text
    return f"\x1b[{_COLOURS[colour]}m{text}\x1b[m"


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", '"': '\\"', "\\": "\\\\", "\a": "\\a",
            "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def quote_path(name: str) -> str:
    """`name` as git prints it: unchanged when plain, else in double quotes with C escapes
    (octal for other control characters and for bytes that are not UTF-8)."""
    if name.isprintable() and '"' not in name and "\\" not in name:
        return name
    parts = []
    for ch in name:
        if ch in _ESCAPES:
            parts.append(_ESCAPES[ch])
        elif "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8 (os.fsdecode)
            parts.append(f"\\{ord(ch) - 0xdc00:03o}")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            parts.append(f"\\{ord(ch):03o}")
        elif not ch.isprintable():
            parts.extend(f"\\{b:03o}" for b in ch.encode())
        else:
            parts.append(ch)
    return '"' + "".join(parts) + '"'


def _json_safe(obj):
    """`obj` with every string valid UTF-8; a dict value that is a name with non-UTF-8 bytes
    (surrogate escapes) also gets KEY_b64, the exact bytes."""
    if isinstance(obj, dict):
        safe = {}
        for key, value in obj.items():
            safe[key] = _json_safe(value)
            if isinstance(value, str) and _has_surrogates(value):
                import base64
                safe[f"{key}_b64"] = base64.b64encode(os.fsencode(value)).decode("ascii")
        return safe
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, str) and _has_surrogates(obj):
        return os.fsencode(obj).decode("utf-8", errors="replace")
    return obj


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def emit_json(obj) -> None:
    """`obj` as indented UTF-8 JSON on stdout (also under -q): always valid for a strict decoder."""
    sys.stdout.write(json.dumps(_json_safe(obj), indent=2, ensure_ascii=False))
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


def entry_json(path: str, info: Info) -> dict:
    """One path's metadata as `ls --json`, `show --json REV:PATH` and `cat --json` give it."""
    d = {"path": path, "type": kind_name(info), "mode": f"{info.mode:04o}", "size": info.size}
    if info.is_symlink:
        d["target"] = os.fsdecode(info.target)
    return d


def is_exec(info: Info) -> bool:
    return bool(info.mode & st.S_IXUSR)


def short_id(ref: Ref) -> str:
    return ref.cid.hex()[:SHORT]


def date_text(time_ns: int) -> str:
    t = time.localtime(time_ns / 1e9)
    return time.strftime("%a %b %d %H:%M:%S %Y %z", t)


def first_line(message: str) -> str:
    return (message.strip().splitlines() or [""])[0]


def commit_header(ref: Ref, commit: Commit, decorations: str = "") -> str:
    """The `got log` / `got show` block for one commit."""
    lines = [paint(f"commit {ref.cid.hex()}", "yellow") + decorations]
    if len(commit.parents) > 1:
        lines.append("Merge: " + " ".join(short_id(p) for p in commit.parents))
    lines += [f"Author: {commit.author}", f"Date:   {date_text(commit.time_ns)}", ""]
    lines += ["    " + line for line in (commit.message.rstrip("\n").splitlines() or [""])]
    return "\n".join(lines)


def commit_json(ref: Ref, commit: Commit) -> dict:
    from gotfs.repo.commit import commit_id

    return {"id": commit_id(ref), "parents": [commit_id(p) for p in commit.parents],
            "author": commit.author, "time_ns": commit.time_ns,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(commit.time_ns / 1e9)),
            "message": commit.message, "root": str(commit.root)}


def say_ref(action: str, name: str, ref: Ref, text: str) -> None:
    """A branch or tag created or deleted: `text`, or with --json {"name", "commit", "action"}."""
    if _settings["json"]:
        emit_json({"name": name, "commit": ref.cid.hex(), "action": action})
    else:
        out(text)


def change_lines(changes) -> list[str]:
    """' A path' / ' M path' / ' D path' per changed path (names quoted as git quotes them)."""
    letter = {"added": "A", "modified": "M", "removed": "D"}
    return [f" {letter[c.kind]} {quote_path(c.path)}" for c in changes]


def progress_enabled() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress(label: str, *, unit: str = "files") -> Iterator[Callable[..., None]]:
    """A transient progress line on stderr; yields `update(count, nbytes=None, total=None)`.

    Count-only work shows a spinner with the count, elapsed time and, given bytes, the volume
    and rate; given the total bytes too, how much of it is done and the time left at that rate.
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

        def update(count: int | None = None, nbytes: int | None = None, total: int | None = None) -> None:
            now = time.monotonic()
            if now - last[0] < 0.1:
                return
            last[0] = now
            parts = []
            if count is not None:
                parts.append(f"{count} {unit}")
            if nbytes is not None:
                rate = nbytes / max(now - started, 1e-3)
                parts.append(human_size(nbytes) + (f" of {human_size(total)}" if total else ""))
                parts.append(f"{human_size(rate)}/s")
                if total and nbytes and total > nbytes:
                    parts.append(f"ETA {eta_text((total - nbytes) / rate)}")
            bar.update(task, detail=", ".join(parts))

        yield update


def transfer_progress(label: str):
    """progress() for push, fetch and clone: `update(objects, bytes)`, shown with the rate."""
    return progress(label, unit="objects")


def eta_text(seconds: float) -> str:
    """95 -> '1:35', 3725 -> '1:02:05'."""
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


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
