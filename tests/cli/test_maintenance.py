"""gc, fsck and stats through the real `got`."""

from __future__ import annotations

import json
import os
import random

from tests.cli.conftest import assert_clean_error, manifest, write


def _stats(got) -> dict:
    return json.loads(got.out("stats", "--json"))


def test_gc_keeps_everything_reachable_and_frees_the_rest(got, repo_dir):
    rng = random.Random(3)
    expected = {}
    write(repo_dir, {"a.txt": "a\n" * 100, "data/blob": rng.randbytes(600_000), "small/x": "x"})
    got("commit", "-m", "one")
    expected["v1"] = manifest(repo_dir)
    got("tag", "v1")
    write(repo_dir, {"a.txt": "b\n" * 100, "data/blob2": rng.randbytes(300_000), "small/x": None})
    got("commit", "-m", "two")
    expected["main"] = manifest(repo_dir)
    got("switch", "-c", "side", "v1")
    write(repo_dir, {"side.txt": "side\n"})
    got("commit", "-m", "side")
    expected["side"] = manifest(repo_dir)
    # A branch holding a big unique file, then deleted: its data becomes garbage.
    got("switch", "-c", "doomed")
    write(repo_dir, {"huge.bin": rng.randbytes(3 << 20)})
    got("commit", "-m", "huge")
    got("switch", "main")
    got("branch", "-d", "doomed")
    got("checkout", "HEAD~1")  # a detached HEAD keeps its commit alive too
    got("switch", "main")

    before = _stats(got)
    dry = json.loads(got.out("gc", "--dry-run", "--grace", "0", "--json"))
    assert dry["unreachable"] > 0 and dry["deleted"] == 0
    assert _stats(got)["blobs"] == before["blobs"]
    out = got.out("gc", "--grace", "0")
    assert out.startswith("deleted ")
    after = _stats(got)
    assert after["blobs"] < before["blobs"]
    assert before["stored_bytes"] - after["stored_bytes"] >= 3 << 20
    assert after["pack_bytes"] < before["pack_bytes"]

    fsck = got.out("fsck", "--read-data")
    assert "no problems found" in fsck
    for rev in ["v1", "side", "main", "v1", "main"]:
        got("checkout", rev)
        assert manifest(repo_dir) == expected[rev], rev
    # gc again finds nothing to do
    assert json.loads(got.out("gc", "--json"))["deleted"] == 0


def test_fsck_finds_a_flipped_byte(got, repo_dir):
    write(repo_dir, {"random.bin": os.urandom(1 << 20), "note.txt": "hello\n"})
    got("commit", "-m", "data")
    assert "no problems found" in got.out("fsck", "--read-data")
    packs = sorted((repo_dir / ".got/store/packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    pack = packs[-1]
    assert pack.stat().st_size > 1 << 20
    with open(pack, "r+b") as f:
        f.seek(pack.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))
    done = got("fsck", "--read-data", ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    problems = [line for line in done.stdout.splitlines() if line.startswith("error: ")]
    assert problems, done.stdout
    assert any("integrity check failed" in p or "does not match its id" in p for p in problems)
    assert done.stderr.startswith("got: fsck found ")
    report = json.loads(got("fsck", "--read-data", "--json", ok=False).stdout)
    assert not report["ok"] and report["problems"]
    # reading the damaged file fails cleanly too
    assert_clean_error(got("cat", "HEAD:random.bin", ok=False))


def test_gc_waits_for_a_mounts_unpublished_spill(tmp_path):
    """A read-write mount's spill posts blobs that may be dedup hits on blobs no commit
    reaches any more; gc must not sweep them before the mount publishes the root naming them
    (it did: the next publish then recorded a root whose data was gone)."""
    import threading

    from gotfs.repo.mounting import RepoRootSource as RootSource
    from gotfs.mount.inodes import ROOT_INODE
    from gotfs.mount.writeback import Writeback
    from gotfs.repo import Repo
    from gotfs.repo.fsck import fsck
    from gotfs.repo.maintenance import gc

    data = random.Random(3).randbytes(3 << 20)
    repo = Repo.init(tmp_path)
    fs = repo.fs
    repo.commit(fs.write_file(fs.new(), "old.bin", data), "with the data")
    repo.commit(fs.new(), "without it: its blobs are now unreachable")

    wb = Writeback(fs, RootSource(repo, branch="main"), max_dirty=1 << 40)
    fh, _ = wb.create(ROOT_INODE, b"again.bin", 0o644)
    wb.write(fh, 0, data)  # the same bytes: every chunk is a dedup hit
    wb.flush(publish=False)  # a spill: posted, not published

    swept = threading.Event()
    other = Repo.open(tmp_path)  # gc runs in its own process in real life: own handles
    collector = threading.Thread(target=lambda: (gc(other), swept.set()))
    collector.start()
    assert not swept.wait(1.0)  # gc waits for the mount...
    root = wb.flush()  # ...until it publishes
    collector.join(30)
    assert swept.is_set()
    wb.release(fh)
    wb.close()
    other.close()
    with Repo.open(tmp_path) as fresh:
        assert fresh.fs.read(root, "again.bin") == data
        assert fsck(fresh, read_data=True).ok
    repo.close()
