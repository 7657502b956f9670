"""Small OS helpers that several layers need.

`os.write` may write less than it is given (a signal, a pipe, a full disk in progress), so
every caller that must write all of a buffer loops; this is that loop, once.
"""

from __future__ import annotations

import os


def write_all(fd: int, data) -> None:
    """Write every byte of `data` (bytes-like) to `fd` at its current position, finishing
    any short write. No copy: it slices a memoryview."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
