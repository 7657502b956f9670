"""A command imports only what it uses: the modules a start-up loads are what it costs.

Timings are benchmarks/cli.py's; these tests pin the import graph that makes them, so a
top-level import added in the wrong place fails here rather than slowing every command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cli.conftest import got_env, write

PROBE = """
import contextlib, io, json, sys
from cli.main import main
with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):  # with .buffer, for `got cat`
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# Never needed to print a version, the help or history: the write path, FUSE, remotes, rich;
# dataclasses (it imports inspect: ~8 ms), typing (~2 ms: collections.abc has the types, and
# TYPE_CHECKING is a plain False), ctypes (the pack writer's sync_file_range), getpass.
HEAVY = {"gotfs.fs", "gotkv.kv", "gotfs.chunking", "pyfastcdc", "concurrent.futures", "pyfuse3", "trio",
         "rich", "obstore", "fsspec", "gotkv.blobs.remote", "gotfs.repo.workcopy", "gotfs.repo.remotes",
         "dataclasses", "inspect", "typing", "ctypes", "getpass"}
# Listing refs opens neither the store nor a cipher, and the log reads commits as refs.sqlite
# keeps them (History.read_commit): no blob is read.
NO_BLOBS = {"cryptography", "zstandard", "gotkv.blobs.local.store", "gotkv.blobs.local.index"}
# Opening a repository, finding that the directory lies in no got mount and reading refs go by
# os.path: pathlib and the urllib.parse it imports are ~4 ms of a start (Repo.open, mounttable).
NO_PATHLIB = {"pathlib", "urllib.parse", "ipaddress"}


def loaded(cwd, *args: str, **env: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=got_env(**env), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr
    return set(result["modules"])


@pytest.mark.parametrize("args", [["--version"], ["help"], ["--help"]])
def test_version_and_help_import_no_command_and_no_argparse(tmp_path, args):
    modules = loaded(tmp_path, *args)
    assert not {m for m in modules if m.startswith("cli.commands.")}
    assert "argparse" not in modules and "gotkv.blobs.codec" not in modules and "sqlite3" not in modules


def test_read_commands_import_no_filesystem_layer(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n"})
    got("commit", "-m", "first")
    for args in (["log", "-n", "10"], ["branch"], ["tag"]):
        modules = loaded(repo_dir, *args)
        assert not modules & HEAVY, (args, sorted(modules & HEAVY))
        assert not {m for m in modules if m.startswith("cli.commands.") and m != f"cli.commands.{args[0]}"}
        assert not modules & NO_BLOBS, (args, sorted(modules & NO_BLOBS))
        assert not modules & NO_PATHLIB, (args, sorted(modules & NO_PATHLIB))


def test_reading_a_tree_imports_no_dataclasses_and_no_write_path_tools(got, repo_dir):
    """show and cat open blobs (cryptography, zstandard) but build no dataclass: Info, Extent,
    Span and the chunker's records are gotkv.value.Value or plain classes. Nor do they
    write, so no edit batch builds a SortedDict (gotkv.edit), and the modules that stage,
    build, mutate, copy and check trees are not loaded (gotfs.fs, gotkv.kv)."""
    write(repo_dir, {"a.txt": "one\n", "b.txt": "two\n"})
    got("commit", "-m", "first")
    write(repo_dir, {"a.txt": "three\n"})
    got("commit", "-m", "second")
    for args in (["show"], ["cat", "HEAD:a.txt"]):
        modules = loaded(repo_dir, *args)
        unwanted = modules & {"dataclasses", "inspect", "pyfastcdc", "concurrent.futures", "sortedcontainers",
                              "gotfs.staging", "gotkv.mutate", "gotkv.builder", "gotkv.sync", "gotkv.check"}
        assert not unwanted, (args, sorted(unwanted))
        assert not modules & NO_PATHLIB, (args, sorted(modules & NO_PATHLIB))  # the store opens by os.path too
        # the AEAD comes from cryptography's bindings, not the ciphers package (gotkv.blobs.codec)
        assert "cryptography.hazmat.primitives.ciphers" not in modules, args


def test_making_a_commands_parser_formats_no_usage(monkeypatch):
    """A command's parser is built without formatting any usage or help (cli.main.command_parser):
    a `got` holder parser with a subparsers action formats one to find its prog, and the
    ` [-- PATH...]` of log, diff and checkout is added only when a usage is shown. remote and
    key have verbs, whose subparsers action formats their prog as argparse does."""
    import argparse

    from cli.commands import COMMANDS
    from cli.main import PATH_COMMANDS, command_parser

    formatted = []
    real = argparse.HelpFormatter.format_help
    monkeypatch.setattr(argparse.HelpFormatter, "format_help", lambda self: formatted.append(1) or real(self))
    for name in COMMANDS:
        if name in ("remote", "key"):
            continue
        parser, _ = command_parser(name)
        assert not formatted, name
        if name in PATH_COMMANDS:
            assert parser.format_usage().rstrip().endswith("[-- PATH...]")
            formatted.clear()


# What a status needs when every file's stat signature matches its row: the scan, the stat
# cache's rows and the refs. Not the tree reads and edits (Tx, gotkv's edit batch and its
# SortedDict, staging, the tree build), nor WorkCopy's snapshot and checkout.
STATUS_UNNEEDED = HEAVY | NO_BLOBS | NO_PATHLIB | {"gotfs.tx", "gotkv.edit", "sortedcontainers", "gotfs.staging",
                                      "gotfs.treebuild", "gotfs.repo.workcheckout", "gotfs.repo.materialize",
                                      "gotfs.repo.hostread", "subprocess", "shutil", "logging"}


def test_a_no_change_status_imports_no_tree_or_write_machinery(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "d/b.txt": "two\n"})
    for name in ("a.txt", "d/b.txt"):  # older than the racy window, so the commit's rows are trusted
        os.utime(repo_dir / name, (1_000_000_000, 1_000_000_000))
    got("commit", "-m", "first")
    for args in (["status"], ["status", "--short"], ["status", "--json"]):
        modules = loaded(repo_dir, *args)
        assert not modules & STATUS_UNNEEDED, (args, sorted(modules & STATUS_UNNEEDED))


# A commit that finds nothing changed reads HEAD's commit and seals a new one (the blob
# libraries), but writes no host file and reads none: no checkout machinery, no pathlib
# (.gotignore, the locks and `gc --auto`'s state go by os.path).
COMMIT_UNNEEDED = NO_PATHLIB | {"gotfs.repo.materialize", "shutil", "concurrent.futures",
                                "pyfuse3", "trio", "rich", "obstore", "fsspec", "gotfs.repo.remotes", "logging"}


def test_a_no_change_commit_imports_no_pathlib_and_no_checkout(got, repo_dir):
    write(repo_dir, {"a.txt": "one\n", "d/b.txt": "two\n", ".gotignore": "*.tmp\n"})
    for name in ("a.txt", "d/b.txt", ".gotignore"):  # older than the racy window: the rows are trusted
        os.utime(repo_dir / name, (1_000_000_000, 1_000_000_000))
    got("commit", "-m", "first")
    modules = loaded(repo_dir, "commit", "--allow-empty", "-m", "again", GOT_AUTO_GC="1")
    assert "gotfs.repo.maintenance" in modules  # gc --auto was asked whether it is due
    assert not modules & COMMIT_UNNEEDED, sorted(modules & COMMIT_UNNEEDED)


def test_a_working_directory_diff_builds_no_filesystem_layer(got, repo_dir):
    """`got diff` of an edited file reads the old bytes from the store by the stat cache's
    extents: no snapshot, so neither the trees' FS nor the chunker nor the edit machinery."""
    write(repo_dir, {"a.txt": "one\n", "d/b.txt": "two\n"})
    got("commit", "-m", "first")
    write(repo_dir, {"a.txt": "three\n"})
    for args in (["diff"], ["diff", "--stat"]):
        modules = loaded(repo_dir, *args)
        unwanted = modules & (HEAVY - {"typing"} | {"gotfs.tx", "gotkv.edit", "sortedcontainers", "gotfs.staging"})
        assert not unwanted, (args, sorted(unwanted))
