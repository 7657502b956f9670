"""Package exports imported on first use (PEP 562), so `import gotkv.errors` costs nothing more.

A package's `__init__` lists what it exports and where each name lives; importing the package
imports none of them. `got --version` or `got log -n 10` must not pay for modules they never
touch (SQLite, cryptography, zstandard, CDC): every package import would otherwise pull in the
whole layer, a large share of a command that should take a few tens of milliseconds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for `package`, whose name N is `exports[N]`'s attribute N.

    The first access imports that module (a dict look-up after that: the value is cached in
    the package's namespace)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
