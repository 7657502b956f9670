"""What scripts rely on: JSON shapes, quoting of names, exit codes, -q/-v, usage messages."""

from __future__ import annotations

import base64
import importlib
import json
import os

import pytest

from cli.commands import COMMANDS, SUMMARIES
from tests.cli.conftest import assert_clean_error, write


@pytest.fixture
def committed(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "dir/b.txt": "two\n"})
    got("commit", "-m", "first")
    return got


def strict_json(text: str):
    """Parse as a strict consumer would: UTF-8 bytes, no lone surrogates anywhere."""
    raw = text.encode("utf-8", errors="strict") if isinstance(text, str) else text
    return json.loads(raw.decode("utf-8", errors="strict"))


def test_json_of_show_cat_commit_checkout(committed, repo_dir):
    write(repo_dir, {"a.txt": "changed\n", "new.txt": "n\n"})
    doc = strict_json(committed.out("commit", "--json", "-m", "second"))
    assert doc["branch"] == "main" and len(doc["commit"]) == 64 and len(doc["parents"]) == 1
    assert doc["changed"] == {"added": 1, "modified": 1, "removed": 0}
    assert sorted((c["path"], c["kind"]) for c in doc["changes"]) == [("a.txt", "modified"), ("new.txt", "added")]

    shown = strict_json(committed.out("show", "--json"))
    assert shown["id"] == doc["commit"] and shown["message"] == "second"
    assert sorted(c["path"] for c in shown["changes"]) == ["a.txt", "new.txt"]

    entry = strict_json(committed.out("cat", "--json", "HEAD:a.txt"))
    assert entry == {"path": "a.txt", "type": "file", "mode": "0644", "size": 8}
    tree = strict_json(committed.out("show", "--json", "HEAD:dir"))
    assert tree["type"] == "dir" and [e["path"] for e in tree["entries"]] == ["b.txt"]

    moved = strict_json(committed.out("checkout", "--json", "HEAD~1"))
    assert moved["detached"] is True and moved["branch"] is None and moved["paths_updated"] == 2
    back = strict_json(committed.out("switch", "--json", "main"))
    assert back == {"branch": "main", "head": doc["commit"], "detached": False, "paths_updated": 2}

    made = strict_json(committed.out("branch", "--json", "topic"))
    assert made == {"name": "topic", "commit": doc["commit"], "action": "created"}


def test_non_utf8_names_give_valid_json_and_quoted_plain_output(committed, repo_dir):
    bad = b"bad\xffname.txt"
    (repo_dir / os.fsdecode(bad)).write_bytes(b"x\n")
    write(repo_dir, {"tab\there.txt": "t\n"})
    status = strict_json(committed.out("status", "--json"))
    by_b64 = {c.get("path_b64"): c["path"] for c in status["changes"]}
    assert base64.b64decode(next(k for k in by_b64 if k)) == bad
    assert by_b64[base64.b64encode(bad).decode()] == "bad\ufffdname.txt"
    assert "tab\there.txt" in by_b64.values()  # a valid name is given as it is, no _b64

    short = committed.out("status", "-s").splitlines()
    assert 'A "bad\\377name.txt"' in short and 'A "tab\\there.txt"' in short
    committed("commit", "-m", "odd names")
    listing = committed.out("ls").splitlines()
    assert '"bad\\377name.txt"' in listing and '"tab\\there.txt"' in listing
    entries = strict_json(committed.out("ls", "--json"))
    assert any(e.get("path_b64") == base64.b64encode(bad).decode() for e in entries)
    assert '"a/tab\\there.txt"' in committed.out("show")


def test_exit_codes(committed, repo_dir):
    exists = committed("branch", "main", ok=False)
    assert exists.returncode == 1 and "already exists" in assert_clean_error(exists)
    committed("branch", "other")
    write(repo_dir, {"a.txt": "dirty\n"})
    committed("switch", "-c", "side")
    committed("commit", "-m", "on side")
    write(repo_dir, {"a.txt": "dirty again\n"})
    assert assert_clean_error(committed("switch", "main", ok=False), 1)
    assert committed("frobnicate", ok=False).returncode == 2
    assert committed("log", "--bogus", ok=False).returncode == 2
    assert committed("log", "nosuch", ok=False).returncode == 1


def test_diff_exit_code_and_quiet(committed, repo_dir):
    assert committed("diff", "--exit-code").returncode == 0
    assert committed("diff", "-q").returncode == 0
    write(repo_dir, {"a.txt": "changed\n"})
    loud = committed("diff", "--exit-code", ok=False)
    assert loud.returncode == 1 and "+changed" in loud.stdout
    quiet = committed("diff", "-q", ok=False)
    assert quiet.returncode == 1 and quiet.stdout == "" and quiet.stderr == ""
    assert committed("diff").returncode == 0
    stat = strict_json(committed.out("diff", "--json"))
    assert stat["files"] == [{"path": "a.txt", "kind": "modified", "insertions": 1, "deletions": 1,
                              "binary": False}]


def test_quiet_and_verbose(committed, repo_dir):
    write(repo_dir, {"a.txt": "q\n"})
    done = committed("commit", "-q", "-m", "quiet")
    assert done.stdout == "" and done.returncode == 0
    write(repo_dir, {"a.txt": "v\n", "c.txt": "c\n"})
    lines = committed.out("commit", "-v", "-m", "verbose").splitlines()
    assert " M a.txt" in lines and " A c.txt" in lines
    assert committed("branch", "-q", "x").stdout == ""


def test_usage_messages(committed):
    typo = committed("comit", ok=False)
    assert typo.returncode == 2 and "did you mean 'commit'?" in typo.stderr
    bad = committed("log", "--bogus", ok=False)
    assert bad.stderr.startswith("usage: got log") and "--bogus" in bad.stderr
    for name in ("log", "diff", "checkout"):
        assert "[-- PATH...]" in committed.out(name, "--help")
    assert committed.out("help", "log").startswith("usage: got log")
    top = committed.out("help")
    assert all(name in top for name in COMMANDS) and "exit status" in top
    assert committed.out("--version").startswith("got ")


@pytest.mark.parametrize("name", COMMANDS)
def test_summaries_match_each_commands_help(name):
    """`got help` lists cli.commands.SUMMARIES without importing the modules: keep them equal."""
    import argparse

    module = importlib.import_module(f"cli.commands.{name}")
    sub = argparse.ArgumentParser(prog="got").add_subparsers()
    module.add_parser(sub)
    assert sub._choices_actions[0].help == SUMMARIES[name]
