"""Benchmarks for got: `python -m benchmarks [NAME ...] [--quick] [--json]`.

Each benchmark is a module `benchmarks/<name>.py` exposing `run(quick: bool) -> list[Figure]`
(see benchmarks.harness). To add one, write the module and add its name to BENCHMARKS below;
that is all the harness needs. `--quick` must keep every benchmark to a few seconds: the test
suite runs `python -m benchmarks --quick --json` as a smoke test.
"""

# The registry: run in this order when no NAME is given.
BENCHMARKS: list[str] = [
    "gotkv",
    "blobs",
    "gotfs",
    "repo",
    "cli",
    "mount",
    "handlers",
    "remote",
    "merge",
    "bigtree",
    "peers",
]

# Runnable by name but left out of the default run, because a registered benchmark already
# reports their figures: `mount` runs `programs` (issue 22 names `python -m benchmarks mount`).
PARTS: dict[str, str] = {"programs": "mount"}
