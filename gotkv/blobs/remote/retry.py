"""Retry what may pass on a second try: exponential backoff with full jitter, bounded.

Object stores fail transiently (throttling: 429, 503 SlowDown; other 5xx; a connection
refused, reset or timed out) and definitely (403, 404, 409, 412 ...). An engine passes its own
`is_transient(exc)` predicate, so this module knows nothing of any client library. A definite
failure is raised at once; a transient one is retried after a random sleep in
[0, min(cap, base * 2**n)) ("full jitter": many clients hitting a throttled server spread out
instead of retrying in lock-step) until `attempts` calls or `max_seconds` are used up, and
then the last error is raised. Each retry costs one more request.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    attempts: int = 8  # calls in all, the first included
    max_seconds: float = 60.0  # no retry starts after this much time since the first call
    base: float = 0.1  # the first sleep is at most this long
    cap: float = 5.0  # no sleep is longer than this

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.max_seconds < 0 or self.base < 0 or self.cap < 0:
            raise ValueError(f"invalid backoff {self}")


DEFAULT = Backoff()


def from_environment() -> Backoff:
    """DEFAULT, or with GOT_RETRY_SECONDS set, a budget of that many seconds: how long a
    command keeps retrying an engine that does not answer before it gives up."""
    text = os.environ.get("GOT_RETRY_SECONDS")
    if not text:
        return DEFAULT
    try:
        seconds = float(text)
    except ValueError:
        return DEFAULT
    return Backoff(attempts=max(2, DEFAULT.attempts), max_seconds=max(0.0, seconds))


def retry(fn: Callable[[], T], is_transient: Callable[[BaseException], bool],
          backoff: Backoff = DEFAULT, on_retry: Callable[[BaseException, int], None] | None = None) -> T:
    """Call `fn()` until it returns, retrying transient failures within `backoff`'s bounds.

    `on_retry(exc, n)` is told of each failure about to be retried (n = 1 for the first retry).
    The last failure propagates unchanged, so callers map it to their own error.
    """
    deadline = time.monotonic() + backoff.max_seconds
    for n in range(backoff.attempts):
        try:
            return fn()
        except Exception as exc:
            if n + 1 >= backoff.attempts or not is_transient(exc):
                raise
            delay = random.uniform(0, min(backoff.cap, backoff.base * 2**n))
            if time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, n + 1)
            time.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
