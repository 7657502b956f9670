"""mergetext: three-way line merge of one file's contents, and what counts as text.

The line merge itself is merge3's (the Bazaar/Breezy three-way merge, kept on PyPI): this
module only splits lines, decides what is text, and writes git-style conflict markers:

    <<<<<<< ours-label
    ours' lines
    =======
    theirs' lines
    >>>>>>> theirs-label

A clean merge is computed with the two sides in a canonical order (by their bytes), so its
result does not depend on which side is "ours" (the tree merge promises a symmetric root).
Only a conflicted merge is redone in the caller's order, for markers that name each side.
Cost: merge3's difflib matching, roughly O(lines^2) at worst, on files up to TEXT_LIMIT.
"""

from __future__ import annotations

from merge3 import Merge3

TEXT_LIMIT = 8 << 20  # larger files are merged as binary: whole, or a conflict
START, MID, END = b"<<<<<<<", b"=======", b">>>>>>>"


def is_text(data: bytes | None) -> bool:
    """Text: at most TEXT_LIMIT bytes and no NUL byte (git's rule, over the whole file)."""
    return data is None or (len(data) <= TEXT_LIMIT and b"\x00" not in data)


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their '\\n' kept; a last line without one is kept as it is."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def merge_text(base: bytes | None, ours: bytes, theirs: bytes,
               labels: tuple[str, str] = ("ours", "theirs")) -> tuple[bytes, bool]:
    """(merged bytes, clean). Not clean: the bytes hold conflict markers where lines collide.

    `base` None (both sides added the file) merges against an empty file, as git does."""
    base_lines = split_lines(base or b"")
    first, second = sorted((ours, theirs))
    groups = list(Merge3(base_lines, split_lines(first), split_lines(second)).merge_groups())
    if not any(g[0] == "conflict" for g in groups):
        return b"".join(b"".join(g[1]) for g in groups), True
    groups = Merge3(base_lines, split_lines(ours), split_lines(theirs)).merge_groups()
    out: list[bytes] = []
    for g in groups:
        if g[0] != "conflict":
            out.extend(g[1])
            continue
        _, _, a, b = g
        out.append(START + b" " + labels[0].encode() + b"\n")
        out.extend(_closed(a))
        out.append(MID + b"\n")
        out.extend(_closed(b))
        out.append(END + b" " + labels[1].encode() + b"\n")
    return b"".join(out), False


def _closed(lines) -> list[bytes]:
    """Lines whose last one ends in a newline, so that a marker starts a line of its own."""
    lines = list(lines)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] = lines[-1] + b"\n"
    return lines


def has_markers(data: bytes) -> bool:
    """True if `data` still holds a whole conflict block (start, middle and end markers)."""
    lines = split_lines(data)
    starts = any(line.startswith(START + b" ") for line in lines)
    mids = any(line.rstrip(b"\r\n") == MID for line in lines)
    ends = any(line.startswith(END + b" ") for line in lines)
    return starts and mids and ends
