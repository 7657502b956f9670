"""Every benchmark runs end to end in --quick mode and prints well-formed JSON figures.

This checks the harness and the benchmark code paths, not the targets: speed is judged by
`python -m benchmarks` on a quiet machine, never by a timed test.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmarks_print_one_json_object_per_figure():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    names = {f["name"].split(".")[0] for f in figures}
    assert {"gotkv", "blobs", "gotfs", "repo", "remote", "merge"} <= names, names
    for f in figures:
        assert set(f) >= {"name", "value", "unit"}, f
        if "target" in f:
            assert isinstance(f["ok"], bool), f
    assert any(f["name"] == "gotkv.build" and f["value"] > 0 for f in figures)


def test_unknown_benchmark_is_a_one_line_error():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "nope" in done.stderr


def test_markdown_table_has_a_row_per_figure():
    from benchmarks.harness import Figure, Result, format_markdown
    table = format_markdown([Result("x", Figure("fast", 1234.5, "MB/s", 2000, note="a | b")),
                             Result("x", Figure("plain", 3, "levels"))]).splitlines()
    assert table[0].startswith("| figure | value |") and len(table) == 4
    assert table[2] == "| x.fast | 1,234 | MB/s | >= 2,000 | **MISS** | a \\| b |"
    assert table[3] == "| x.plain | 3 | levels |  |  |  |"


def test_json_round_trips_to_the_same_table():
    from benchmarks.harness import Figure, Result, format_markdown, result_from_json
    results = [Result("a", Figure("t", 0.19, "s", 0.2, "lower", note="n")),
               Result("b", Figure("nan", float("nan"), "MB/s", note="failed"))]
    again = [result_from_json(json.loads(json.dumps(r.to_json()))) for r in results]
    assert format_markdown(again) == format_markdown(results)
    assert again[0].figure.ok is True
