"""`got init --passphrase` and `got key passphrase`: the key under a passphrase taken from
GOT_PASSPHRASE or typed at a terminal; a missing or wrong one is a one-line error."""

from __future__ import annotations

import os
import pty
import subprocess
import time
from pathlib import Path

from tests.cli.conftest import assert_clean_error, got_cmd, got_env, write
from tests.cli.test_remote import setup_origin


def got(cwd: Path, *args: str, passphrase: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in got_env().items() if k != "GOT_PASSPHRASE"}
    if passphrase is not None:
        env["GOT_PASSPHRASE"] = passphrase
    env.update(extra)
    return subprocess.run(got_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_init_with_a_passphrase_then_use_change_and_remove_it(tmp_path):
    assert got(tmp_path, "init", "--passphrase", passphrase="first pw").returncode == 0
    config = (tmp_path / ".got" / "config.json").read_text()
    assert "wrapped_secret" in config and '"secret"' not in config
    write(tmp_path, {"a.txt": "hello\n"})
    assert got(tmp_path, "commit", "-m", "one", passphrase="first pw").returncode == 0
    missing = got(tmp_path, "log")
    assert "protected by a passphrase: set GOT_PASSPHRASE" in assert_clean_error(missing, 1)
    assert "wrong passphrase" in assert_clean_error(got(tmp_path, "log", passphrase="nope"), 1)
    key = got(tmp_path, "key", "export", passphrase="first pw").stdout
    no_new = got(tmp_path, "key", "passphrase", passphrase="first pw")
    assert "no new passphrase: set GOT_NEW_PASSPHRASE" in assert_clean_error(no_new)
    changed = got(tmp_path, "key", "passphrase", passphrase="first pw", GOT_NEW_PASSPHRASE="second pw")
    assert changed.returncode == 0, changed.stderr
    assert "wrong passphrase" in assert_clean_error(got(tmp_path, "log", passphrase="first pw"), 1)
    assert got(tmp_path, "key", "export", passphrase="second pw").stdout == key  # the key itself stays
    assert got(tmp_path, "key", "passphrase", "--remove", passphrase="second pw").returncode == 0
    assert "one" in got(tmp_path, "log", "--oneline").stdout  # plain again: no passphrase needed


def test_the_passphrase_is_asked_on_a_terminal(tmp_path):
    assert got(tmp_path, "init", "--passphrase", passphrase="typed pw").returncode == 0
    env = {k: v for k, v in got_env().items() if k != "GOT_PASSPHRASE"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(got_cmd("status"), cwd=tmp_path, env=env, stdin=slave, stdout=subprocess.PIPE,
                            stderr=slave)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 60
    while b"Passphrase:" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 1024)
    os.write(master, b"typed pw\n")
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0 and b"On branch main" in out, (seen, out)


def test_an_old_repository_opens_unchanged(tmp_path):
    assert got(tmp_path, "init").returncode == 0
    assert '"secret"' in (tmp_path / ".got" / "config.json").read_text()
    assert got(tmp_path, "status").returncode == 0  # no passphrase asked, none set


def test_clone_with_a_passphrase(tmp_path):
    url = str(tmp_path / "remote")
    _, key = setup_origin(tmp_path, url, {"a.txt": "hello\n"})
    cloned = got(tmp_path, "clone", url, "b", "--key-file", str(key), "--passphrase", passphrase="clone pw")
    assert cloned.returncode == 0, cloned.stderr
    b = tmp_path / "b"
    assert "wrapped_secret" in (b / ".got" / "config.json").read_text()
    assert "protected by a passphrase" in assert_clean_error(got(b, "log"), 1)
    assert "first" in got(b, "log", "--oneline", passphrase="clone pw").stdout
    assert got(b, "key", "export", passphrase="clone pw").stdout == key.read_text()
