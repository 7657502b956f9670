"""README.md's library snippet runs as printed, so the README cannot drift from the API."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _library_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The library in ten lines", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under 'The library in ten lines'"
    return match.group(1)


def test_readme_library_snippet_runs_and_prints_what_it_says(tmp_path):
    code = _library_snippet()
    assert len(code.strip().splitlines()) <= 14  # "in ten lines" (imports and blank lines aside)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    promised = re.search(r"print\(.*\)\s*#\s*(.+)", code).group(1).strip()
    assert done.stdout.strip() == promised
    assert (tmp_path / "store").is_dir()  # the snippet wrote a real store where it said
