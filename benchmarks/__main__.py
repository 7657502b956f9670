"""`python -m benchmarks [NAME ...] [--quick] [--json | --markdown] [--plot DIR [--from FILE]]`

Runs the named benchmarks (default: every one in benchmarks.BENCHMARKS). Prints an aligned
table, or with --json one JSON object per figure per line (`name`, `value`, `unit`, and where
the figure has a target, `target` and `ok`). Exit status 0 whether or not targets are met;
non-zero, with a one-line error on stderr, if a benchmark crashed or a NAME is unknown.

--plot DIR runs the named benchmarks (default: those the charts draw, benchmarks.plot.PLOTTED),
saves their figures as DIR/figures.jsonl and draws DIR/<chart>.png (see benchmarks.plot);
with --from FILE it draws a saved --json output instead, running nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from benchmarks import BENCHMARKS
from benchmarks.harness import UnknownBenchmark, format_markdown, format_table, json_line, resolve, run_one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run got's benchmarks. Known: " + ", ".join(BENCHMARKS) + ".")
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds each")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure per line")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table (as in README.md)")
    parser.add_argument("--traceback", action="store_true", help="print a full traceback on a crash")
    parser.add_argument("--progress", action="store_true", help="report each benchmark's run time on stderr")
    parser.add_argument("--plot", metavar="DIR", help="draw PNG charts of the figures into DIR")
    parser.add_argument("--from", dest="source", metavar="FILE",
                        help="with --plot: draw a saved --json output instead of running benchmarks")
    args = parser.parse_args(argv)

    if args.source is not None:
        if args.plot is None or args.names:
            parser.error("--from FILE goes with --plot DIR and no NAME")
        return _plot_saved(args.source, args.plot)
    if args.plot is not None and not args.names:
        from benchmarks.plot import PLOTTED
        args.names = PLOTTED

    try:
        names = resolve(args.names)
    except UnknownBenchmark as e:
        print(f"benchmarks: error: {e}", file=sys.stderr)
        return 2

    results = []
    failed = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            got = run_one(name, args.quick)
        except Exception as e:  # report, keep going with the other benchmarks
            failed += 1
            if args.traceback:
                traceback.print_exc()
            msg = " ".join(str(e).split()) or "(no message)"
            print(f"benchmarks: error: {name} crashed: {type(e).__name__}: {msg}", file=sys.stderr)
            continue
        if args.progress:
            print(f"benchmarks: {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.json:
            for r in got:
                print(json_line(r), flush=True)
        results.extend(got)

    if not args.json and results:
        print(format_markdown(results) if args.markdown else format_table(results))
    if args.plot is not None and results:
        saved = os.path.join(args.plot, "figures.jsonl")
        os.makedirs(args.plot, exist_ok=True)
        with open(saved, "w", encoding="utf-8") as f:
            f.writelines(json_line(r) + "\n" for r in results)
        if _plot_saved(saved, args.plot):
            return 1
    return 1 if failed else 0


def _plot_saved(source: str, out_dir: str) -> int:
    """Draw the charts of the figures saved in `source` into `out_dir`; 0, or 2 on bad input."""
    from benchmarks.plot import PlotInputError, load, plot
    try:
        written, skipped = plot(load(source), out_dir)
    except PlotInputError as e:
        print(f"benchmarks: error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"benchmarks: wrote {path}", file=sys.stderr)
    for reason in skipped:
        print(f"benchmarks: skipped {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `python -m benchmarks --json | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
