"""Progress of push, fetch and clone: drawn on a terminal (objects, bytes, rate, and for a
fetch or clone, which know their total once the trees are read, how much is left and the
ETA), nothing when piped; --json summaries for scripts."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

from cli import output
from tests.cli.conftest import Got, got_cmd, got_env, write
from tests.cli.test_remote import setup_origin


def _drain(fd: int, seconds: float) -> bytes:
    """What a pty master receives over `seconds` (or until its other end closes)."""
    out, end = b"", time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        out += chunk
    return out


def test_the_progress_line_shows_bytes_of_total_rate_and_eta(monkeypatch):
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", terminal)
    try:
        with output.transfer_progress("Cloning") as update:
            time.sleep(0.15)
            update(7, 10 << 20, 100 << 20)
            shown = _drain(master, 0.5)
    finally:
        terminal.close()
        os.close(master)
    text = shown.decode(errors="replace")
    assert "Cloning" in text and "7 objects" in text and "10.0 MiB of 100.0 MiB" in text, text
    assert "/s" in text and "ETA " in text, text


def test_eta_text():
    assert output.eta_text(0.4) == "0:00"
    assert output.eta_text(95) == "1:35"
    assert output.eta_text(3725) == "1:02:05"


def test_clone_draws_progress_on_a_terminal_and_nothing_when_piped(tmp_path):
    url = str(tmp_path / "remote")
    _, key = setup_origin(tmp_path, url, {f"f{i}.bin": os.urandom(8 << 20) for i in range(6)})
    master, slave = pty.openpty()
    clone = subprocess.Popen(got_cmd("clone", url, "b", "--key-file", str(key)), cwd=tmp_path, env=got_env(),
                             stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = _drain(master, 60)
    os.close(master)
    assert clone.wait(60) == 0
    assert b"Cloning" in shown, shown  # the live line (transient: cleared when done)
    assert b"Cloned into" in clone.stdout.read()
    piped = Got(tmp_path)("clone", url, "c", "--key-file", str(key))
    assert piped.stderr == "" and piped.stdout.startswith("Cloned into")


def test_json_summaries_of_push_fetch_pull_and_clone(tmp_path):
    url = str(tmp_path / "remote")
    got, key = setup_origin(tmp_path, url, {"a.txt": "one\n"})
    cloned = json.loads(Got(tmp_path).out("clone", url, "b", "--key-file", str(key), "--json"))
    b = Got(tmp_path / "b")
    write(tmp_path / "b", {"a.txt": "two\n"})
    b("commit", "-m", "two")
    pushed = json.loads(b.out("push", "--json"))
    fetched = json.loads(got.out("fetch", "--json"))
    write(tmp_path / "b", {"a.txt": "three\n"})
    b("commit", "-m", "three")
    b("push")
    pulled = json.loads(got.out("pull", "--json"))
    for summary in (cloned, pushed, fetched, pulled):
        assert {"commits", "blobs", "bytes", "requests", "seconds"} <= summary.keys(), summary
        assert summary["requests"] > 0 and summary["commits"] == 1 and summary["bytes"] > 0, summary
    assert pulled["outcome"] == "fast-forward"
