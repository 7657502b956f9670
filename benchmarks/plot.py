"""Charts of got beside its peers, drawn from benchmark figures: `python -m benchmarks --plot DIR`.

A chart reads figures by the names `--json` prints (`peers.ingest_got`, `remote.push`, ...), so
the same code draws a run just made or one saved earlier (`--plot DIR --from FILE`). A chart
whose figures are absent (a benchmark not run, a peer not installed) is skipped with a reason;
a bar whose figure is absent or failed (null) is left out, never drawn as zero. Drawing costs
well under a second a chart; matplotlib is imported only here, so the benchmarks run without it.

  ingest.png    first snapshot of one big random file (MB/s, with the disk's dd rate) and of
                many small files (files/s), got / restic / borg / git      (peers)
  edit.png      a 1-byte overwrite and a 1-byte insert in the big file, and a no-change
                snapshot: seconds, and bytes each edit added to the repository   (peers)
  releases.png  successive Django releases snapshotted one after another: repository MB and
                dedup ratio after each release                               (peers)
  mount.png     sequential read of one big file through got's mount, the host disk, an
                in-memory FUSE filesystem, `restic mount` and `borg mount`   (mount)
  remote.png    push / clone of random data and of many small files against one S3 gateway,
                beside restic and a plain S3 client                          (remote)
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmarks.harness import Result, format_value, result_from_json

TOOLS = ("got", "restic", "borg", "git")
COLOURS = {"got": "#c0392b", "restic": "#2e86c1", "borg": "#27ae60", "git": "#7d3c98", "ref": "#909497"}
# The benchmarks the charts draw on: what `--plot DIR` runs when no NAME is given.
PLOTTED = ["peers", "mount", "remote"]


class PlotInputError(Exception):
    """A saved run that cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class Figures:
    """Benchmark figures by qualified name (`peers.ingest_got`)."""

    by_name: dict[str, Result]

    def value(self, name: str) -> float | None:
        """The figure's value; None when it is absent or failed (NaN)."""
        r = self.by_name.get(name)
        if r is None or not isinstance(r.figure.value, (int, float)) or math.isnan(r.figure.value):
            return None
        return float(r.figure.value)

    def cell(self, name: str) -> float | None:
        """What a bar shows: the value, NaN when the figure is there but failed, None when absent."""
        r = self.by_name.get(name)
        if r is None:
            return None
        v = self.value(name)
        return float("nan") if v is None else v

    def note(self, name: str) -> str:
        r = self.by_name.get(name)
        return r.figure.note if r else ""

    def first_clause(self, name: str) -> str:
        """The note up to its first ';': what the figure measured, without the peers' values,
        a path into this Python's stdlib shortened to `stdlib/...`."""
        clause = self.note(name).split(";")[0].strip()
        return re.sub(r"/\S*/lib/python[\d.]+/?", "stdlib/", clause).replace("stdlib/)", "stdlib)")


def load(path: Path) -> Figures:
    """Figures from a `--json` output (one object per line; other lines are refused)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PlotInputError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else e}") from e
    results = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            results.append(result_from_json(d))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise PlotInputError(f"{path}:{n}: not a benchmark figure as --json prints it "
                                 f"({type(e).__name__}: {e})") from e
    return from_results(results)


def from_results(results: list[Result]) -> Figures:
    return Figures({r.name: r for r in results})


# -- drawing helpers ------------------------------------------------------------------

Row = tuple[str, str, float | None]  # label, colour key, value (NaN: failed; None: absent)


def _bars(ax, rows: list[Row], title: str, unit: str, log: bool = False) -> bool:
    """Horizontal bars, one per row present, labelled with their values (a failed figure is
    labelled "failed", with no bar); False if no row has a value."""
    rows = [r for r in rows if r[2] is not None]
    measured = [r[2] for r in rows if not math.isnan(r[2])]
    if not measured:
        ax.set_axis_off()
        return False
    labels = [r[0] for r in rows][::-1]
    values = [0.0 if math.isnan(r[2]) else r[2] for r in rows][::-1]
    texts = ["failed" if math.isnan(r[2]) else format_value(r[2]) for r in rows][::-1]
    colours = [COLOURS.get(r[1], COLOURS["ref"]) for r in rows][::-1]
    bars = ax.barh(labels, values, color=colours)
    ax.bar_label(bars, labels=texts, padding=3, fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=(max(measured) * (4 if log else 1.22)))
    ax.set_title("\n".join(textwrap.wrap(title, 46)), fontsize=10)
    ax.set_xlabel(unit, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return True


def _tool_rows(figs: Figures, key: str, scale: float = 1.0) -> list[Row]:
    """One row per tool for the peers figure `peers.<key>_<tool>`."""
    rows: list[Row] = []
    for t in TOOLS:
        v = figs.cell(f"peers.{key}_{t}")
        rows.append((t, t, None if v is None else v * scale))
    return rows


# -- the charts -----------------------------------------------------------------------

def _ingest(figs: Figures, plt):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    rows = _tool_rows(figs, "ingest") + [("disk (dd)", "ref", figs.cell("peers.dd_write"))]
    _bars(a, rows, figs.first_clause("peers.ingest_got").replace("first snapshot of ", ""),
          "MB/s (higher is better)")
    _bars(b, _tool_rows(figs, "tree_files"), figs.first_clause("peers.tree_files_got").replace(
        "first snapshot of ", "small files: "), "files/s (higher is better)")
    fig.suptitle("First snapshot", fontsize=12)
    fig.tight_layout()
    return fig


def _edit(figs: Figures, plt):
    fig, ax = plt.subplots(2, 3, figsize=(12, 5.6))
    _bars(ax[0][0], _tool_rows(figs, "overwrite_s"), "1-byte overwrite in the middle,\npage cache dropped",
          "s (lower is better)")
    _bars(ax[0][1], _tool_rows(figs, "insert_s"), "1-byte insert at 1/3,\nfile just rewritten",
          "s (lower is better)")
    _bars(ax[0][2], _tool_rows(figs, "nochange"), "no-change snapshot\nof the small-files tree",
          "s (lower is better)")
    _bars(ax[1][0], _tool_rows(figs, "overwrite_bytes"), "bytes the overwrite added", "MB, log scale", log=True)
    _bars(ax[1][1], _tool_rows(figs, "insert_bytes"), "bytes the insert added", "MB, log scale", log=True)
    ax[1][2].set_axis_off()
    size = re.search(r"\d+ MiB random file", figs.note("peers.ingest_got"))
    fig.suptitle(f"Edits in one {size.group(0) if size else 'big random file'}, and a no-change snapshot",
                 fontsize=12)
    fig.tight_layout()
    return fig


def _release_versions(figs: Figures) -> list[str]:
    """The releases' labels, in order, from `peers.release_<i>_logical` notes ("Django 5.1.1: ...")."""
    out = []
    while (note := figs.note(f"peers.release_{len(out) + 1}_logical")):
        out.append(note.split(":")[0].replace("Django ", ""))
    return out


def _releases(figs: Figures, plt):
    versions = _release_versions(figs)
    if not versions:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    xs = range(1, len(versions) + 1)
    logical = [figs.value(f"peers.release_{i}_logical") for i in xs]
    for t in TOOLS:
        stored = [figs.value(f"peers.release_{i}_stored_{t}") for i in xs]
        pts = [(i, s, n) for i, s, n in zip(xs, stored, logical) if s and n]
        if not pts:
            continue
        kw = dict(color=COLOURS[t], marker="o", linewidth=2.4 if t == "got" else 1.4, label=t)
        a.plot([p[0] for p in pts], [p[1] for p in pts], **kw)
        b.plot([p[0] for p in pts], [p[2] / p[1] for p in pts], **kw)
    a.set_title("repository size after each release", fontsize=10)
    a.set_ylabel("MB (lower is better)", fontsize=9)
    a.set_ylim(bottom=0)
    b.set_title("dedup ratio: logical bytes of all snapshots / repository bytes", fontsize=10)
    b.set_ylabel("ratio (higher is better)", fontsize=9)
    for ax in (a, b):
        ax.set_xticks(list(xs), versions, fontsize=8)
        ax.set_xlabel("Django release, snapshotted one after another", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.3)
    a.legend(fontsize=8)
    fig.suptitle(f"Successive releases ({format_value(logical[-1] or 0)} MB logical in all)", fontsize=12)
    fig.tight_layout()
    return fig


def _mount(figs: Figures, plt):
    rows: list[Row] = [
        ("host disk, cold", "ref", figs.cell("mount.seq_host_cold")),
        ("in-memory FUSE fs (ceiling)", "ref", figs.cell("mount.seq_ceiling")),
        ("got mount, cold", "got", figs.cell("mount.seq_cold")),
        ("got mount, packs in page cache", "got", figs.cell("mount.seq_fresh")),
        ("got mount, second read", "got", figs.cell("mount.seq_warm")),
        ("restic mount, cold", "restic", figs.cell("mount.restic_mount")),
        ("borg mount, cold", "borg", figs.cell("mount.borg_mount")),
    ]
    fig, a = plt.subplots(figsize=(8, 3.6))
    idle = figs.value("mount.idle_fresh")
    busy = "" if idle is None else f" (CPU idle during got's reads: {idle:.0f}%)"
    _bars(a, rows, "sequential read of one big file through a mount" + busy, "MB/s (higher is better)")
    fig.tight_layout()
    return fig


def _remote(figs: Figures, plt):
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    lazy = re.search(r"same (\d+ MiB)", figs.note("remote.lazy_seq_vs_plain_get"))
    _bars(a, [("plain S3 PUT", "ref", figs.cell("remote.plain_put")),
              ("got push", "got", figs.cell("remote.push")),
              ("restic backup", "restic", figs.cell("remote.restic_backup")),
              ("plain S3 GET", "ref", figs.cell("remote.plain_get")),
              ("got clone", "got", figs.cell("remote.clone")),
              ("got lazy mount, cold read" + (f" ({lazy.group(1)})" if lazy else ""), "got",
               figs.cell("remote.lazy_seq")),
              ("restic restore", "restic", figs.cell("remote.restic_restore"))],
          "push and clone of " + figs.first_clause("remote.push").split(":")[0] + " data",
          "MB/s (higher is better)")
    _bars(b, [("got push", "got", figs.cell("remote.small_push")),
              ("restic backup", "restic", figs.cell("remote.small_restic_backup")),
              ("got clone", "got", figs.cell("remote.small_clone")),
              ("restic restore", "restic", figs.cell("remote.small_restic_restore"))],
          "push and clone of " + figs.first_clause("remote.small_push").split(":")[0],
          "files/s (higher is better)")
    fig.suptitle("Remotes: one S3 gateway on this machine", fontsize=12)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Chart:
    name: str
    needs: str  # a figure without which the chart is not drawn
    draw: Callable


CHARTS = [
    Chart("ingest", "peers.ingest_got", _ingest),
    Chart("edit", "peers.overwrite_s_got", _edit),
    Chart("releases", "peers.release_1_stored_got", _releases),
    Chart("mount", "mount.seq_cold", _mount),
    Chart("remote", "remote.push", _remote),
]


def plot(figs: Figures, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Write every chart whose figures are present as OUT_DIR/<name>.png.

    Returns (the files written, one reason per chart skipped)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for chart in CHARTS:
        if figs.value(chart.needs) is None:
            skipped.append(f"{chart.name}: no {chart.needs} in the figures")
            continue
        fig = chart.draw(figs, plt)
        if fig is None:
            skipped.append(f"{chart.name}: its figures are incomplete")
            continue
        path = out_dir / f"{chart.name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written, skipped
