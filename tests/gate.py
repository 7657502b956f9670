"""Gate: hold a patched call until the test opens it, to run something while it waits."""

from __future__ import annotations

import threading
from typing import Callable


class Gate:
    """`wrap(fn)` returns fn held at the gate: the first call that `when` accepts sets
    `reached` and waits (10 s at most) for `open()`, then runs fn."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._opened = threading.Event()

    def wrap(self, fn: Callable, when: Callable[..., bool] = lambda *args: True) -> Callable:
        def held(*args):
            if when(*args):
                self.reached.set()
                assert self._opened.wait(10), "the gate was never opened"
            return fn(*args)
        return held

    def open(self) -> None:
        self._opened.set()
