"""`got://`: any revision of a repository, or of a remote, as an fsspec filesystem.

    import pandas as pd
    pd.read_csv("got://main/data/x.csv", storage_options={"repo": "/path/to/repo"})
    pd.read_parquet("got://HEAD~1/data/", storage_options={"repo": "/path/to/repo"})

    fs = fsspec.filesystem("got", remote="s3://bucket/photos", key_file="~/got.key")
    fs.ls("main/2024")                      # a remote's snapshot: no repository needed

    fs = fsspec.filesystem("got", repo="/path/to/repo", branch="main")   # writable
    with fs.open("main/out/result.csv", "wb") as f:   # closing it makes one commit on main
        f.write(b"a,b\\n1,2\\n")

Registered as the `got` protocol by the entry point in pyproject.toml, so fsspec, pandas,
pyarrow (through `pyarrow.fs.PyFileSystem(FSSpecHandler(fs))` or `filesystem=fs`), dask and
the rest find it by name.

Paths. `REV/PATH`: REV is the **longest** leading run of '/'-separated components that names
a revision, so `origin/main/data/x.csv` is `data/x.csv` at `origin/main`, and a branch
called `main/data` would shadow the directory `data` of `main`. git's `REV:PATH` is accepted
too (`got://origin/main:data/x.csv`): a revision never contains ':', so when the text before
the first ':' resolves, that is the revision. Listings name entries in the form they were
asked in. `got://` alone lists the branches.

Revisions, in a repository: what `got` takes — a branch, a tag, a commit id or unique prefix
of one, `HEAD`, `~N` and `^`, and remote-tracking branches (`origin/main`, as of the last
fetch or push: their blobs are local). On a remote: its branches, a full 128-digit commit
ref, and `~N` / `^` after either. A branch is looked up on every call in a repository (a new
commit shows at once, as in git); on a remote the branch table is read when the filesystem
is opened, and again after `invalidate_cache()`. An open file reads the commit it was opened
at, whatever moves meanwhile. For one consistent view across many calls (a dataset read
file by file while someone commits), name a commit id.

Storage options:

    repo="/path"          a repository (its .got/ here or in an ancestor); default: the
                          current directory's
    remote=URL or [URLs]  instead, a remote with no repository (s3://bucket/prefix or a
                          directory), read-only; the key from key_file=, $GOT_KEY, or key=
                          (the line `got key export` prints; fsspec keeps options, so a key
                          given so travels with pickles and to_json: prefer key_file); blobs
                          are cached in cache_dir (default ~/.cache/got) up to cache_size bytes
    branch="main"         makes the filesystem writable, on that branch only (an unborn
                          branch only if HEAD is on it)
    author="Name <mail>"  the author of the commits writes make (default $GOT_AUTHOR,
                          else user@host)

Writing. Without `branch`, every change raises PermissionError. With it, `open(path, "wb")`
(or "xb") buffers the file (in memory, spilling to a temporary file past 64 MiB), and
closing it makes one commit on the branch, "fsspec: write PATH" (or `message=` given to
open). Missing parent directories are created, so `mkdir` and `makedirs` commit nothing (a
directory comes with its first file, as in git and object stores; pandas and pyarrow call
them before each write). A `with` block that raises commits nothing. Writing bytes a file
already holds commits nothing. `rm` and `rmdir` make one commit per call. The
commit is a compare-and-swap on the branch: if another writer committed meanwhile, the
change is applied again onto the new head, so neither write is lost. Writes are refused
while a read-write mount of the branch holds uncommitted work (the mount's next commit would
revert them). A commit on the branch the working directory is on leaves the directory behind,
as a mount's does: `got checkout BRANCH` brings it up to date.

Costs. Resolving a revision: a few SQLite lookups (one per component tried, longest first)
and the commit blob, read once per commit and kept. `info`: one tree lookup (nodes on the
path, cached). `ls`: a seek per child. `find`: one walk of the subtree's keys, never a
chunk. `cat_file(start, end)` and reads of an open file fetch only the chunks that hold the
range, through the repository's chunk cache; files open with fsspec's "none" block cache by
default, since that chunk cache already serves repeated small reads (pass cache_type= to
change it). On a remote, each chunk or node is one ranged GET the first time it is read,
nothing once cached. A write costs chunking and sealing the new bytes, plus the tree nodes
on its path and one commit blob.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from fsspec.spec import AbstractFileSystem

from gotfs import keys
from gotfs.errors import IsADirectory, NotAFile
from gotfs.fs import FS, Edit
from gotfs.info import Info
from gotfs.repo import lazy
from gotfs.repo.commit import Commit, commit_id
from gotfs.repo.errors import BranchMoved
from gotfs.repo.fsspec_files import GotFile, GotWriteFile, _Unclosed
from gotfs.repo.repo import Repo, check_ref_name
from gotkv.blobs.ref import Ref
from gotkv.errors import InvalidInput
from gotfs.repo.fsspec_sources import (_PATH_ERRORS, _default_author, _Loc, _os_error, _RemoteSource, _RepoSource,
                                       _secret, _Source)

COMMIT_RETRIES = 20     # compare-and-swap tries before giving up (each re-applies the change)


class GotFileSystem(AbstractFileSystem):
    """fsspec filesystem over the revisions of a got repository or remote (module docstring)."""

    protocol = "got"
    root_marker = ""

    def __init__(self, repo: str | os.PathLike | None = None, *, remote: str | list[str] | None = None,
                 key: str | None = None, key_file: str | None = None, branch: str | None = None,
                 author: str | None = None, cache_dir: str | os.PathLike | None = None,
                 cache_size: int = lazy.DEFAULT_CACHE_SIZE, **storage_options):
        super().__init__(**storage_options)
        if repo is not None and remote is not None:
            raise InvalidInput("give repo= (a repository) or remote= (a remote), not both")
        if remote is not None:
            if branch is not None:
                raise InvalidInput("a remote is read-only through got://: write in a repository, then push")
            urls = [remote] if isinstance(remote, (str, os.PathLike)) else list(remote)
            self._source: _Source = _RemoteSource([os.fspath(u) for u in urls], _secret(key, key_file),
                                                  cache_dir, cache_size)
        else:
            self._source = _RepoSource(os.fspath(repo) if repo is not None else ".")
        self.branch = check_ref_name(branch) if branch is not None else None
        self.author = author or _default_author()
        self._commits: dict[bytes, Commit] = {}
        self._lock = threading.Lock()

    @property
    def repo(self) -> Repo | None:
        """The repository read (None for a remote)."""
        return getattr(self._source, "repo", None)

    @property
    def gotfs(self) -> FS:
        """The gotfs FS the reads go through."""
        return self._source.fs

    def close(self) -> None:
        """Close the repository or remote (the instance is unusable afterwards)."""
        self._source.close()
        type(self)._cache.pop(self._fs_token, None)  # fsspec's instance cache: not this one again

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = os.fspath(path)
        for prefix in ("got://", "got::"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return path.strip("/")

    def invalidate_cache(self, path=None) -> None:
        """Re-read a remote's branch table on next use (a repository's is never cached)."""
        if path is None:
            self._source.refresh()
        super().invalidate_cache(path)

    # -- paths to revisions and trees ----------------------------------------------------

    def _commit(self, ref: Ref) -> Commit:
        commit = self._commits.get(ref.cid)
        if commit is None:
            commit = self._source.read_commit(ref)
            with self._lock:
                self._commits[ref.cid] = commit
        return commit

    def _loc(self, path: str) -> _Loc:
        """Resolve an fsspec path (protocol stripped, not the top) to a revision and a path."""
        if ":" in path:
            rev, _, inner = path.partition(":")
            ref = self._source.resolve(rev) if rev else None
            if ref is not None:
                return _Loc(rev, inner.strip("/"), ref, self._commit(ref).root, True)
        parts = path.split("/")
        for n in range(len(parts), 0, -1):
            rev = "/".join(parts[:n])
            ref = self._source.resolve(rev)
            if ref is not None:
                return _Loc(rev, "/".join(parts[n:]), ref, self._commit(ref).root, False)
        raise FileNotFoundError(
            f"got://{path}: no revision named by {parts[0]!r} (nor any longer prefix); paths are "
            f"got://REV/PATH or got://REV:PATH, REV a branch, tag, commit id, HEAD~N or origin/main; "
            f"branches: {', '.join(self._source.branches()) or 'none'}")

    def _where(self, loc: _Loc) -> str:
        return f"in got://{loc.rev}, commit {commit_id(loc.commit)[:12]}"

    def _stat(self, loc: _Loc) -> Info:
        try:
            return self.gotfs.stat(loc.root, loc.inner)
        except _PATH_ERRORS as e:
            raise _os_error(e, self._where(loc)) from e

    def _entry(self, name: str, info: Info, loc: _Loc) -> dict:
        kind = "directory" if info.is_dir else "file" if info.is_file else "other"
        out = {"name": name, "size": info.size if info.is_file else 0, "type": kind,
               "mode": info.st_mode(), "commit": commit_id(loc.commit)}
        if info.mtime_ns is not None:
            out["mtime"] = info.mtime_ns / 1e9
        if info.is_symlink:
            out["islink"] = True
            out["destination"] = os.fsdecode(info.target)
        return out

    @staticmethod
    def _top(name: str) -> dict:
        return {"name": name, "size": 0, "type": "directory"}

    # -- reading -------------------------------------------------------------------------

    def info(self, path, **kwargs) -> dict:
        path = self._strip_protocol(path)
        if not path:
            return self._top("")
        loc = self._loc(path)
        return self._entry(loc.name(loc.inner), self._stat(loc), loc)

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        if not path:
            entries = [self._top(b) for b in self._source.branches()]
        else:
            loc = self._loc(path)
            info = self._stat(loc)
            if not info.is_dir:
                entries = [self._entry(loc.name(loc.inner), info, loc)]
            else:
                base = f"{loc.inner}/" if loc.inner else ""
                entries = [self._entry(loc.name(base + n), i, loc)
                           for n, i in self.gotfs.listdir(loc.root, loc.inner)]
        return entries if detail else [e["name"] for e in entries]

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """As fsspec's, but a whole subtree is one walk of one commit (so also consistent)."""
        path = self._strip_protocol(path)
        if maxdepth is not None or not path:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        try:
            loc = self._loc(path)
            info = self._stat(loc)
        except (FileNotFoundError, NotADirectoryError):
            return {} if detail else []
        out = {}
        if not info.is_dir:
            out[loc.name(loc.inner)] = self._entry(loc.name(loc.inner), info, loc)
        else:
            for p, i in self.gotfs.walk(loc.root, loc.inner):  # the directory itself first
                if withdirs or not i.is_dir:
                    out[loc.name(p)] = self._entry(loc.name(p), i, loc)
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        loc = self._loc(self._strip_protocol(path))
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = self._stat(loc).size
            start = max(size + start, 0) if start is not None and start < 0 else start
            end = max(size + end, 0) if end is not None and end < 0 else end
        start = start or 0
        if end is not None and end <= start:
            self._stat(loc)  # a missing path still raises
            return b""
        return self._read(loc, start, -1 if end is None else end - start)

    def _read(self, loc: _Loc, offset: int, size: int) -> bytes:
        try:
            return self.gotfs.read(loc.root, loc.inner, offset, size)
        except _PATH_ERRORS as e:
            raise _os_error(e, self._where(loc)) from e

    def modified(self, path) -> datetime:
        """The file's mtime if it has one, else the time of the commit it is read from."""
        loc = self._loc(self._strip_protocol(path))
        info = self._stat(loc)
        ns = info.mtime_ns if info.mtime_ns is not None else self._commit(loc.commit).time_ns
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        path = self._strip_protocol(path)
        if mode == "rb":
            loc = self._loc(path)
            info = self._stat(loc)
            if not info.is_file:
                raise _os_error(IsADirectory(loc.inner) if info.is_dir else NotAFile(loc.inner, info.kind.name.lower()),
                                self._where(loc))
            return GotFile(self, path, loc, self._entry(loc.name(loc.inner), info, loc), block_size,
                           cache_options, kwargs.get("cache_type", "none"))
        if mode in ("wb", "xb"):
            self._writable(path)
            return GotWriteFile(self, path, mode, block_size, autocommit, kwargs.get("message"))
        raise NotImplementedError(f"got://{path}: mode {mode!r} is not supported (rb, wb, xb)")

    # -- writing -------------------------------------------------------------------------

    def _writable(self, path: str) -> str:
        """The path inside the writable branch that fsspec path `path` names."""
        b = self.branch
        if b is None:
            raise PermissionError(f"got://{path}: read-only; to commit writes to a branch, open the "
                                  f"filesystem with storage_options branch='BRANCH' (a repository only)")
        for sep in ("/", ":"):
            if path.startswith(b + sep):
                return path[len(b) + 1:].strip("/")
        if path == b:
            return ""
        raise PermissionError(f"got://{path}: only got://{b}/... is writable here (branch={b!r})")

    def _change(self, message: str, apply: Callable[[Edit], None]) -> Ref | None:
        """Apply `apply` to the branch head's tree and commit it, by compare-and-swap; if the
        branch moved meanwhile, apply again onto the new head. None if nothing changed."""
        repo = self.repo
        name = f"heads/{self.branch}"
        if repo.working_root(self.branch) is not None:
            raise PermissionError(f"{self.branch} is mounted read-write with uncommitted work; "
                                  f"`got commit` or unmount it first, then write")
        with repo.writing():
            for _ in range(COMMIT_RETRIES):
                old = repo.refs.get(name)
                if old is None and repo.head_branch() != self.branch:
                    raise FileNotFoundError(f"branch {self.branch!r} does not exist; create it "
                                            f"with `got branch {self.branch}`")
                parent = Ref.parse(old) if old else None
                base = repo.read_commit(parent).root if parent else repo.fs.new()
                try:
                    with repo.fs.edit(base) as tx:
                        apply(tx)
                except _PATH_ERRORS as e:
                    raise _os_error(e, f"on branch {self.branch}") from e
                if tx.root == base:
                    return None
                commit = Commit(tx.root, (parent,) if parent else (), self.author, time.time_ns(), message)
                ref = repo._store_commit(commit)
                try:
                    repo.refs.cas(name, old, str(ref))
                    return ref
                except BranchMoved:
                    continue
        raise BranchMoved(name)

    def _commit_file(self, path: str, data, exclusive: bool, message: str | None) -> Ref | None:
        inner = self._writable(path)
        p = keys.parse_path(inner)
        if not p:
            raise IsADirectoryError(f"got://{path}: the top of a revision is a directory")

        def apply(tx: Edit) -> None:
            tx.mkdir(p[:-1], parents=True, exist_ok=True)
            data.seek(0)
            tx.write_file(p, _Unclosed(data), overwrite=not exclusive)

        return self._change(message or f"fsspec: write {inner}", apply)

    def mkdir(self, path, create_parents=True, **kwargs) -> None:
        """No commit: a directory comes into being with the first file written into it (as in
        git and object stores). FileExistsError if it exists, as fsspec expects."""
        path = self._strip_protocol(path)
        self._writable(path)
        if self.exists(path):
            raise FileExistsError(f"got://{path}: already exists")

    def makedirs(self, path, exist_ok=False) -> None:
        """No commit (see mkdir); FileExistsError if it exists and not exist_ok."""
        path = self._strip_protocol(path)
        self._writable(path)
        if not exist_ok and self.exists(path):
            raise FileExistsError(f"got://{path}: already exists")

    def rm(self, path, recursive=False, maxdepth=None) -> None:
        """Remove paths (directories with recursive=True) in one commit."""
        paths = path if isinstance(path, list) else [path]
        inners = [self._writable(p) for p in self._strip_protocol(paths)]
        if any(not i for i in inners):
            raise PermissionError("the top of a branch cannot be removed")

        def apply(tx: Edit) -> None:
            for inner in inners:
                tx.remove(inner, recursive=recursive)

        self._change(f"fsspec: remove {', '.join(inners)}", apply)

    def rm_file(self, path) -> None:
        self.rm(path)

    def _rm(self, path) -> None:
        self.rm(path)

    def rmdir(self, path) -> None:
        inner = self._writable(self._strip_protocol(path))

        def apply(tx: Edit) -> None:
            p = keys.parse_path(inner)
            tx.require_dir(p)
            tx.remove(p)

        self._change(f"fsspec: rmdir {inner}", apply)
