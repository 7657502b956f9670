"""What import and export share: the type of a host path, and the warning for what was skipped."""

from __future__ import annotations

import os

HostPath = str | bytes | os.PathLike


class PortingWarning(UserWarning):
    """Something was skipped: a special file, an oversized xattr, an xattr the host refused."""
