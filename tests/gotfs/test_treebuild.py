"""TreeBuild: a tree staged in any order and built streaming is the tree a Staging makes.

A Staging with the same files written whole in path order (so in the same packing groups)
must give the very same root: history independence makes this an exact check of the keys,
the Infos and the extents, packing included.
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings, strategies as st

from gotfs.fs import FS
from gotfs.info import Info
from gotfs.keys import info_key, parse_path
from gotfs.staging import Staging
from gotfs.treebuild import TreeBuild
from gotkv.blobs.memory import MemoryStore
from gotkv.errors import InvalidInput

NAMES = ["a", "b", "a.b", "a!", "z"]
# (path, kind, size): directories first come from the paths' parents.
entries = st.dictionaries(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(tuple),
    st.one_of(st.tuples(st.just("file"), st.integers(0, 300_000)),
              st.tuples(st.just("link"), st.binary(min_size=1, max_size=20)),
              st.tuples(st.just("dir"), st.just(0))),
    max_size=25)


def _tree(spec: dict) -> tuple[dict, dict]:
    """Files (path -> bytes) and other entries (path -> Info) of a consistent tree: a path
    whose parent is not a directory in `spec` becomes one."""
    others: dict = {(): Info.dir(0o755)}
    files: dict = {}
    for path, (kind, arg) in sorted(spec.items(), key=lambda kv: len(kv[0])):
        parts = tuple(p.encode() for p in path)
        if any(parts[:i] in files or (parts[:i] in others and not others[parts[:i]].is_dir)
               for i in range(1, len(parts))):
            continue
        for i in range(1, len(parts)):
            others.setdefault(parts[:i], Info.dir(0o750))
        if parts in others or parts in files:
            continue
        if kind == "file":
            files[parts] = random.Random(repr((parts, arg))).randbytes(arg)
        elif kind == "link":
            others[parts] = Info.symlink(arg)
        else:
            others[parts] = Info.dir(0o700)
    return files, others


def _staged(fs: FS, files: dict, others: dict):
    staging = Staging(fs, fs.kv.empty())
    for path, info in sorted(others.items(), key=lambda kv: info_key(kv[0])):
        staging.put_info(path, info)
    for path in sorted(files, key=info_key):
        staging.write_file(path, files[path], mode=0o640)
    return staging.flush()


@settings(max_examples=40, deadline=None)
@given(entries, st.randoms(use_true_random=False))
def test_a_build_in_any_order_is_the_staged_tree(spec, rnd):
    fs = FS(MemoryStore())
    files, others = _tree(spec)
    expected = _staged(fs, files, others)
    build = TreeBuild(fs)
    todo = [("info", p) for p in others] + [("file", p) for p in files]
    rnd.shuffle(todo)
    chunked = {}
    for kind, path in todo:
        if kind == "info":
            build.put_info(path, others[path])
        else:
            build.put_file(path, Info.file(0o640), source=lambda d=files[path]: io.BytesIO(d),
                           size_hint=len(files[path]), tag=path)
    assert len(build) == len(todo)
    root = build.flush(lambda tag, size, extents: chunked.setdefault(tag, (size, extents)))
    assert root == expected
    assert list(chunked) == sorted(files, key=info_key)  # in key order, each once
    assert all(chunked[p][0] == len(files[p]) for p in files)
    # The same tree again, every file from its stored extents: the same root, nothing read.
    again = TreeBuild(fs)
    for path, info in others.items():
        again.put_info(path, info)
    for path in files:
        size, extents = chunked[path]
        again.put_stored(path, lambda size=size, extents=extents: (Info.file(0o640, size), extents))
    assert again.flush() == expected


def test_files_are_read_as_the_build_reaches_them():
    """Streaming: a source is opened only when the build is near it, not all before it starts."""
    fs = FS(MemoryStore())
    build = TreeBuild(fs)
    build.put_info((), Info.dir(0o755))
    opened = []
    n = 200
    for i in range(n):
        path = parse_path(f"f{i:03}")
        build.put_file(path, Info.file(0o644), source=lambda i=i: opened.append(i) or io.BytesIO(b"%d" % i * 9000),
                       size_hint=9000)
    entries = []
    real = fs.kv.build

    def watching(it):
        def each():
            for k, v in it:
                entries.append(len(opened))
                yield k, v
        return real(each())

    fs.kv.build = watching
    root = build.flush()
    assert entries[0] < n // 2  # the first entries went into the tree before most files were opened
    assert len(opened) == n and fs.read(root, "f007") == b"7" * 9000


def test_a_path_staged_twice_is_refused():
    fs = FS(MemoryStore())
    build = TreeBuild(fs)
    build.put_info((), Info.dir(0o755))
    build.put_info((b"d",), Info.dir(0o755))
    build.put_info((b"d",), Info.dir(0o700))
    with pytest.raises(InvalidInput):
        build.flush()
