"""The `got://` fsspec filesystem (gotfs/repo/fsspec_fs.py), driven through pandas, pyarrow and
fsspec itself: revisions of a local repository and of a directory remote, ranged reads that
fetch only the chunks they cover, and writes that commit on close."""

from __future__ import annotations

import io
import random
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from gotfs.repo import Repo
from gotfs.repo import remotes as R
from gotfs.repo.fsspec_fs import GotFileSystem
from gotkv.errors import InvalidInput
from tests.gotfs.conftest import extents_of

AUTHOR = "t <t@example.com>"
CSV1 = b"name,n\nada,1\nbob,2\n"
CSV2 = CSV1 + b"cy,3\n"
BIG = random.Random(7).randbytes(6 << 20)  # several ~1 MiB chunks at the repo's chunk size


def parquet_bytes(rows: range) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"i": list(rows), "sq": [i * i for i in rows]}), buf)
    return buf.getvalue()


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


@pytest.fixture
def repo(tmp_path) -> Repo:
    """Two commits: the first has data/x.csv = CSV1; main has CSV2, parquet parts, a big file."""
    work = tmp_path / "repo"
    write(work, {"data/x.csv": CSV1, "readme.txt": b"hi\n"})
    r = Repo.init(work)
    r.commit_workdir("first", author=AUTHOR)
    write(work, {"data/x.csv": CSV2, "big.bin": BIG,
                 **{f"data/pq/part-{k}.parquet": parquet_bytes(range(k * 10, k * 10 + 10)) for k in range(3)}})
    r.commit_workdir("second", author=AUTHOR)
    yield r
    r.close()


def gotfs_of(repo: Repo, **kw) -> GotFileSystem:
    return fsspec.filesystem("got", repo=str(repo.workdir), skip_instance_cache=True, **kw)


# -- reading a repository ---------------------------------------------------------------------


def test_pandas_reads_a_csv_at_a_branch_and_at_an_older_revision(repo):
    so = {"repo": str(repo.workdir)}
    main = pd.read_csv("got://main/data/x.csv", storage_options=so)
    old = pd.read_csv("got://HEAD~1/data/x.csv", storage_options=so)
    assert list(main["name"]) == ["ada", "bob", "cy"]
    assert list(old["name"]) == ["ada", "bob"]
    # git's REV:PATH spelling, a commit id prefix and a tag name the same commits
    first = next(ref for ref, c in repo.log() if c.message == "first")
    repo.create_tag("v1", first.cid.hex())
    for url in ("got://HEAD~1:data/x.csv", f"got://{first.cid.hex()[:10]}/data/x.csv", "got://v1/data/x.csv"):
        assert pd.read_csv(url, storage_options=so).equals(old)


def test_pyarrow_dataset_and_read_parquet_over_a_directory_of_parts(repo):
    fs = gotfs_of(repo)
    table = ds.dataset("main/data/pq", filesystem=fs, format="parquet").to_table()
    assert sorted(table.column("i").to_pylist()) == list(range(30))
    df = pd.read_parquet("got://main/data/pq", storage_options={"repo": str(repo.workdir)})
    assert sorted(df["sq"]) == [i * i for i in range(30)]
    # through pyarrow's own filesystem wrapper too
    pafs = pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs))
    infos = pafs.get_file_info(pa.fs.FileSelector("main/data/pq"))
    assert sorted(i.base_name for i in infos) == [f"part-{k}.parquet" for k in range(3)]
    assert all(i.type == pa.fs.FileType.File for i in infos)


def test_fsspec_open_ls_info_cat_find(repo):
    with fsspec.open("got://main/data/x.csv", "rt", repo=str(repo.workdir)) as f:
        assert f.read() == CSV2.decode()
    fs = gotfs_of(repo)
    assert fs.ls("", detail=False) == ["main"]
    assert fs.ls("main", detail=False) == ["main/big.bin", "main/data", "main/readme.txt"]
    assert fs.ls("main:data", detail=False) == ["main:data/pq", "main:data/x.csv"]
    assert fs.ls("HEAD~1/data", detail=False) == ["HEAD~1/data/x.csv"]
    info = fs.info("got://main/data/x.csv")
    assert info["type"] == "file" and info["size"] == len(CSV2) and info["name"] == "main/data/x.csv"
    assert info["commit"] == repo.head().cid.hex()
    assert fs.info("main/data")["type"] == "directory"
    assert fs.isdir("main") and fs.isfile("main/readme.txt") and not fs.exists("main/nope")
    assert fs.cat("main/data/x.csv") == CSV2
    assert fs.cat_file("main/data/x.csv", 5, 9) == CSV2[5:9]
    assert fs.cat_file("main/data/x.csv", -5) == CSV2[-5:]
    assert fs.cat_file("HEAD~1/data/x.csv") == CSV1
    assert fs.find("main/data") == ["main/data/pq/part-0.parquet", "main/data/pq/part-1.parquet",
                                   "main/data/pq/part-2.parquet", "main/data/x.csv"]
    assert "main/data/pq" in fs.find("main/data", withdirs=True)
    assert fs.find("main/nope") == []
    assert fs.glob("main/data/pq/*.parquet") == [f"main/data/pq/part-{k}.parquet" for k in range(3)]
    assert fs.du("main/data/pq") == sum(fs.size(p) for p in fs.find("main/data/pq"))
    with fs.open("main/big.bin") as f:
        f.seek(len(BIG) - 10)
        assert f.read() == BIG[-10:]


def test_remote_tracking_revision_reads_what_was_pushed(repo, tmp_path):
    R.add_remote(repo, "origin", str(tmp_path / "remote"))
    R.push(repo, "origin")
    write(repo.workdir, {"data/x.csv": b"name,n\nzed,9\n"})
    repo.commit_workdir("third", author=AUTHOR)
    so = {"repo": str(repo.workdir)}
    assert list(pd.read_csv("got://origin/main/data/x.csv", storage_options=so)["name"]) == ["ada", "bob", "cy"]
    assert list(pd.read_csv("got://main/data/x.csv", storage_options=so)["name"]) == ["zed"]
    assert gotfs_of(repo).ls("origin/main:data", detail=False) == ["origin/main:data/pq", "origin/main:data/x.csv"]


def test_bad_revisions_and_paths_are_file_not_found_with_the_reason(repo):
    fs = gotfs_of(repo)
    with pytest.raises(FileNotFoundError, match="no revision named by 'nobranch'.*branches: main"):
        fs.cat("nobranch/data/x.csv")
    with pytest.raises(FileNotFoundError, match=r"data/nope.csv: no such file or directory \(in got://main, commit"):
        pd.read_csv("got://main/data/nope.csv", storage_options={"repo": str(repo.workdir)})
    with pytest.raises(FileNotFoundError, match="no revision"):
        fs.info("HEAD~9/data/x.csv")  # past the first commit
    with pytest.raises(IsADirectoryError):
        fs.open("main/data")
    with pytest.raises(NotADirectoryError):
        fs.ls("main/readme.txt/x")
    with pytest.raises(FileNotFoundError, match="not a got repository"):
        GotFileSystem(repo=str(repo.workdir.parent / "elsewhere"), skip_instance_cache=True)


# -- ranged reads -----------------------------------------------------------------------------


class CountingStore:
    """Wraps a store, recording the content ids of the blobs read through it."""

    def __init__(self, store):
        self._store = store
        self.read: list[bytes] = []

    def get(self, cid):
        self.read.append(cid)
        return self._store.get(cid)

    def get_with(self, cid, use):
        self.read.append(cid)
        return self._store.get_with(cid, use)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_ranged_reads_fetch_only_the_chunks_that_hold_the_range(repo):
    fs = gotfs_of(repo)
    extents = extents_of(repo.fs, repo.head_root(), "big.bin")
    assert len(extents) >= 4, "the big file should span several chunks"
    counting = CountingStore(fs.gotfs.data.store)
    fs.gotfs.data.store = counting

    def chunks_over(lo: int, hi: int) -> set[bytes]:
        return {e.ref.cid for s, end, e in extents if s < hi and end > lo}

    start, end, _ = extents[2]
    mid = (start + end) // 2
    with fs.open("main/big.bin", "rb") as f:
        f.seek(mid)
        assert f.read(100) == BIG[mid:mid + 100]
    assert set(counting.read) == chunks_over(mid, mid + 100) and len(counting.read) == 1

    counting.read.clear()
    lo, hi = end - 50, end + 50  # straddles a chunk boundary: exactly those two chunks
    assert fs.cat_file("main/big.bin", lo, hi) == BIG[lo:hi]
    assert len(chunks_over(lo, hi)) == 2
    # exactly the other of those two: the one read before comes from the chunk cache
    assert counting.read == list(chunks_over(lo, hi) - chunks_over(mid, mid + 100))

    counting.read.clear()
    assert fs.info("main/big.bin")["size"] == len(BIG) and fs.ls("main")
    assert counting.read == []  # metadata costs tree nodes, never a chunk


# -- a remote, no repository ------------------------------------------------------------------


def test_a_directory_remote_reads_without_a_repository(repo, tmp_path):
    url = str(tmp_path / "remote")
    R.add_remote(repo, "origin", url)
    R.push(repo, "origin")
    so = {"remote": url, "key": R.key_text(repo), "cache_dir": str(tmp_path / "cache")}
    assert list(pd.read_csv("got://main/data/x.csv", storage_options=so)["name"]) == ["ada", "bob", "cy"]
    assert list(pd.read_csv("got://main~1/data/x.csv", storage_options=so)["name"]) == ["ada", "bob"]
    key_file = tmp_path / "key"
    key_file.write_text(R.key_text(repo) + "\n")
    fs = fsspec.filesystem("got", remote=url, key_file=str(key_file), cache_dir=str(tmp_path / "cache"),
                           skip_instance_cache=True)
    assert fs.ls("", detail=False) == ["main"]
    assert fs.cat_file("main/big.bin", 1000, 2000) == BIG[1000:2000]
    table = ds.dataset("main/data/pq", filesystem=fs, format="parquet").to_table()
    assert table.num_rows == 30
    with pytest.raises(FileNotFoundError, match="branches: main"):
        fs.info("dev/data")
    with pytest.raises(PermissionError, match="read-only"):
        fs.open("main/new.txt", "wb")
    with pytest.raises(InvalidInput, match="read-only"):
        GotFileSystem(remote=url, key=R.key_text(repo), branch="main", skip_instance_cache=True)
    with pytest.raises(InvalidInput, match="key"):
        GotFileSystem(remote=url, key="not a key", skip_instance_cache=True)
    fs.close()


# -- writing ----------------------------------------------------------------------------------


def test_read_only_by_default(repo):
    fs = gotfs_of(repo)
    for attempt in (lambda: fs.open("main/new.txt", "wb"), lambda: fs.pipe_file("main/new.txt", b"x"),
                    lambda: fs.rm("main/readme.txt"), lambda: fs.mkdir("main/d")):
        with pytest.raises(PermissionError, match="read-only.*branch="):
            attempt()
    assert fs.ls("main", detail=False) == ["main/big.bin", "main/data", "main/readme.txt"]


def test_closing_a_written_file_makes_one_commit(repo):
    before = repo.head()
    so = {"repo": str(repo.workdir), "branch": "main", "author": AUTHOR}
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv("got://main/out/new.csv", index=False, storage_options=so)
    log = list(repo.log())
    assert [c.message for _, c in log[:2]] == ["fsspec: write out/new.csv", "second"]
    assert log[0][1].parents == (before,) and log[0][1].author == AUTHOR
    assert pd.read_csv("got://main/out/new.csv", storage_options={"repo": str(repo.workdir)})["b"].tolist() == ["x", "y"]
    assert repo.fs.read(repo.root_of("main"), "data/x.csv") == CSV2  # the rest of the tree is kept

    fs = gotfs_of(repo, branch="main", author=AUTHOR)
    table = pa.table({"k": [1, 2, 3]})
    pq.write_table(table, "main/out/t.parquet", filesystem=fs)
    assert pd.read_parquet("got://main/out/t.parquet", storage_options={"repo": str(repo.workdir)})["k"].tolist() == [1, 2, 3]
    with fs.open("main/out/t.parquet", "wb") as f:  # the same bytes again: nothing to commit
        f.write(fs.cat("main/out/t.parquet"))
    assert f.commit_ref is None
    with fs.open("main/msg.txt", "wb", message="a message") as f:
        f.write(b"m")
    assert repo.read_commit(repo.head()).message == "a message"
    assert f.commit_ref == repo.head()
    fs.rm(["main/msg.txt", "main/out"], recursive=True)
    assert not fs.exists("main/out") and fs.exists("HEAD~1/out/t.parquet")
    assert repo.read_commit(repo.head()).message == "fsspec: remove msg.txt, out"


def test_a_failed_write_commits_nothing(repo):
    fs = gotfs_of(repo, branch="main")
    head = repo.head()
    with pytest.raises(RuntimeError):
        with fs.open("main/partial.bin", "wb") as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert repo.head() == head and not fs.exists("main/partial.bin")
    with pytest.raises(FileExistsError):
        with fs.open("main/readme.txt", "xb") as f:
            f.write(b"exclusive")
    assert repo.head() == head
    with pytest.raises(PermissionError, match="only got://main/"):
        fs.open("HEAD~1/x.txt", "wb")


def test_a_racing_commit_is_not_lost(repo, monkeypatch):
    """Another writer commits between our read of the head and our compare-and-swap: the
    write is applied again onto the new head, and both files are there."""
    fs = gotfs_of(repo, branch="main")
    other = gotfs_of(repo, branch="main")
    real_cas = fs.repo.refs.cas
    raced = []

    def cas(name, old, new, **kw):
        if not raced:
            raced.append(True)
            other.pipe_file("main/theirs.txt", b"theirs")
        return real_cas(name, old, new, **kw)

    monkeypatch.setattr(fs.repo.refs, "cas", cas)
    fs.pipe_file("main/mine.txt", b"mine")
    assert raced
    assert fs.cat("main/mine.txt") == b"mine" and fs.cat("main/theirs.txt") == b"theirs"
    messages = [c.message for _, c in repo.log()]
    assert messages[:3] == ["fsspec: write mine.txt", "fsspec: write theirs.txt", "second"]


def test_writes_to_an_unborn_head_branch_and_refusals(tmp_path, repo):
    empty = Repo.init(tmp_path / "empty")
    fs = fsspec.filesystem("got", repo=str(empty.workdir), branch="main", skip_instance_cache=True)
    fs.pipe_file("main/a/b.txt", b"first file")
    assert empty.read_commit(empty.head()).parents == ()
    assert fs.cat("main:a/b.txt") == b"first file"
    other = gotfs_of(repo, branch="exp")
    with pytest.raises(FileNotFoundError, match="branch 'exp' does not exist"):
        other.pipe_file("exp/x.txt", b"x")
    # a read-write mount of the branch holds uncommitted work: refuse rather than be reverted
    repo.publish_working_root("main", repo.head_root())
    with pytest.raises(PermissionError, match="mounted read-write"):
        gotfs_of(repo, branch="main").pipe_file("main/x.txt", b"x")
