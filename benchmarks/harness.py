"""The benchmark harness: Figure, timing helpers, running registered benchmarks, output.

A benchmark module exposes `run(quick: bool) -> list[Figure]`. The harness qualifies each
figure's name with the benchmark's ("gotkv.build"), judges it against its target, and prints
either an aligned table or one JSON object per figure per line.
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Literal

from benchmarks import BENCHMARKS, PARTS


@dataclass(frozen=True)
class Figure:
    """One measured number. `target` is a bound (>= when better="higher", <= when "lower")."""

    name: str
    value: float
    unit: str
    target: float | None = None
    better: Literal["higher", "lower"] = "higher"
    note: str = ""

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValueError(f"Figure.better must be 'higher' or 'lower', got {self.better!r}")

    @property
    def ok(self) -> bool | None:
        """Whether the target is met; None when there is no target."""
        if self.target is None:
            return None
        if self.better == "higher":
            return self.value >= self.target
        return self.value <= self.target


@dataclass(frozen=True)
class Result:
    """A figure as reported: qualified with the name of the benchmark that produced it."""

    benchmark: str
    figure: Figure

    @property
    def name(self) -> str:
        return f"{self.benchmark}.{self.figure.name}"

    def to_json(self) -> dict:
        f = self.figure
        out: dict = {"name": self.name, "value": _json_number(f.value), "unit": f.unit}
        if f.target is not None:
            out["target"] = _json_number(f.target)
            out["ok"] = bool(f.ok)
            if f.better == "lower":
                out["better"] = "lower"
        if f.note:
            out["note"] = f.note
        return out


def result_from_json(d: dict) -> Result:
    """The inverse of Result.to_json (NaN for a null value): to render a saved run again."""
    benchmark, name = d["name"].split(".", 1)
    value = float("nan") if d["value"] is None else d["value"]
    return Result(benchmark, Figure(name, value, d["unit"], d.get("target"), d.get("better", "higher"),
                                    d.get("note", "")))


# -- timing helpers -------------------------------------------------------------------

def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call of `fn`, by time.perf_counter."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls of `fn`."""
    return statistics.median(timed(fn)[0] for _ in range(max(1, repeat)))


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# -- running --------------------------------------------------------------------------

class UnknownBenchmark(Exception):
    pass


def resolve(names: Iterable[str]) -> list[str]:
    """The benchmarks to run: `names` in the order given, or every registered one (PARTS run
    only when named: the benchmark they are part of reports their figures)."""
    names = list(names)
    if not names:
        return list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS and n not in PARTS]
    if unknown:
        raise UnknownBenchmark(f"unknown benchmark(s): {', '.join(unknown)} "
                               f"(known: {', '.join([*BENCHMARKS, *PARTS])})")
    return list(dict.fromkeys(names))


def run_one(name: str, quick: bool) -> list[Result]:
    """Import `benchmarks.<name>` and run it; exceptions propagate to the caller."""
    module = importlib.import_module(f"benchmarks.{name}")
    figures = module.run(quick)
    for f in figures:
        if not isinstance(f, Figure):
            raise TypeError(f"benchmark {name} returned {type(f).__name__}, not Figure")
    return [Result(name, f) for f in figures]


# -- output ---------------------------------------------------------------------------

def format_value(value: float) -> str:
    """A number at a precision that suits its size: 412,345 / 123.4 / 12.35 / 0.0123."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    if a == 0:
        return "0"
    return f"{value:.3g}"


def format_target(f: Figure) -> str:
    if f.target is None:
        return ""
    return (">= " if f.better == "higher" else "<= ") + format_value(f.target)


def format_table(results: list[Result]) -> str:
    """An aligned text table: name, value, unit, target, status, note."""
    header = ("figure", "value", "unit", "target", "status", "note")
    rows = [header]
    for r in results:
        f = r.figure
        status = "" if f.ok is None else ("ok" if f.ok else "MISS")
        rows.append((r.name, format_value(f.value), f.unit, format_target(f), status, f.note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1}  # numbers right-aligned
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def format_markdown(results: list[Result]) -> str:
    """The README's table: the same columns as format_table, misses in bold."""
    lines = ["| figure | value | unit | target | status | note |", "|---|---:|---|---|---|---|"]
    for r in results:
        f = r.figure
        status = "" if f.ok is None else ("ok" if f.ok else "**MISS**")
        cells = (r.name, format_value(f.value), f.unit, format_target(f), status, f.note.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_line(r: Result) -> str:
    return json.dumps(r.to_json(), sort_keys=False)


def _json_number(v: float):
    """JSON has no NaN or infinity: report those as null."""
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v
