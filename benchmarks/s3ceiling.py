"""The remote benchmark's yardstick: how a sample is measured against the gateway, and the
ceiling, what a plain client (obstore, from this process) gets from the same engine.

A Sample is one timed operation with the gateway's request counters, the client's and the
engine's CPU seconds, and how busy the machine was (benchmarks/remote.py explains why each
note carries them). The ceiling PUTs the same bytes as objects of got's pack size and reads
them back with ranged GETs, at each concurrency of IN_FLIGHT, and keeps the best.
"""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

from benchmarks import rgw as rgwmod
from gotkv.blobs.remote.packs import PACK_TARGET

MiB = 1 << 20
MB = 1e6
PART = PACK_TARGET  # plain PUT object size: got's pack size
RANGE = 8 * MiB  # plain GET range size
IN_FLIGHT = (4, 8, 16)  # plain client concurrency tried; the best counts


# -- measuring -------------------------------------------------------------------------------

def _drop_caches() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass  # not root: run() has warned that cold reads are warm


def _machine() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far (/proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(f) - f[3] - f[4], sum(f)


def _own_cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class Sample:
    """One timed operation: wall seconds, the gateway's counter deltas, and CPU use."""

    seconds: float
    req: dict[str, int]
    client_cpu: float
    engine_cpu: float
    busy: float  # share of the machine's CPU time that was busy, 0..1
    out: object = None
    commit_s: float = 0.0  # for a push: the untimed `got commit` before it

    def cpu_note(self) -> str:
        return (f"cpu: client {self.client_cpu:.1f} s, engine {self.engine_cpu:.1f} s, "
                f"machine {100 * self.busy:.0f}% busy")


def _measure(engine: rgwmod.Rgw, fn: Callable[[], object], extra_cpu: Callable[[], float] | None = None) -> Sample:
    """Time fn(); the client's CPU is this process and its waited-for children (plus extra_cpu)."""
    c0, e0, (b0, t0m), x0 = engine.counters(), engine.cpu_seconds(), _machine(), _own_cpu()
    x0 += extra_cpu() if extra_cpu else 0.0
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    x1 = _own_cpu() + (extra_cpu() if extra_cpu else 0.0)
    c1, e1, (b1, t1m) = engine.counters(), engine.cpu_seconds(), _machine()
    return Sample(seconds, {k: c1[k] - c0[k] for k in c0}, x1 - x0, e1 - e0,
                  (b1 - b0) / max(1, t1m - t0m), out)


# -- the plain client (the ceiling) -----------------------------------------------------------

def _obstore(engine: rgwmod.Rgw, bucket: str):
    from obstore.store import S3Store

    from gotkv.blobs.remote.s3 import S3ObjectStore
    e = engine.env()
    S3ObjectStore(bucket, endpoint=e["AWS_ENDPOINT_URL"], access_key_id=e["AWS_ACCESS_KEY_ID"],
                  secret_access_key=e["AWS_SECRET_ACCESS_KEY"]).ensure_container()  # obstore cannot
    return S3Store(bucket, config={"endpoint": e["AWS_ENDPOINT_URL"], "region": e["AWS_REGION"],
                                   "access_key_id": e["AWS_ACCESS_KEY_ID"],
                                   "secret_access_key": e["AWS_SECRET_ACCESS_KEY"]},
                   client_options={"allow_http": True, "pool_max_idle_per_host": "64",
                                   "timeout": timedelta(seconds=600)})


def _plain_put(store, data: memoryview, in_flight: int) -> list[str]:
    import obstore
    keys = [f"plain/{o // PART:05d}" for o in range(0, len(data), PART)]
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(lambda i: obstore.put(store, keys[i], data[i * PART:(i + 1) * PART], use_multipart=False),
                      range(len(keys))))
    return keys


def _plain_get(store, size: int, in_flight: int) -> int:
    import obstore

    def one(o: int) -> int:
        key, start = f"plain/{o // PART:05d}", o % PART
        end = min(start + RANGE, PART, size - (o - start))
        return len(obstore.get_range(store, key, start=start, end=end))

    with ThreadPoolExecutor(in_flight) as pool:
        n = sum(pool.map(one, range(0, size, RANGE)))
    if n != size:
        raise RuntimeError(f"plain GET read {n} bytes of {size}")
    return n


@dataclass
class Ceiling:
    put: Sample  # the best PUT
    get: Sample  # the best GET
    put_rates: dict[int, float]  # in flight -> MB/s
    get_rates: dict[int, float]


def _ceiling(engine: rgwmod.Rgw, path: Path, bucket: str) -> Ceiling:
    """Plain parallel PUT, then ranged GET, of `path`'s bytes, at each concurrency; the best."""
    data = memoryview(path.read_bytes())
    size = len(data)
    puts, gets = {}, {}
    for k in IN_FLIGHT:
        engine.purge(bucket)
        store = _obstore(engine, bucket)
        puts[k] = _measure(engine, lambda: _plain_put(store, data, k))
        gets[k] = _measure(engine, lambda: _plain_get(store, size, k))
    engine.purge(bucket)
    del data
    best_put = min(puts.values(), key=lambda s: s.seconds)
    best_get = min(gets.values(), key=lambda s: s.seconds)
    return Ceiling(best_put, best_get, {k: size / s.seconds / MB for k, s in puts.items()},
                   {k: size / s.seconds / MB for k, s in gets.items()})


def _rates(r: dict[int, float]) -> str:
    return ", ".join(f"{k}: {v:,.0f}" for k, v in r.items())
