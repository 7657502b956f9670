"""The stat cache's base tree (gotfs/repo/basetree.py): a commit edits HEAD's tree where the
working directory changed instead of rebuilding it, and status compares against the rows
instead of reading the tree; both must give exactly what the full rebuild and the full read give."""

from __future__ import annotations

import os
import random
import stat
import time

import pytest

from gotfs.info import Info
from gotfs.keys import info_key, parse_path
from gotfs.repo import Repo, basetree
from gotfs.repo.errors import NothingToCommit
from gotfs.staging import Staging

AUTHOR = "t <t@example.com>"
PAST_NS = 10 * 1_000_000_000  # older than the racily-clean window: the stat cache trusts it


@pytest.fixture
def repo(tmp_path) -> Repo:
    r = Repo.init(tmp_path / "w")
    yield r
    r.close()



def _forbid_whole_tree(monkeypatch, repo, *, reads: bool = True) -> None:
    """Make reading the whole tree (WorkCopy.tracked, unless not `reads`) or building it
    (kv.build) fail the test: what a status or commit from the recorded base must not do."""
    def no_read(*_):
        raise AssertionError("the whole tree was read again")

    def no_build(entries):
        raise AssertionError("the whole tree was built again")

    from gotfs.repo.workcopy import WorkCopy
    if reads:
        monkeypatch.setattr(WorkCopy, "tracked", no_read)
    monkeypatch.setattr(repo.fs.kv, "build", no_build)

def _age(repo: Repo) -> None:
    """Move every mtime into the past, so that every signature is trusted."""
    then = time.time_ns() - PAST_NS
    for dirpath, dirnames, filenames in os.walk(repo.workdir):
        dirnames[:] = [d for d in dirnames if d != ".got" or dirpath != str(repo.workdir)]
        for name in filenames:
            os.utime(os.path.join(dirpath, name), ns=(then, then), follow_symlinks=False)


def _rebuilt(repo: Repo):
    """The working directory's root built from every row (the recorded base ignored)."""
    wc = repo.workcopy()
    try:
        return wc.snapshot()
    finally:
        wc.close()


def _staged(repo: Repo):
    """The working directory's tree as the FS write path makes it: a Staging (gotfs.staging)
    with every file written whole, in path order (so in the same packing groups)."""
    staging = Staging(repo.fs, repo.fs.kv.empty())
    staging.put_info((), Info.dir(0o755))
    found = []
    for dirpath, dirnames, filenames in os.walk(repo.workdir):
        top = dirpath == str(repo.workdir)
        dirnames[:] = [d for d in dirnames if not (top and d == ".got")]
        for name in dirnames + filenames:
            host = os.path.join(dirpath, name)
            found.append((parse_path(os.path.relpath(host, repo.workdir)), host))
    for path, host in sorted(found, key=lambda t: info_key(t[0])):
        s = os.lstat(host)
        if stat.S_ISDIR(s.st_mode):
            staging.put_info(path, Info.dir(stat.S_IMODE(s.st_mode)))
        elif stat.S_ISLNK(s.st_mode):
            staging.put_info(path, Info.symlink(os.fsencode(os.readlink(host))))
        else:
            with open(host, "rb") as f:
                staging.write_file(path, f.read(), mode=stat.S_IMODE(s.st_mode))
    return staging.flush()


def _status(repo: Repo, *, recorded: bool):
    """status against HEAD; with recorded=False, as if no base were recorded (the base is
    put back afterwards, so that the next commit still edits it)."""
    wc = repo.workcopy()
    try:
        saved = wc.db.execute("SELECT * FROM base").fetchall()
        if not recorded:
            wc.db.execute("DELETE FROM base")
        changes = [(c.path, c.kind) for c in wc.status(repo.head_root())]
        if not recorded:
            wc.db.executemany("INSERT OR REPLACE INTO base VALUES (?,?,?)", saved)
        return changes
    finally:
        wc.close()


def _commit(repo: Repo):
    try:
        return repo.commit_workdir("c", author=AUTHOR)[1]
    except NothingToCommit:
        return repo.head_root()


def _mutate(repo: Repo, rnd: random.Random) -> None:
    """A few random edits: add, rewrite, append, remove files; a file becomes a directory
    and back; symlinks come, change and go; a directory goes; a mode changes."""
    w = repo.workdir
    files = sorted(p for p in w.rglob("*") if ".got" not in p.parts and (p.is_file() or p.is_symlink()))
    dirs = sorted(p for p in w.rglob("*") if ".got" not in p.parts and p.is_dir() and not p.is_symlink())
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(9)
        if op <= 2 or not files:
            p = w / f"d{rnd.randrange(4)}" / f"e{rnd.randrange(3)}" / f"f{rnd.randrange(40)}"
            if any(q.is_file() or q.is_symlink() for q in list(p.parents)[:-1] if q != w and q.is_relative_to(w)):
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_dir() and not p.is_symlink():
                continue
            if p.is_symlink():
                p.unlink()
            p.write_bytes(rnd.randbytes(rnd.choice([0, 10, 3000, 70_000])))
            continue
        p = rnd.choice(files)
        if not (p.exists() or p.is_symlink()):
            continue
        if op == 3 and not p.is_dir():  # (an earlier op may have made it a directory)
            p.unlink()
        elif op == 4 and p.is_file():
            with open(p, "ab") as f:
                f.write(b"more")
        elif op == 5 and p.is_file():
            p.unlink()
            p.mkdir()
            (p / "inner").write_bytes(b"was a file")
        elif op == 6:
            p.unlink()
            p.symlink_to(f"target-{rnd.randrange(5)}")
        elif op == 7 and p.is_file():
            p.chmod(0o755 if rnd.random() < 0.5 else 0o600)
        elif op == 8 and dirs:
            d = rnd.choice(dirs)
            if d.exists():
                for q in sorted(d.rglob("*"), key=lambda q: len(q.parts), reverse=True):
                    q.unlink() if q.is_file() or q.is_symlink() else q.rmdir()
                d.rmdir()
                if rnd.random() < 0.5:
                    d.write_bytes(b"a directory became this file")


@pytest.mark.parametrize("seed", range(3))
def test_a_first_commit_is_the_tree_the_fs_write_path_makes(repo, seed):
    """Every file written, in path order: the same packing groups, so the very same root as
    a Staging writing the same files (later commits write only the changed files, so their
    groups, and extents, differ from a write of everything)."""
    rnd = random.Random(seed)
    for _ in range(8):
        _mutate(repo, rnd)
    for i in range(40):
        (repo.workdir / f"f{i}").write_bytes(rnd.randbytes(rnd.choice([0, 100, 20_000, 300_000])))
    assert _commit(repo) == _staged(repo)


@pytest.mark.parametrize("seed", range(6))
def test_edited_base_is_the_rebuilt_tree_and_status_agrees(repo, seed):
    rnd = random.Random(seed)
    _mutate(repo, rnd)
    _age(repo)
    _commit(repo)
    for _ in range(6):
        _mutate(repo, rnd)
        _age(repo)
        assert _status(repo, recorded=True) == _status(repo, recorded=False)
        head = repo.head_root()
        wc = repo.workcopy()
        assert basetree.load(wc.db, head) is not None  # so the commit below edits it
        wc.close()
        root = _commit(repo)
        assert root == _rebuilt(repo)
        assert _status(repo, recorded=True) == []


def test_no_change_and_one_file_commits_edit_the_tree_instead_of_building_it(repo, monkeypatch):
    for i in range(300):
        p = repo.workdir / f"d{i % 10}" / f"f{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"%d\n" % i * 50)
    _age(repo)
    first = _commit(repo)

    _forbid_whole_tree(monkeypatch, repo, reads=False)
    assert repo.commit_workdir("again", author=AUTHOR, allow_empty=True)[1] == first
    (repo.workdir / "d3" / "f3.txt").write_bytes(b"changed")
    (repo.workdir / "d4" / "new.txt").write_bytes(b"new")
    (repo.workdir / "d5" / "f5.txt").unlink()
    second = repo.commit_workdir("edit", author=AUTHOR)[1]
    monkeypatch.undo()
    assert second == _rebuilt(repo)
    assert repo.fs.read(second, "d3/f3.txt") == b"changed"
    assert repo.fs.read(second, "d4/new.txt") == b"new"
    assert not repo.fs.exists(second, "d5/f5.txt")


def test_a_checkout_clears_the_base_and_the_next_commit_rebuilds(repo):
    (repo.workdir / "a").write_bytes(b"1")
    _age(repo)
    one = _commit(repo)
    (repo.workdir / "a").write_bytes(b"2")
    _age(repo)
    two = _commit(repo)
    repo.checkout(repo.resolve("HEAD~1").cid.hex(), force=True)
    wc = repo.workcopy()
    try:
        assert basetree.load(wc.db, two) is None
    finally:
        wc.close()
    assert repo.fs.read(one, "a") == (repo.workdir / "a").read_bytes() == b"1"
    assert _status(repo, recorded=True) == []


def test_an_interrupted_commit_keeps_the_rows_of_what_it_stored(repo, monkeypatch):
    from gotfs.repo import workcopy

    for i in range(50):
        (repo.workdir / f"f{i:02}.bin").write_bytes(os.urandom(300_000))  # one packing group each
    _age(repo)
    monkeypatch.setattr(workcopy, "ROW_BATCH", 10)
    real = workcopy._HashingReader

    def failing(path):
        if os.path.basename(path) == "f35.bin":
            raise OSError("the disk went away")
        return real(path)

    monkeypatch.setattr(workcopy, "_HashingReader", failing)
    with pytest.raises(OSError):
        repo.commit_workdir("first", author=AUTHOR)
    wc = repo.workcopy()
    try:
        kept = [p for (p,) in wc.db.execute("SELECT path FROM files ORDER BY path")]
        assert kept[:30] == [b"f%02d.bin" % i for i in range(30)] and len(kept) < 36
        assert basetree.load(wc.db, repo.head_root()) is None
        cids = wc.referenced_cids()
    finally:
        wc.close()
    fresh = Repo.open(repo.workdir)  # sees only what was flushed: the rows name nothing else
    try:
        assert cids and fresh.store.exists(cids) == cids
    finally:
        fresh.close()
    monkeypatch.undo()
    opened = []
    monkeypatch.setattr(workcopy, "_HashingReader", lambda path: opened.append(os.path.basename(path)) or real(path))
    root = repo.commit_workdir("first", author=AUTHOR)[1]
    assert not {f"f{i:02}.bin" for i in range(30)} & set(opened)  # stored before: not read again
    assert repo.fs.read(root, "f07.bin") == (repo.workdir / "f07.bin").read_bytes()


def test_a_diff_leaves_the_base_so_the_next_status_and_commit_edit_it(repo, monkeypatch):
    """`got diff` snapshots the working directory without committing it: the stat cache must
    keep describing HEAD's tree, or the status and commit after every diff read and rebuild
    the whole tree."""
    for i in range(300):
        p = repo.workdir / f"d{i % 10}" / f"f{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"%d\n" % i * 50)
    _age(repo)
    head = _commit(repo)
    (repo.workdir / "d3" / "f3.txt").write_bytes(b"changed")
    (repo.workdir / "d4" / "new.txt").write_bytes(b"new")
    (repo.workdir / "d5" / "f5.txt").unlink()
    looked = repo.snapshot()
    assert looked == repo.snapshot()  # and again, from the same rows
    wc = repo.workcopy()
    try:
        assert basetree.load(wc.db, head) is not None
    finally:
        wc.close()

    _forbid_whole_tree(monkeypatch, repo)
    assert repo.status() and [(c.path, c.kind) for c in repo.status()] == [
        ("d3/f3.txt", "modified"), ("d4/new.txt", "added"), ("d5/f5.txt", "removed")]
    committed = repo.commit_workdir("edit", author=AUTHOR)[1]
    monkeypatch.undo()
    assert committed == looked == _rebuilt(repo)
    assert repo.fs.read(committed, "d3/f3.txt") == b"changed"


def test_restoring_paths_from_head_keeps_the_base(repo):
    """`got checkout HEAD -- PATH` writes HEAD's own entries into the rows: the base stays
    HEAD's tree, so the next status and commit still work from the rows."""
    for i in range(20):
        (repo.workdir / f"f{i}").write_bytes(b"%d\n" % i * 100)
    _age(repo)
    head = _commit(repo)
    (repo.workdir / "f3").write_bytes(b"local edit")
    (repo.workdir / "f4").unlink()
    repo.checkout("HEAD", paths=["f3", "f4"], force=True)
    wc = repo.workcopy()
    try:
        assert basetree.load(wc.db, head) is not None
    finally:
        wc.close()
    assert _status(repo, recorded=True) == _status(repo, recorded=False) == []
    (repo.workdir / "f5").write_bytes(b"changed")
    _age(repo)
    assert _commit(repo) == _rebuilt(repo)


@pytest.mark.parametrize("seed", range(4))
def test_a_checkout_from_the_base_records_its_target_as_the_base(repo, seed):
    """A whole checkout from the recorded base writes every path that differs, so the rows
    can describe the target; files whose extents alone differ (the same bytes packed
    otherwise, which gotfs.diff leaves out) get the target's extents in their rows."""
    rnd = random.Random(seed)
    roots = []
    for _ in range(4):
        _mutate(repo, rnd)
        _age(repo)
        _commit(repo)
        roots.append(repo.head())
    for _ in range(3):
        target = rnd.choice(roots)
        repo.checkout(target.cid.hex(), force=True)
        _age(repo)
        wc = repo.workcopy()
        try:
            assert basetree.load(wc.db, repo.read_commit(target).root) is not None
        finally:
            wc.close()
        assert _status(repo, recorded=True) == _status(repo, recorded=False) == []
        _mutate(repo, rnd)
        _age(repo)
        assert _status(repo, recorded=True) == _status(repo, recorded=False)
        assert _commit(repo) == _rebuilt(repo)
        roots.append(repo.head())


def test_after_a_checkout_a_one_file_commit_edits_the_tree(repo, monkeypatch):
    for i in range(300):
        p = repo.workdir / f"d{i % 10}" / f"f{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"%d\n" % i * 50)
    _age(repo)
    _commit(repo)
    (repo.workdir / "d3" / "f3.txt").write_bytes(b"second")
    (repo.workdir / "d11").mkdir()
    (repo.workdir / "d11" / "new").write_bytes(b"new")
    _age(repo)
    _commit(repo)
    first = repo.resolve("HEAD~1")
    repo.checkout(first.cid.hex())
    assert not (repo.workdir / "d11").exists()
    (repo.workdir / "d4" / "f4.txt").write_bytes(b"edited after the checkout")
    _age(repo)

    _forbid_whole_tree(monkeypatch, repo)
    assert [(c.path, c.kind) for c in repo.status()] == [("d4/f4.txt", "modified")]
    root = repo.commit_workdir("edit", author=AUTHOR)[1]
    monkeypatch.undo()
    assert root == _rebuilt(repo)
    assert repo.fs.read(root, "d3/f3.txt") == b"3\n" * 50


def test_a_checkout_from_the_empty_root_into_an_empty_cache_records_the_base(repo):
    """A clone checks out from the empty root with no rows: no row can be wrong, so the
    target becomes the base and the first status after a clone works from the rows."""
    import shutil

    for i in range(30):
        p = repo.workdir / f"d{i % 3}" / f"f{i}"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"%d\n" % i * 40)
    (repo.workdir / "link").symlink_to("d0/f0")
    head = _commit(repo)
    for d in ("d0", "d1", "d2"):
        shutil.rmtree(repo.workdir / d)
    (repo.workdir / "link").unlink()
    wc = repo.workcopy()
    try:
        wc.db.execute("DELETE FROM files")
        wc.db.execute("DELETE FROM base")
        wc.checkout(repo.fs.new(), head, force=True)
        assert basetree.load(wc.db, head) is not None
    finally:
        wc.close()
    assert (repo.workdir / "d1" / "f4").read_bytes() == b"4\n" * 40
    _age(repo)
    assert _status(repo, recorded=True) == _status(repo, recorded=False) == []
    (repo.workdir / "d2" / "f5").write_bytes(b"edited")
    _age(repo)
    assert _status(repo, recorded=True) == _status(repo, recorded=False) == [("d2/f5", "modified")]
    assert _commit(repo) == _rebuilt(repo)
