"""Damage to a repository's files: history never vanishes, every error names the file and the
way out, and `got fsck --repair` rebuilds what can be rebuilt."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from tests.cli.conftest import Got, assert_clean_error, manifest, write


def _three_commits(got, repo_dir) -> list[str]:
    for i in range(3):
        write(repo_dir, {f"f{i}.txt": f"version {i}\n" * 50})
        got("commit", "-m", f"commit {i}")
    return [json.loads(line)["id"] if line.startswith("{") else line.split()[0]
            for line in got.out("log", "--oneline").splitlines()]


def _blobs(got) -> int:
    return json.loads(got.out("stats", "--json"))["blobs"]


def test_lost_refs_are_reported_kept_by_gc_and_restored(got, repo_dir):
    ids = _three_commits(got, repo_dir)
    expected = manifest(repo_dir)
    before = _blobs(got)
    with open(repo_dir / ".got/refs.sqlite", "r+b") as f:
        f.truncate(0)
    for name in ("refs.sqlite-wal", "refs.sqlite-shm"):
        (repo_dir / ".got" / name).unlink(missing_ok=True)
    done = got("fsck", "--read-data", ok=False)
    assert done.returncode == 1, done
    assert "heads/main is missing" in done.stdout and ids[0] in done.stdout
    assert f"dangling commit {ids[0]}" in done.stdout
    # gc refuses while the refs disagree with their log, and deletes nothing
    line = assert_clean_error(got("gc", "--grace", "0", ok=False), 1)
    assert "refs.sqlite" in line and "got fsck --repair" in line
    assert _blobs(got) == before
    out = got.out("fsck", "--repair")
    assert "restored heads/main" in out and "no problems found" in out
    assert got.out("log", "--oneline").split()[0] == ids[0]
    assert len(got.out("log", "--oneline").splitlines()) == 3
    got("checkout", "-f", "main")
    assert manifest(repo_dir) == expected


def test_a_deleted_branch_stays_recoverable_for_the_grace_period(got, repo_dir):
    write(repo_dir, {"a.txt": "a\n"})
    got("commit", "-m", "base")
    got("switch", "-c", "doomed")
    data = os.urandom(200_000)
    write(repo_dir, {"big.bin": data})
    got("commit", "-m", "doomed work")
    doomed = got.out("log", "--oneline").split()[0]
    got("switch", "main")
    got("branch", "-d", "doomed")
    got("gc")
    fsck = got.out("fsck", "--read-data")
    assert f"dangling commit {doomed}" in fsck and "no problems found" in fsck
    got("branch", "rescued", doomed)
    assert got("cat", "rescued:big.bin", binary=True).stdout == data
    got("branch", "-d", "rescued")
    assert json.loads(got.out("gc", "--grace", "0", "--json"))["deleted"] > 0
    assert f"dangling commit {doomed}" not in got.out("fsck")
    bad = got("gc", "--grace", "soon", ok=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_damaged_blob_index_names_the_file_and_is_rebuilt(got, repo_dir):
    _three_commits(got, repo_dir)
    expected = manifest(repo_dir)
    index = repo_dir / ".got/store/index.sqlite"
    # Commands leave their write-ahead log in place (gotkv.dbfile.close_keeping_wal), where
    # pages newer than the file's would hide damage to the file: move them into it first.
    db = sqlite3.connect(index)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(index, "r+b") as f:
        f.write(os.urandom(100))  # the header: "file is not a database"
    line = assert_clean_error(got("show", ok=False), 1)  # the log reads no blob (History.read_commit)
    assert str(index) in line and "got fsck --repair" in line and "internal error" not in line
    out = got.out("fsck", "--repair", "--read-data")
    assert "rebuilt" in out and "no problems found" in out
    got("checkout", "-f", "HEAD~2")
    got("checkout", "-f", "main")
    assert manifest(repo_dir) == expected


def test_damaged_refs_database_names_the_file_and_is_rebuilt_from_the_log(got, repo_dir):
    ids = _three_commits(got, repo_dir)
    refs = repo_dir / ".got/refs.sqlite"
    refs.write_bytes(os.urandom(8192))
    for name in ("refs.sqlite-wal", "refs.sqlite-shm"):
        (repo_dir / ".got" / name).unlink(missing_ok=True)
    line = assert_clean_error(got("status", ok=False), 1)
    assert str(refs) in line and "got fsck --repair" in line
    out = got.out("fsck", "--repair")
    assert "set aside" in out and "no problems found" in out
    assert got.out("log", "--oneline").split()[0] == ids[0]


def test_damaged_stat_cache_heals_itself(got, repo_dir):
    _three_commits(got, repo_dir)
    (repo_dir / ".got/workcopy.sqlite").write_bytes(os.urandom(4096))
    assert "nothing to commit" in got.out("status")
    write(repo_dir, {"new.txt": "new\n"})
    got("commit", "-m", "after the cache was damaged")


def test_garbage_config_names_the_file_not_init(got, repo_dir):
    _three_commits(got, repo_dir)
    (repo_dir / ".got/config.json").write_text("garbage")
    line = assert_clean_error(got("log", ok=False), 1)
    assert "config.json" in line and "got init" not in line and "backup" in line


def test_fsck_goes_on_past_a_truncated_newest_pack(got, repo_dir):
    write(repo_dir, {"old.txt": "old\n" * 100})
    got("commit", "-m", "old")
    old = got.out("log", "--oneline").split()[0]
    packs = {p.name for p in (repo_dir / ".got/store/packs").glob("*.pack")}
    # a later commit from a new process lands in a pack of its own
    write(repo_dir, {"new.bin": os.urandom(300_000)})
    got("commit", "-m", "new")
    newest = max(((repo_dir / ".got/store/packs").glob("*.pack")), key=lambda p: int(p.stem))
    assert newest.name not in packs
    with open(newest, "r+b") as f:
        f.truncate(1000)
    done = got("fsck", ok=False)
    assert done.returncode == 1, done
    assert "checked 0 commits" not in done.stdout
    assert f"dangling commit {old}" in done.stdout  # the older commit survives, and says how to get it
    assert "cannot be read" in done.stdout or "new.bin" in done.stdout


def test_a_flipped_byte_is_reported_by_file_and_commit(got, repo_dir):
    write(repo_dir, {"keep.txt": "kept\n"})
    got("commit", "-m", "first")
    first = got.out("log", "--oneline").split()[0]
    write(repo_dir, {"dir/random.bin": os.urandom(1 << 20)})
    got("commit", "-m", "data")
    head = got.out("log", "--oneline").split()[0]
    pack = max((repo_dir / ".got/store/packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    with open(pack, "r+b") as f:
        f.seek(pack.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))
    line = assert_clean_error(got("cat", "HEAD:dir/random.bin", ok=False), 1)
    assert "dir/random.bin" in line and head in line
    got("checkout", first)
    line = assert_clean_error(got("checkout", "main", ok=False), 1)
    assert "dir/random.bin" in line and head in line
    done = got("fsck", "--read-data", ok=False)
    assert done.returncode == 1
    assert any("dir/random.bin" in p and head in p for p in done.stdout.splitlines() if p.startswith("error: "))
    assert "checked 2 commits (1 damaged)" in done.stdout


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (needs root)."""
    top = tmp_path / "small"
    top.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(top)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield top
    subprocess.run(["umount", "-l", str(top)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_pack_data(small_disk):
    got = Got(small_disk)
    got("init")
    write(small_disk, {"a.txt": "a\n"})
    got("commit", "-m", "one")
    packs = small_disk / ".got/store/packs"
    before = {p.name: p.stat().st_size for p in packs.glob("*.pack")}
    write(small_disk, {"big.bin": os.urandom(2_500_000)})
    line = assert_clean_error(got("commit", "-m", "too big", ok=False), 1)
    assert "full" in line and ".got" in line and "internal error" not in line
    assert {p.name: p.stat().st_size for p in packs.glob("*.pack")} == before
    (small_disk / "big.bin").unlink()
    assert "no problems found" in got.out("fsck", "--read-data")
    write(small_disk, {"b.txt": "b\n"})
    got("commit", "-m", "two")
    assert len(got.out("log", "--oneline").splitlines()) == 2


@pytest.mark.parametrize("key", [b"//abs/", b"/d/../escape/", b"/d//x/", b"/link/x/", b"/d/nul\x00byte/"])
def test_trees_checkout_refuses_are_reported_by_fsck_and_nothing_is_written(got, repo_dir, key):
    from gotfs.info import Info
    from gotfs.repo import Repo
    from gotfs.tx import Tx

    write(repo_dir, {"keep.txt": "keep\n"})
    got("commit", "-m", "base")
    with Repo.open(repo_dir) as repo:
        root = repo.head_root()
        root = repo.fs.mkdir(root, "d")
        root = repo.fs.symlink(root, "link", b"/tmp")
        root = repo.fs.write_file(root, "d/zz-ok", b"ok")  # sorts after the hostile key
        root = repo.fs.write_file(root, "a-first", b"first")  # sorts before it
        tx = Tx(repo.fs, root)
        tx.put(key, Info.file(0o644, 5).to_bytes())
        for end, ext in repo.fs.data.write_bytes(b"pwned"):
            tx.put(key + b"\x00" + end.to_bytes(8, "big"), ext.to_bytes())
        repo.commit(tx.commit(), "hostile", branch="evil")
    done = got("fsck", ok=False)
    assert done.returncode == 1 and "checkout refuses it" in done.stdout, done.stdout
    before = manifest(repo_dir)
    line = assert_clean_error(got("checkout", "evil", ok=False))
    assert "refusing to check out" in line and "nothing was written" in line
    assert manifest(repo_dir) == before
    assert got.out("status").startswith("On branch main")


def test_a_repository_made_before_the_ref_log_gets_one(got, repo_dir):
    ids = _three_commits(got, repo_dir)
    (repo_dir / ".got/refs.log").unlink()  # as a repository made before the log existed
    assert "no problems found" in got.out("fsck")  # opening it writes the log's baseline
    with open(repo_dir / ".got/refs.sqlite", "r+b") as f:
        f.truncate(0)
    for name in ("refs.sqlite-wal", "refs.sqlite-shm"):
        (repo_dir / ".got" / name).unlink(missing_ok=True)
    assert "heads/main is missing" in got("fsck", ok=False).stdout
    got("fsck", "--repair")
    assert got.out("log", "--oneline").split()[0] == ids[0]


def test_a_torn_ref_log_line_costs_nothing(got, repo_dir):
    ids = _three_commits(got, repo_dir)
    with open(repo_dir / ".got/refs.log", "ab") as f:
        f.write(b'{"s":99,"t":1,"ref":"heads/ma')  # a crash in the middle of an append
    write(repo_dir, {"more.txt": "more\n"})
    got("commit", "-m", "after the torn line")
    assert "no problems found" in got.out("fsck")
    assert len(got.out("log", "--oneline").splitlines()) == len(ids) + 1


def test_work_committed_after_refs_were_lost_is_kept_beside_the_recovered_branch(got, repo_dir):
    ids = _three_commits(got, repo_dir)
    with open(repo_dir / ".got/refs.sqlite", "r+b") as f:
        f.truncate(0)
    for name in ("refs.sqlite-wal", "refs.sqlite-shm"):
        (repo_dir / ".got" / name).unlink(missing_ok=True)
    write(repo_dir, {"later.txt": "later\n"})
    got("commit", "-m", "made after the loss")  # a root commit: main's history looks gone
    later = got.out("log", "--oneline").split()[0]
    assert "heads/main holds" in got("fsck", ok=False).stdout
    out = got.out("fsck", "--repair")
    assert "heads/recovered/main" in out and "no problems found" in out
    assert got.out("log", "--oneline").split()[0] == later
    assert [line.split()[0] for line in got.out("log", "--oneline", "recovered/main").splitlines()] == ids
