"""import_dir / export_dir: byte-exact round trips of real and synthetic host trees, packing,
determinism, and export's refusal to write outside its target whatever the stored tree holds."""

from __future__ import annotations

import io
import os
import random
import socket
import stat
import sysconfig
import warnings

import pytest

from gotfs import FS, keys, packing
from gotfs.errors import UnsafeExport
from gotfs.extent import Extent
from gotfs.info import Info
from gotfs.porting import TargetNotEmpty, export_dir, import_dir
from gotfs.staging import Staging
from gotfs.treebuild import TreeBuild
from gotfs.tx import Tx
from gotkv import LocalStore, MemoryStore, Params, Span

SECRET = bytes(range(100, 132))
PARAMS = Params(salt=bytes(range(32)))
MiB = 1 << 20


def make_fs(store=None) -> FS:
    return FS(store if store is not None else MemoryStore(), secret=SECRET, params=PARAMS)


def xattrs_supported(d: bytes) -> bool:
    probe = os.path.join(d, b".xattr-probe")
    open(probe, "wb").close()
    try:
        os.setxattr(probe, b"user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        os.unlink(probe)


def read_all(path: bytes) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def same_bytes(a: bytes, b: bytes) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def compare_trees(a: bytes, b: bytes, *, mtimes: bool, xattrs: bool = False, skip=()) -> int:
    """Assert two host trees hold the same names, types, modes, link targets and bytes (and
    mtimes / user xattrs when asked); return the number of entries compared."""
    n = 0
    stack = [b""]
    while stack:
        rel = stack.pop()
        da, db = os.path.join(a, rel) if rel else a, os.path.join(b, rel) if rel else b
        names_a = sorted(x for x in os.listdir(da) if os.path.join(rel, x) not in skip)
        names_b = sorted(os.listdir(db))
        assert names_a == names_b, f"{rel!r}: {set(names_a) ^ set(names_b)}"
        for name in names_a:
            r = os.path.join(rel, name)
            pa, pb = os.path.join(a, r), os.path.join(b, r)
            sa, sb = os.lstat(pa), os.lstat(pb)
            assert stat.S_IFMT(sa.st_mode) == stat.S_IFMT(sb.st_mode), r
            n += 1
            if stat.S_ISLNK(sa.st_mode):
                assert os.readlink(pa) == os.readlink(pb), r
            else:
                assert stat.S_IMODE(sa.st_mode) == stat.S_IMODE(sb.st_mode), r
                if stat.S_ISDIR(sa.st_mode):
                    stack.append(r)
                elif stat.S_ISREG(sa.st_mode):
                    assert sa.st_size == sb.st_size, r
                    assert same_bytes(pa, pb), r
                else:  # a FIFO, socket or device node: nothing to read
                    assert sa.st_rdev == sb.st_rdev, r
            if mtimes:
                assert sa.st_mtime_ns == sb.st_mtime_ns, r
            if xattrs and not stat.S_ISLNK(sa.st_mode):
                ua = {x: os.getxattr(pa, x) for x in os.listxattr(pa) if x.startswith("user.")}
                ub = {x: os.getxattr(pb, x) for x in os.listxattr(pb) if x.startswith("user.")}
                assert ua == ub, r
    return n


# -- a real tree: the Python standard library -------------------------------------------------


def stdlib_ignore(rel: str) -> bool:
    return os.path.basename(rel) in ("__pycache__", "site-packages")


def test_stdlib_round_trip_is_byte_exact(tmp_path):
    stdlib = os.fsencode(sysconfig.get_paths()["stdlib"])
    store = LocalStore(tmp_path / "store")
    fs = make_fs(store)
    calls = []
    root = import_dir(fs, fs.new(), stdlib, "py/lib", mtimes=True, ignore=stdlib_ignore,
                      progress=lambda f, b: calls.append((f, b)))
    store.flush()
    assert calls and calls[-1][0] > 1000
    assert [f for f, _ in calls] == list(range(1, len(calls) + 1))
    assert not fs.exists(root, "py/lib/site-packages")

    out = os.fsencode(tmp_path / "out")
    export_dir(fs, root, out, "py/lib", threads=4)
    n = compare_trees_ignoring(stdlib, out, stdlib_ignore)  # ignored names absent everywhere
    assert n > 1000
    store.close()


def compare_trees_ignoring(a: bytes, b: bytes, ignore) -> int:
    n = 0
    for dirpath, dirnames, filenames in os.walk(a):
        rel = os.path.relpath(dirpath, a)
        dirnames[:] = [d for d in dirnames if not ignore(os.fsdecode(os.path.normpath(os.path.join(rel, d))))]
        other = os.path.normpath(os.path.join(b, rel))
        expected = sorted(dirnames + [f for f in filenames if not ignore(os.fsdecode(f))])
        assert sorted(os.listdir(other)) == expected, rel
        for name in expected:
            pa, pb = os.path.join(dirpath, name), os.path.join(other, name)
            sa, sb = os.lstat(pa), os.lstat(pb)
            assert sa.st_mode == sb.st_mode, pa
            assert sa.st_mtime_ns == sb.st_mtime_ns, pa
            if stat.S_ISLNK(sa.st_mode):
                assert os.readlink(pa) == os.readlink(pb), pa
            elif stat.S_ISREG(sa.st_mode):
                assert sa.st_size == sb.st_size and same_bytes(pa, pb), pa
            n += 1
    return n


# -- a synthetic tree with every awkward case ----------------------------------------------


def build_awkward(d: bytes) -> dict:
    os.makedirs(d)
    j = lambda *p: os.path.join(d, *p)
    open(j(b"empty"), "wb").close()
    os.makedirs(j(b"empty-dir"))
    os.makedirs(j(b"a", b"b", b"c"))
    with open(j(b"a", b"b", b"c", b"deep.txt"), "wb") as f:
        f.write(b"deep\n")
    big = random.Random(5).randbytes(5 * MiB)
    with open(j(b"big.bin"), "wb") as f:
        f.write(big)
    with open(j(b"sparse"), "wb") as f:  # holes at the start, middle and end
        f.seek(3 * MiB)
        f.write(b"middle")
        f.seek(7 * MiB)
        f.write(b"end")
        f.truncate(9 * MiB)
    os.symlink(b"does/not/exist", j(b"dangling"))
    os.symlink(b"a/b/c/deep.txt", j(b"relative"))
    os.symlink(b"/etc/passwd", j(b"absolute"))
    os.symlink(b"a", j(b"to-dir"))
    os.symlink(b"../../empty", j(b"a", b"b", b"up"))
    with open(j(b"caf\xe9-latin1"), "wb") as f:  # not UTF-8
        f.write(b"latin-1 name")
    os.makedirs(j(b"\xff\xfe-dir"))
    with open(j(b"\xff\xfe-dir", b"\x80inner"), "wb") as f:
        f.write(b"inner")
    with open(j(b"run.sh"), "wb") as f:
        f.write(b"#!/bin/sh\necho hi\n")
    os.chmod(j(b"run.sh"), 0o755)
    with open(j(b"secret"), "wb") as f:
        f.write(b"s")
    os.chmod(j(b"secret"), 0o600)
    with open(j(b"readonly"), "wb") as f:
        f.write(b"r")
    os.chmod(j(b"readonly"), 0o444)
    os.chmod(j(b"a", b"b"), 0o750)
    os.chmod(j(b"empty-dir"), 0o555)
    with_xattrs = xattrs_supported(d)
    if with_xattrs:
        os.setxattr(j(b"run.sh"), b"user.note", b"executable \x00 bytes")
        os.setxattr(j(b"a"), b"user.dir", b"yes")
    os.mkfifo(j(b"fifo"))
    # distinct mtimes everywhere, deepest first so that setting a child never moves its parent
    t = 1_600_000_000_123_456_789
    for dirpath, dirnames, filenames in os.walk(d, topdown=False):
        for name in filenames + dirnames:
            t += 1_000_000_007
            os.utime(os.path.join(dirpath, name), ns=(t, t), follow_symlinks=False)
    os.utime(d, ns=(t + 5, t + 5))
    return {"big": big, "xattrs": with_xattrs}


@pytest.mark.parametrize("threads", [1, 4])
def test_awkward_round_trip(tmp_path, threads):
    src = os.fsencode(tmp_path / "src")
    facts = build_awkward(src)
    fs = make_fs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = import_dir(fs, fs.new(), src, mtimes=True)
    assert fs.read(root, "big.bin") == facts["big"]
    assert fs.readlink(root, "dangling") == b"does/not/exist"
    assert fs.stat(root, "run.sh").mode == 0o755
    assert fs.stat(root, "empty-dir").mode == 0o555
    assert fs.stat(root, b"caf\xe9-latin1").is_file
    assert fs.stat(root, "fifo").st_mode() == stat.S_IFIFO | stat.S_IMODE(os.lstat(os.path.join(src, b"fifo")).st_mode)
    if facts["xattrs"]:
        assert fs.stat(root, "run.sh").xattr(b"user.note") == b"executable \x00 bytes"

    out = os.fsencode(tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_dir(fs, root, out, threads=threads)
    n = compare_trees(src, out, mtimes=True, xattrs=facts["xattrs"])
    assert n == 20
    assert os.lstat(out).st_mtime_ns == os.lstat(src).st_mtime_ns
    assert stat.S_ISFIFO(os.lstat(os.path.join(out, b"fifo")).st_mode)


def test_mtimes_off_by_default_and_not_restored(tmp_path):
    src = os.fsencode(tmp_path / "src")
    build_awkward(src)
    fs = make_fs()
    root = import_dir(fs, fs.new(), src)
    assert all(info.mtime_ns is None for _, info in fs.walk(root))
    with_m = import_dir(fs, fs.new(), src, mtimes=True)
    out = os.fsencode(tmp_path / "out")
    export_dir(fs, with_m, out, mtimes=False)
    assert os.lstat(os.path.join(out, b"run.sh")).st_mtime_ns != os.lstat(os.path.join(src, b"run.sh")).st_mtime_ns
    compare_trees(src, out, mtimes=False)


def test_stored_holes_are_seeked_over(tmp_path):
    """A hole in gotfs (no extent) is not written: the exported file is sparse."""
    fs = make_fs()
    r = fs.create(fs.new(), "s")
    r = fs.write_at(r, "s", 40 * MiB, b"tail")
    r = fs.truncate(r, "s", 64 * MiB)  # and a trailing hole
    out = os.fsencode(tmp_path / "out")
    export_dir(fs, r, out)
    p = os.path.join(out, b"s")
    st = os.stat(p)
    assert st.st_size == 64 * MiB
    assert st.st_blocks * 512 < 4 * MiB
    with open(p, "rb") as f:
        f.seek(40 * MiB - 2)
        assert f.read(8) == b"\0\0tail\0\0"


def test_ignore_and_dest_semantics(tmp_path):
    src = tmp_path / "src"
    (src / "keep" / "skipme").mkdir(parents=True)
    (src / "keep" / "skipme" / "x").write_bytes(b"x")
    (src / "keep" / "y.txt").write_bytes(b"y")
    (src / "z.log").write_bytes(b"z")
    fs = make_fs()
    r = fs.write_file(fs.mkdir(fs.new(), "other"), "other/f", b"untouched")
    r = fs.mkdir(r, "d/e", parents=True)
    r = fs.write_file(r, "d/e/stale", b"old")
    seen = []

    def ignore(rel: str) -> bool:
        seen.append(rel)
        return rel == "keep/skipme" or rel.endswith(".log")

    r2 = import_dir(fs, r, src, "d/e", ignore=ignore)
    assert "keep/skipme/x" not in seen  # an ignored directory is not descended into
    assert sorted(p for p, _ in fs.walk(r2, "d/e")) == ["d/e", "d/e/keep", "d/e/keep/y.txt"]
    assert fs.read(r2, "other/f") == b"untouched"
    assert fs.exists(r, "d/e/stale")  # the old root is unchanged
    r3 = import_dir(fs, r2, src, "new/parents/here")
    assert fs.stat(r3, "new/parents").is_dir and fs.exists(r3, "new/parents/here/z.log")
    r4 = import_dir(fs, r3, src / "keep" / "skipme")  # dest "" replaces everything
    assert [p for p, _ in fs.walk(r4)] == ["", "x"]


# -- packing and determinism --------------------------------------------------------------


def data_refs(fs: FS, root) -> set[bytes]:
    return {Extent.from_bytes(v).ref.cid for k, v in fs.kv.iterate(root, Span()) if keys.is_extent_key(k)}


def small_tree(d, n: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    for i in range(n):
        sub = d / f"d{i % 37:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_bytes(rnd.randbytes(rnd.randrange(0, 1500)))


def test_small_files_are_packed(tmp_path):
    small_tree(tmp_path / "src", 2000)
    fs = make_fs()
    before = fs.data.chunks_written
    root = import_dir(fs, fs.new(), tmp_path / "src")
    files = [p for p, i in fs.walk(root) if i.is_file]
    assert len(files) == 2000
    refs = data_refs(fs, root)
    # ~1.5 MB of data in packing groups of at least MIN_GROUP bytes (as a commit packs them),
    # a group in one or two chunks: tens of blobs, not 2000
    total = sum(i.size for _, i in fs.walk(root) if i.is_file)
    most = 2 * (total // packing.MIN_GROUP + 1)
    assert len(refs) <= most, (len(refs), most)
    assert fs.data.chunks_written - before <= most


def _host_entries(src) -> tuple[list, list, list]:
    """(dirs, files, symlinks) of a host tree as gotfs paths with their mode, bytes or target."""
    dirs_, files_, links = [], [], []
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, src)
            st_ = os.lstat(p)
            if stat.S_ISLNK(st_.st_mode):
                links.append((rel, os.fsencode(os.readlink(p))))
            elif stat.S_ISDIR(st_.st_mode):
                dirs_.append((rel, stat.S_IMODE(st_.st_mode)))
            else:
                files_.append((rel, stat.S_IMODE(st_.st_mode), read_all(p)))
    return dirs_, files_, links


def test_import_makes_the_root_of_the_one_write_path(tmp_path):
    """import_dir stages through Staging, so it makes the root that a Staging fed the same
    files in any order makes, that a TreeBuild (a commit's bulk mode) makes, and, for files
    chunked alone, that the FS API makes writing them one at a time."""
    src = tmp_path / "src"
    small_tree(src, 300, seed=4)
    (src / "d03" / "deep").mkdir()
    (src / "d03" / "deep" / "big.bin").write_bytes(random.Random(5).randbytes(3 * MiB))
    (src / "empty").write_bytes(b"")
    (src / "d01" / "f00001.txt").chmod(0o600)
    (src / "link").symlink_to("d03/deep/big.bin")
    fs = make_fs()
    imported = import_dir(fs, fs.new(), src)
    dirs_, files_, links = _host_entries(src)
    top = stat.S_IMODE(os.stat(src).st_mode)

    staging = Staging(fs, fs.new())
    staging.set_attrs((), mode=top)
    for rel, mode in sorted(dirs_, key=lambda d: d[0].count("/")):
        staging.mkdir(keys.parse_path(rel), mode)
    for rel, target in links:
        staging.put_info(keys.parse_path(rel), Info.symlink(target))
    for rel, mode, data in random.Random(6).sample(files_, len(files_)):
        staging.write_file(keys.parse_path(rel), data, mode=mode)
    assert staging.flush() == imported

    build = TreeBuild(fs)
    build.put_info((), Info.dir(top))
    for rel, mode in dirs_:
        build.put_info(keys.parse_path(rel), Info.dir(mode))
    for rel, target in links:
        build.put_info(keys.parse_path(rel), Info.symlink(target))
    for rel, mode, data in random.Random(7).sample(files_, len(files_)):
        build.put_file(keys.parse_path(rel), Info.file(mode, 0), source=lambda d=data: io.BytesIO(d),
                       size_hint=len(data))
    assert build.flush() == imported

    alone = tmp_path / "alone"
    (alone / "sub").mkdir(parents=True)
    for name, seed in (("a.bin", 8), ("sub/b.bin", 9)):
        (alone / name).write_bytes(random.Random(seed).randbytes(packing.ALONE + seed * 1000))
    one_by_one = fs.chmod(fs.new(), "", stat.S_IMODE(os.stat(alone).st_mode))
    one_by_one = fs.mkdir(one_by_one, "sub", stat.S_IMODE(os.stat(alone / "sub").st_mode))
    for name in ("sub/b.bin", "a.bin"):
        one_by_one = fs.write_file(one_by_one, name, (alone / name).read_bytes(),
                                   mode=stat.S_IMODE(os.stat(alone / name).st_mode))
    assert import_dir(fs, fs.new(), alone) == one_by_one


def test_reimport_is_deterministic_and_changes_stay_local(tmp_path):
    src = tmp_path / "src"
    small_tree(src, 600)
    big = bytearray(random.Random(9).randbytes(6 * MiB))
    (src / "m-big.bin").write_bytes(big)
    fs = make_fs()
    r0 = fs.mkdir(fs.new(), "elsewhere")
    a = import_dir(fs, r0, src, "t")
    assert import_dir(fs, r0, src, "t") == a
    assert import_dir(fs, a, src, "t") == a  # replacing dest with the same content: same root
    other = make_fs()  # another store, same params: the same root
    assert import_dir(other, other.new(), src) == import_dir(fs, fs.new(), src)

    # one byte in the middle of a large file: only that file's keys change
    big[3 * MiB] ^= 0xFF
    (src / "m-big.bin").write_bytes(big)
    b = import_dir(fs, a, src, "t")
    changes = list(fs.kv.diff(a, b))
    own = keys.info_key(keys.parse_path("t/m-big.bin"))
    assert changes and all(c.key.startswith(own) for c in changes)
    assert len(changes) <= 4

    # a small file: its Info changes, and the only other changes are extents of files packed
    # into the one or two chunks the edit rewrote (their Info keys do not change)
    victim = src / "d05" / "f00005.txt"
    victim.write_bytes(victim.read_bytes() + b"grown")
    c = import_dir(fs, b, src, "t")
    changes = list(fs.kv.diff(b, c))
    vkey = keys.info_key(keys.parse_path("t/d05/f00005.txt"))
    assert any(ch.key == vkey for ch in changes)
    still_used = data_refs(fs, c)
    rewritten = set()
    for ch in changes:
        if ch.key.startswith(vkey):
            continue
        assert keys.is_extent_key(ch.key), ch.key  # no other Info changed
        old = Extent.from_bytes(ch.old).ref.cid
        assert old not in still_used  # it moved only because its chunk was rewritten
        rewritten.add(old)
    assert len(rewritten) <= 2


# -- export safety --------------------------------------------------------------------------


def raw_file(tx: Tx, key: bytes, data: bytes, fs: FS) -> None:
    """Put a file's Info and extents under a raw key, bypassing every path check."""
    tx.put(key, Info.file(0o644, len(data)).to_bytes())
    for end, ext in fs.data.write_bytes(data):
        tx.put(key + b"\x00" + end.to_bytes(8, "big"), ext.to_bytes())


def outside_files(d) -> list:
    return sorted(os.listdir(d))


def test_symlinked_parent_is_refused(tmp_path):
    outside = tmp_path / "outside-target"
    outside.mkdir()
    fs = make_fs()
    r = fs.symlink(fs.new(), "evil", str(outside))
    r = fs.write_file(r, "benign", b"b")
    tx = Tx(fs, r)
    raw_file(tx, b"/evil/passwd/", b"pwned", fs)
    tx.put(b"/evil/sub/", Info.dir().to_bytes())
    raw_file(tx, b"/evil/sub/x/", b"pwned", fs)
    r = tx.commit()
    target = tmp_path / "target"
    with pytest.raises(UnsafeExport, match="evil/passwd.*not a directory"):
        export_dir(fs, r, target)
    assert outside_files(outside) == []
    assert os.path.islink(target / "evil")  # the link itself is fine to create


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("key", [
    b"/../",
    b"/./",
    b"/../escape/",
    b"/d/../../escape/",
    b"//abs/",
    b"/d/./x/",
    b"/d/nul\x00byte/",
    b"/d/trailing-slash-missing",
])
def test_hostile_names_are_refused(tmp_path, key, overwrite):
    fs = make_fs()
    r = fs.write_file(fs.mkdir(fs.new(), "d"), "d/ok", b"ok")
    tx = Tx(fs, r)
    raw_file(tx, key, b"pwned", fs)
    r = tx.commit()
    work = tmp_path / "work"
    target = work / "a" / "target"
    with pytest.raises(UnsafeExport):
        export_dir(fs, r, target, overwrite=overwrite)
    assert (work / "a").is_dir()
    found = [os.path.join(dp, f) for dp, dn, fns in os.walk(tmp_path) for f in fns]
    assert not [f for f in found if read_all(os.fsencode(f)) == b"pwned"]
    assert not (work / "a" / "escape").exists() and not (work / "escape").exists()


def test_overwrite_replaces_planted_symlinks_instead_of_following(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"precious")
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "sub")          # planted: a directory name
    os.symlink(outside / "f", target / "file")   # planted: a file name
    fs = make_fs()
    r = fs.mkdir(fs.new(), "sub")
    r = fs.write_file(r, "sub/f", b"new")
    r = fs.write_file(r, "file", b"new")
    with pytest.raises(TargetNotEmpty, match="overwrite=True"):
        export_dir(fs, r, target)
    export_dir(fs, r, target, overwrite=True)
    assert (outside / "f").read_bytes() == b"precious" and outside_files(outside) == ["f"]
    assert not os.path.islink(target / "sub") and (target / "sub" / "f").read_bytes() == b"new"
    assert not os.path.islink(target / "file") and (target / "file").read_bytes() == b"new"


def test_export_refuses_non_empty_target_and_bad_targets(tmp_path):
    fs = make_fs()
    r = fs.write_file(fs.new(), "a", b"from got")
    target = tmp_path / "t"
    target.mkdir()
    (target / "mine").write_bytes(b"user data")
    with pytest.raises(TargetNotEmpty):
        export_dir(fs, r, target)
    assert sorted(os.listdir(target)) == ["mine"]
    export_dir(fs, r, target, overwrite=True)
    assert (target / "mine").read_bytes() == b"user data" and (target / "a").read_bytes() == b"from got"
    # an empty existing dir and a missing one (with parents) are both fine
    (tmp_path / "empty").mkdir()
    export_dir(fs, r, tmp_path / "empty")
    export_dir(fs, r, tmp_path / "x" / "y" / "z")
    assert (tmp_path / "x" / "y" / "z" / "a").read_bytes() == b"from got"
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(Exception, match="not a directory"):
        export_dir(fs, r, tmp_path / "plain")


def test_export_drops_setid_bits_unless_asked(tmp_path):
    fs = make_fs()
    r = fs.write_file(fs.new(), "su", b"x", mode=0o4755)
    export_dir(fs, r, tmp_path / "a")
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "su").st_mode) == 0o755
    export_dir(fs, r, tmp_path / "b", setid=True)
    assert stat.S_IMODE(os.stat(tmp_path / "b" / "su").st_mode) == 0o4755


def test_special_files_round_trip(tmp_path):
    """FIFOs, sockets and (as root) device nodes are imported and exported as what they are."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"f")
    os.mkfifo(src / "fifo", 0o640)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(src / "sock"))
    s.close()
    root_user = os.getuid() == 0
    if root_user:
        os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    fs = make_fs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = import_dir(fs, fs.new(), src)
    assert [p for p, _ in fs.walk(root)] == ["", "f", "fifo"] + (["null"] if root_user else []) + ["sock"]
    assert fs.stat(root, "sock").is_special and fs.stat(root, "sock").size == 0
    out = tmp_path / "out"
    export_dir(fs, root, out)
    compare_trees(os.fsencode(src), os.fsencode(out), mtimes=False)
    if root_user:
        assert os.lstat(out / "null").st_rdev == os.makedev(1, 3)
        assert (out / "null").read_bytes() == b""  # the host's /dev/null, made again


def test_export_restores_owners_and_atimes_when_asked(tmp_path):
    if os.getuid() != 0:
        pytest.skip("giving files to other users needs root")
    fs = make_fs()
    with fs.edit(fs.new()) as tx:
        tx.put_info((b"d",), Info.dir(0o755, uid=65534, gid=65534))
        tx.put_info((b"d", b"fifo"), Info.special(stat.S_IFIFO | 0o600, uid=123, gid=456, mtime_ns=10 ** 18))
        tx.put_info((b"f",), Info.file(0o4755, 0, uid=1000, gid=100, mtime_ns=2 * 10 ** 18, atime_ns=10 ** 18))
        tx.put_info((b"link",), Info.symlink(b"f", uid=7, gid=8))
    export_dir(fs, tx.root, tmp_path / "plain")
    assert {os.lstat(tmp_path / "plain" / p).st_uid for p in ("d", "d/fifo", "f", "link")} == {0}
    export_dir(fs, tx.root, tmp_path / "owned", owners=True, setid=True)
    got = {p: os.lstat(tmp_path / "owned" / p) for p in ("d", "d/fifo", "f", "link")}
    assert {p: (s.st_uid, s.st_gid) for p, s in got.items()} == {
        "d": (65534, 65534), "d/fifo": (123, 456), "f": (1000, 100), "link": (7, 8)}
    assert stat.S_IMODE(got["f"].st_mode) == 0o4755  # the owner went on before the mode
    assert (got["f"].st_atime_ns, got["f"].st_mtime_ns) == (10 ** 18, 2 * 10 ** 18)
    assert got["d/fifo"].st_mtime_ns == 10 ** 18 and stat.S_IMODE(got["d/fifo"].st_mode) == 0o600


def test_large_file_is_written_in_parallel_pieces(tmp_path):
    """A file of many chunks is split across workers (pwrite at offsets); the bytes, holes
    included, must come out in place."""
    data = random.Random(3).randbytes(20 * MiB)
    fs = make_fs()
    r = fs.write_file(fs.new(), "big", data)
    r = fs.write_at(r, "big", 30 * MiB, b"after a hole")
    out = tmp_path / "out"
    export_dir(fs, r, out, threads=4)
    got = (out / "big").read_bytes()
    assert len(got) == 30 * MiB + 12
    assert got[:20 * MiB] == data and got[20 * MiB:30 * MiB] == bytes(10 * MiB) and got.endswith(b"after a hole")


def test_file_replaced_during_import_is_an_error_not_a_hang(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in "abc":
        (src / name).write_bytes(name.encode())

    def swap(rel: str) -> bool:  # runs after the scan saw "b" as a regular file
        if rel == "b":
            (src / "b").unlink()
            os.mkfifo(src / "b")
        return False

    fs = make_fs()
    r0 = fs.new()
    with pytest.raises(OSError, match="no longer a regular file"):
        import_dir(fs, r0, src, ignore=swap)
    assert [p for p, _ in fs.walk(r0)] == [""]
