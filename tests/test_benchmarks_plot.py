"""`python -m benchmarks --plot DIR --from FILE` draws the charts of a saved run.

A small hand-made run stands in for real figures: this checks the plot code paths (every chart
drawn, a chart without its figures skipped, bad input refused in one line), not the numbers.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Figure, Result

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _figures() -> list[Result]:
    out = [Result("peers", Figure("dd_write", 700.0, "MB/s"))]
    for key, base in (("ingest", 600.0), ("tree_files", 3000.0), ("overwrite_s", 1.8), ("insert_s", 1.3),
                      ("overwrite_bytes", 0.5), ("insert_bytes", 1.7), ("nochange", 0.2)):
        note = "first snapshot of one 8 MiB random file (in page cache); restic 1" if key == "ingest" else ""
        for n, tool in enumerate(("got", "restic", "borg", "git")):
            out.append(Result("peers", Figure(f"{key}_{tool}", base * (n + 1), "x", note=note)))
    for i, v in enumerate(("5.1", "5.1.1", "5.1.2"), 1):
        out.append(Result("peers", Figure(f"release_{i}_logical", 44.0 * i, "MB", note=f"Django {v}: logical")))
        for n, tool in enumerate(("got", "restic", "borg")):  # git absent: its line is left out
            out.append(Result("peers", Figure(f"release_{i}_stored_{tool}", 15.0 + i + n, "MB")))
    out.append(Result("peers", Figure("overwrite_s_git", float("nan"), "s", note="failed")))
    out += _mount_figures()
    for name in ("plain_put", "plain_get", "push", "clone", "restic_backup", "restic_restore", "lazy_seq"):
        out.append(Result("remote", Figure(name, 100.0, "MB/s", note="64 MiB random: 1 s")))
    out.append(Result("remote", Figure("lazy_seq_vs_plain_get", 0.3, "ratio", note="plain GET of the same 32 MiB")))
    for name in ("small_push", "small_clone", "small_restic_backup", "small_restic_restore"):
        out.append(Result("remote", Figure(name, 5000.0, "files/s", note="1,000 files, 4 MB: 0.2 s")))
    return out


def _mount_figures() -> list[Result]:
    out = [Result("mount", Figure(name, 1000.0, "MB/s"))
           for name in ("seq_host_cold", "seq_ceiling", "seq_cold", "seq_fresh", "seq_warm")]
    return out + [Result("mount", Figure("borg_mount", float("nan"), "MB/s", note="failed: RuntimeError")),
                  Result("mount", Figure("idle_fresh", 12.0, "%"))]


def _save(tmp_path: Path, results: list[Result]) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in results))
    return path


def test_plot_from_a_saved_run_draws_each_chart_whose_figures_are_there(tmp_path):
    saved = _save(tmp_path, _figures())
    out = tmp_path / "img"
    done = _run("--plot", str(out), "--from", str(saved))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    drawn = sorted(p.name for p in out.iterdir())
    assert drawn == ["edit.png", "ingest.png", "mount.png", "releases.png", "remote.png"], drawn
    for name in drawn:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    assert "skipped" not in done.stderr


def test_a_chart_whose_figures_are_absent_is_skipped_with_a_reason(tmp_path):
    saved = _save(tmp_path, _mount_figures())  # a run of the mount benchmark alone
    out = tmp_path / "img"
    done = _run("--plot", str(out), "--from", str(saved))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["mount.png"]
    assert "skipped remote: no remote.push in the figures" in done.stderr
    assert "skipped ingest: no peers.ingest_got in the figures" in done.stderr


def test_release_labels_and_failed_figures_are_read_from_the_run():
    from benchmarks.plot import _release_versions, _tool_rows, from_results
    figs = from_results(_figures())
    assert _release_versions(figs) == ["5.1", "5.1.1", "5.1.2"]
    rows = dict((label, v) for label, _, v in _tool_rows(figs, "overwrite_s"))
    assert rows["got"] == 1.8 and math.isnan(rows["git"])  # failed: labelled so, no bar
    assert figs.value("peers.overwrite_s_git") is None and figs.cell("peers.nope") is None


def test_a_file_that_is_not_a_saved_run_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "peers.ingest_got", "value": 1, "unit": "MB/s"}\nnot json\n')
    done = _run("--plot", str(tmp_path / "img"), "--from", str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and f"{bad}:2" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "img").exists() or not any((tmp_path / "img").iterdir())

    missing = _run("--plot", str(tmp_path / "img"), "--from", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr


def test_from_without_plot_is_a_usage_error(tmp_path):
    done = _run("--from", str(tmp_path / "x.jsonl"))
    assert done.returncode == 2 and "--from FILE goes with --plot DIR" in done.stderr


def test_plot_after_a_run_saves_its_figures_for_a_later_from(tmp_path):
    out = tmp_path / "img"
    done = _run("gotkv", "--quick", "--plot", str(out))  # a quick benchmark no chart draws on
    assert done.returncode == 0, done.stderr
    saved = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    assert any(f["name"] == "gotkv.build" and f["value"] > 0 for f in saved)
    assert "skipped ingest" in done.stderr and not list(out.glob("*.png"))
    again = _run("--plot", str(out), "--from", str(out / "figures.jsonl"))
    assert again.returncode == 0 and "skipped ingest" in again.stderr
