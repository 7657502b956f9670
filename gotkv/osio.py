"""Small OS helpers that several layers need.

`os.write` and `os.pwrite` may write less than they are given (a signal, a pipe, a full disk
in progress), so every caller that must write all of a buffer loops; these are those loops,
once.
"""

from __future__ import annotations

import os


def write_all(fd: int, data) -> None:
    """Write every byte of `data` (bytes-like) to `fd` at its current position, finishing
    any short write. No copy: it slices a memoryview."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def pwrite_all(fd: int, data, offset: int) -> None:
    """Write every byte of `data` (bytes-like) to `fd` at `offset`, finishing any short
    write; the file position is left as it is. No copy: it slices a memoryview."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
