"""The everyday loop through the real `got`: init, commit, status, diff, log, branches, checkout."""

from __future__ import annotations

import json
import os
import random

from tests.cli.conftest import Got, manifest, write


def test_init_message_and_refuses_twice(tmp_path):
    got = Got(tmp_path)
    done = got("init", "repo")
    assert done.stdout.strip() == f"Initialized empty got repository in {tmp_path / 'repo' / '.got'}"
    assert (tmp_path / "repo" / ".got" / "config.json").exists()
    again = got("init", "repo", ok=False)
    assert again.returncode != 0 and again.stderr.startswith("got: ") and "already exists" in again.stderr


def test_commit_status_diff_log(got, repo_dir):
    status = got.out("status")
    assert "On branch main" in status and "No commits yet" in status
    write(repo_dir, {"a.txt": "one\ntwo\nthree\n", "docs/readme.md": "# hi\n", "gone.txt": "bye\n"})
    os.symlink("a.txt", repo_dir / "link")
    assert got.out("status", "--short").splitlines() == ["A a.txt", "A docs/", "A docs/readme.md",
                                                          "A gone.txt", "A link"]
    first = got.out("commit", "-m", "first commit")
    assert first.startswith("[main (root-commit) ") and "] first commit" in first
    assert " 4 files changed: 4 added, 0 modified, 0 removed" in first
    assert "nothing to commit, working tree clean" in got.out("status")

    write(repo_dir, {"a.txt": "one\n2\nthree\nfour\n", "gone.txt": None, "new.bin": b"\x00\x01\x02" * 100})
    assert got.out("status", "--short").splitlines() == ["M a.txt", "D gone.txt", "A new.bin"]
    doc = json.loads(got.out("status", "--json"))
    assert doc["branch"] == "main" and not doc["clean"]
    assert {(c["path"], c["kind"]) for c in doc["changes"]} == {
        ("a.txt", "modified"), ("gone.txt", "removed"), ("new.bin", "added")}

    diff = got.out("diff")
    assert "diff --got a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n" in diff
    assert "@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four\n" in diff
    assert "diff --got a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n" in diff
    assert "-bye\n" in diff
    assert "Binary files /dev/null and b/new.bin differ" in diff
    assert got.out("diff", "--name-only").splitlines() == ["a.txt", "gone.txt", "new.bin"]
    assert got.out("diff", "--", "a.txt").count("diff --got") == 1
    stat = got.out("diff", "--stat")
    assert " a.txt    |    3 ++-" in stat and " new.bin  | Bin" in stat
    assert stat.splitlines()[-1] == " 3 files changed, 2 insertions(+), 2 deletions(-)"
    stat_json = json.loads(got.out("diff", "--stat", "--json"))
    assert stat_json["summary"] == {"files": 3, "insertions": 2, "deletions": 2}

    second = got.out("commit", "-m", "second\n\nwith a body")
    assert second.startswith("[main ") and "] second\n" in second
    assert "3 files changed: 1 added, 1 modified, 1 removed" in second
    write(repo_dir, {"docs/readme.md": "# hello\n"})
    got("commit", "-m", "third")

    oneline = got.out("log", "--oneline").splitlines()
    assert [line.split(" ", 1)[1] for line in oneline] == ["(HEAD -> main) third", "second", "first commit"]
    assert len(got.out("log", "-n", "2", "--oneline").splitlines()) == 2
    full = got.out("log")
    assert full.count("\ncommit ") == 2 and "Author: Test Author <test@example.com>" in full
    assert "    with a body" in full
    log_json = json.loads(got.out("log", "--json"))
    assert [c["message"].splitlines()[0] for c in log_json] == ["third", "second", "first commit"]
    assert log_json[0]["parents"] == [log_json[1]["id"]]
    # Path filter: only commits whose change touched the path (vs their first parent).
    docs = got.out("log", "--oneline", "--", "docs").splitlines()
    assert [line.split(" ", 1)[1].split(") ")[-1] for line in docs] == ["third", "first commit"]
    assert [c["message"] for c in json.loads(got.out("log", "--json", "--", "gone.txt"))] == [
        "second\n\nwith a body", "first commit"]
    assert got.out("log", "--oneline", "HEAD~1").splitlines()[0].endswith("second")
    # diff between two revisions, and a revision against the working directory
    two = got.out("diff", "HEAD~2", "HEAD", "--name-only").splitlines()
    assert two == ["a.txt", "docs/readme.md", "gone.txt", "new.bin"]
    assert got.out("diff", "HEAD~1") .count("diff --got") == 1


def test_nothing_to_commit_and_allow_empty(got, repo_dir):
    write(repo_dir, {"f": "x"})
    got("commit", "-m", "one")
    done = got("commit", "-m", "again", ok=False)
    assert done.returncode == 1 and done.stderr.strip() == "got: nothing to commit, working tree clean"
    out = got.out("commit", "--allow-empty", "-m", "empty")
    assert "0 files changed" in out
    assert len(got.out("log", "--oneline").splitlines()) == 2


def _random_tree(rng: random.Random, top, tag: str) -> None:
    """A varied tree: nested dirs, empty and binary files, exec bits, symlinks, a big file."""
    write(top, {
        f"src/{tag}/main.py": f"print({tag!r})\n" * rng.randint(1, 50),
        "src/shared.txt": "".join(rng.choice("abc\n") for _ in range(rng.randint(0, 3000))),
        f"data/{tag}.bin": rng.randbytes(rng.randint(0, 200_000)),
        "empty": b"",
        f"deep/a/b/c/{tag}": tag * 10,
    })
    os.chmod(top / f"src/{tag}/main.py", 0o755 if rng.random() < 0.5 else 0o640)
    link = top / f"link-{tag}"
    if not link.is_symlink():
        os.symlink(f"src/{tag}/main.py", link)
    (top / f"emptydir-{tag}").mkdir(exist_ok=True)


def test_checkout_back_and_forth_is_byte_exact(got, repo_dir):
    rng = random.Random(7)
    expected = {}
    _random_tree(rng, repo_dir, "m1")
    write(repo_dir, {"big.bin": rng.randbytes(3 << 20)})
    got("commit", "-m", "m1")
    expected["main~1"] = manifest(repo_dir)
    got("tag", "v1")
    _random_tree(rng, repo_dir, "m2")
    write(repo_dir, {"src/m1/main.py": None, "big.bin": rng.randbytes(1 << 20)})
    os.unlink(repo_dir / "link-m1")
    got("commit", "-m", "m2")
    expected["main"] = manifest(repo_dir)

    out = got.out("switch", "-c", "dev", "v1")
    assert "Switched to branch 'dev'" in out
    assert manifest(repo_dir) == expected["main~1"]
    _random_tree(rng, repo_dir, "d1")
    os.chmod(repo_dir / "src/shared.txt", 0o600)
    got("commit", "-m", "d1")
    expected["dev"] = manifest(repo_dir)
    assert "* dev" in got.out("branch").splitlines()

    for rev in ["main", "v1", "dev", "main~1", "main", "dev", "v1", "main"]:
        got("checkout", rev)
        assert manifest(repo_dir) == expected["main~1" if rev == "v1" else rev], rev
        assert "nothing to commit" in got.out("status")
    assert got.out("status").startswith("On branch main")
    got("checkout", "v1")
    assert "HEAD detached at" in got.out("status")
    got("switch", "dev")
    assert got.out("status").startswith("On branch dev")
    # branch and tag lists, JSON, delete
    branches = json.loads(got.out("branch", "--json"))
    assert [(b["name"], b["current"]) for b in branches] == [("dev", True), ("main", False)]
    got("branch", "topic", "main~1")
    assert got.out("branch").splitlines() == ["* dev", "  main", "  topic"]
    assert got.out("branch", "-d", "topic").startswith("Deleted branch topic (was ")
    assert got.out("tag").splitlines() == ["v1"]
    got("tag", "-d", "v1")
    assert got.out("tag") == ""


def test_checkout_paths_restores_only_those(got, repo_dir):
    write(repo_dir, {"a": "a1", "b": "b1", "dir/c": "c1"})
    got("commit", "-m", "one")
    write(repo_dir, {"a": "a2", "b": "b2", "dir/c": "c2"})
    got("commit", "-m", "two")
    out = got.out("checkout", "HEAD~1", "--", "a", "dir")
    assert out.startswith("Updated")
    assert (repo_dir / "a").read_text() == "a1" and (repo_dir / "dir/c").read_text() == "c1"
    assert (repo_dir / "b").read_text() == "b2"
    assert got.out("status", "--short").splitlines() == ["M a", "M dir/c"]
    assert "On branch main" in got.out("status")


def test_show_cat_ls(got, repo_dir):
    blob = bytes(range(256)) * 4096 + b"\x00tail"
    write(repo_dir, {"bin/data": blob, "notes/a.txt": "alpha\n", "notes/sub/b.txt": "beta\n"})
    os.symlink("notes/a.txt", repo_dir / "ln")
    got("commit", "-m", "one")
    write(repo_dir, {"notes/a.txt": "alpha two\n"})
    got("commit", "-m", "two")

    assert got("cat", "HEAD~1:bin/data", binary=True).stdout == blob
    assert got.out("cat", "HEAD:notes/a.txt") == "alpha two\n"
    assert got.out("show", "HEAD~1:notes/a.txt") == "alpha\n"
    assert got.out("show", "HEAD:notes").splitlines() == ["tree HEAD:notes", "", "a.txt", "sub/"]
    assert got.out("show", "HEAD:ln").strip() == "notes/a.txt"
    show = got.out("show")
    assert show.startswith("commit ") and "    two" in show
    assert "-alpha\n+alpha two\n" in show and "bin/data" not in show

    assert got.out("ls").splitlines() == ["bin/", "ln -> notes/a.txt", "notes/"]
    assert got.out("ls", "-R", "HEAD:notes").splitlines() == ["a.txt", "sub/", "sub/b.txt"]
    long = got.out("ls", "-l", "-R").splitlines()
    assert f"100644 {len(blob):>12}  bin/data" in long
    assert "040755            -  notes/" in long and "120777           11  ln -> notes/a.txt" in long
    entries = json.loads(got.out("ls", "-R", "--json"))
    assert {e["path"]: e["type"] for e in entries} == {
        "bin": "dir", "bin/data": "file", "ln": "symlink", "notes": "dir", "notes/a.txt": "file",
        "notes/sub": "dir", "notes/sub/b.txt": "file"}
    assert [e["target"] for e in entries if e["type"] == "symlink"] == ["notes/a.txt"]


def test_gotignore_is_honoured(got, repo_dir):
    write(repo_dir, {
        ".gotignore": "*.log\nbuild/\n!keep.log\n/top-only\n",
        "app.py": "x", "debug.log": "noise", "keep.log": "kept", "sub/trace.log": "noise",
        "build/out.o": "obj", "sub/build/x": "obj", "top-only": "t", "sub/top-only": "kept too",
    })
    assert got.out("status", "--short").splitlines() == [
        "A .gotignore", "A app.py", "A keep.log", "A sub/", "A sub/top-only"]
    got("commit", "-m", "one")
    listed = got.out("ls", "-R").splitlines()
    assert listed == [".gotignore", "app.py", "keep.log", "sub/", "sub/top-only"]
    got("switch", "-c", "other")
    write(repo_dir, {"app.py": "y"})
    got("commit", "-m", "two")
    got("checkout", "main")
    # ignored files are neither committed nor touched by checkout
    assert (repo_dir / "debug.log").read_text() == "noise"
    assert (repo_dir / "build/out.o").read_text() == "obj"
    assert "nothing to commit" in got.out("status")


def test_global_C_option(tmp_path):
    Got(tmp_path)("init", "r")
    write(tmp_path / "r", {"f": "x"})
    assert "A f" in Got(tmp_path).out("-C", "r", "status", "--short")
    Got(tmp_path)("-C", "r", "commit", "-m", "one")
    assert Got(tmp_path / "r").out("log", "--oneline").strip().endswith("one")


def test_json_outputs_parse(got, repo_dir):
    write(repo_dir, {"f": "x" * 1000})
    got("commit", "-m", "one")
    stats = json.loads(got.out("stats", "--json"))
    assert stats["head_files"] == 1 and stats["head_bytes"] == 1000 and stats["blobs"] > 0
    fsck = json.loads(got.out("fsck", "--json"))
    assert fsck["ok"] and fsck["commits"] == 1 and fsck["problems"] == []
    human = got.out("stats")
    assert "dedup ratio" in human and "KiB" in human or " B" in human


def test_commit_refused_when_a_mount_moved_the_branch(tmp_path):
    """A read-write mount committing to the branch leaves this directory behind: a plain
    commit would revert the mount's work, so it is refused until a checkout catches up."""
    from gotfs.repo import Repo
    from tests.cli.conftest import Got, assert_clean_error

    got = Got(tmp_path)
    (tmp_path / "a.txt").write_text("one\n")
    got("init")
    got("commit", "-m", "first")
    with Repo.open(tmp_path) as repo:  # what a rw mount does: publish a root, commit it
        root = repo.fs.write_file(repo.head_root(), "from-mount.txt", b"made in the mount\n")
        repo.publish_working_root("main", root)
        assert repo.commit_working_root("main", "mount work", clear=True) is not None
    (tmp_path / "a.txt").write_text("two\n")
    err = assert_clean_error(got("commit", "-m", "stale", ok=False))
    assert "got checkout main" in err
    got("checkout", "main")
    assert (tmp_path / "from-mount.txt").read_text() == "made in the mount\n"
    assert (tmp_path / "a.txt").read_text() == "two\n"  # the local edit survives the catch-up
    got("commit", "-m", "after catching up")
    assert got.out("cat", "HEAD:from-mount.txt") == "made in the mount\n"
    assert got.out("cat", "HEAD:a.txt") == "two\n"


def test_checkout_force_keeps_untracked_files(tmp_path):
    from tests.cli.conftest import Got

    got = Got(tmp_path)
    (tmp_path / "tracked.txt").write_text("v1\n")
    got("init")
    got("commit", "-m", "v1")
    (tmp_path / "tracked.txt").write_text("v2\n")
    got("commit", "-m", "v2")
    (tmp_path / "tracked.txt").write_text("local edit\n")
    (tmp_path / "untracked.txt").write_text("keep me\n")
    got("checkout", "--force", "HEAD~1")
    assert (tmp_path / "tracked.txt").read_text() == "v1\n"
    assert (tmp_path / "untracked.txt").read_text() == "keep me\n"


def test_older_repo_formats_keep_their_codec(tmp_path):
    """Repos made before config.json named a cipher were sealed with ChaCha20-Poly1305 in
    blob layout 1; later ones with AES-256-GCM, still layout 1 (format 1); new repos use
    layout 2 (format 2). All commit, read back and fsck, with the codec they were made with."""
    got = Got(tmp_path)
    kinds = {"chacha": (1, None), "aes1": (1, "aes-256-gcm"), "new": (2, "aes-256-gcm")}
    for name, (fmt, cipher) in kinds.items():
        got("init", name)
        config_path = tmp_path / name / ".got" / "config.json"
        config = json.loads(config_path.read_text())
        assert (config["format"], config["cipher"]) == (2, "aes-256-gcm")
        config["format"] = fmt
        if cipher is None:
            del config["cipher"]
        config_path.write_text(json.dumps(config))
        write(tmp_path / name, {"f.txt": "x" * 5000, "big.bin": os.urandom(300_000).hex()})
        got("-C", name, "commit", "-m", "one")
        assert got.out("-C", name, "cat", "HEAD:f.txt") == "x" * 5000
        got("-C", name, "fsck", "--read-data")
    from gotfs.repo.repo import Repo
    for name, (fmt, cipher) in kinds.items():
        with Repo.open(tmp_path / name) as repo:
            codec = repo.fs.data.codec
            assert (codec.layout, codec.cipher) == (fmt, cipher or "chacha20-poly1305")


def test_repo_of_a_newer_format_is_refused_in_one_line(tmp_path):
    got = Got(tmp_path)
    got("init")
    config_path = tmp_path / ".got" / "config.json"
    config = json.loads(config_path.read_text())
    config["format"] = 7
    config_path.write_text(json.dumps(config))
    r = got("status", ok=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "format 7" in r.stderr and "newer got" in r.stderr and r.stderr.count("\n") == 1
