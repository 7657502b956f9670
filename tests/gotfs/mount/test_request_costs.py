"""What the writable core does per request of the kind tar -x sends by the thousand: a lookup
of an absent name builds no error, and a setattr builds and encodes one Info."""

from __future__ import annotations

import errno
import os

import pytest
import trio

from gotfs.errors import NotADirectory
from gotfs.fs import FS
from gotfs.info import Info
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotfs.mount.ops import Ops
from gotfs.tx import Tx
from gotkv import MemoryStore
from gotkv.errors import GotError
from tests.gotfs.mount.fakes import RecordingSource


def _core():
    fs = FS(MemoryStore())
    return writeback.Writeback(fs, RecordingSource(fs), max_dirty=1 << 30)


def test_a_lookup_of_an_absent_name_builds_no_error(monkeypatch):
    wb = _core()
    d = wb.mkdir(ROOT_INODE, b"d", 0o755).ino
    fh, st = wb.create(d, b"f", 0o644)
    wb.release(fh)

    def no_error(*args):
        raise AssertionError("an error was built for an absent name")

    monkeypatch.setattr(Tx, "_explain_missing", no_error)
    ops = Ops(wb, limiter=trio.CapacityLimiter(2))

    async def main():
        absent = await ops.lookup(d, b"nope", None)
        assert absent.st_ino == 0 and absent.entry_timeout > 0
        assert (await ops.lookup(d, b"f", None)).st_ino == st.ino

    trio.run(main)
    assert wb.find(d, b"nope") is None
    monkeypatch.undo()
    with pytest.raises(NotADirectory):
        wb.find(st.ino, b"x")  # under a file: ENOTDIR, as lookup
    with pytest.raises(GotError) as e:
        wb.lookup(d, b"nope")
    assert e.value.errno == errno.ENOENT


def test_a_setattr_encodes_one_info(monkeypatch):
    wb = _core()
    fh, st = wb.create(ROOT_INODE, b"f", 0o600)
    encoded = []
    real = Info.to_bytes

    def to_bytes(self):
        encoded.append(self)
        return real(self)

    monkeypatch.setattr(Info, "to_bytes", to_bytes)
    out = wb.setattr(st.ino, mode=0o644, mtime_ns=10**18, atime_ns=10**18 + 5, uid=1234, gid=5678)
    assert len(encoded) == 1
    info = wb.tx.require((b"f",))
    assert (info.mode, info.mtime_ns, info.atime_ns, info.uid, info.gid) == (0o644, 10**18, 10**18 + 5, 1234, 5678)
    assert info.ctime_ns is not None and info.ctime_ns > 10**18
    assert out.info == info
    wb.release(fh)


@pytest.mark.parametrize("seed", range(4))
def test_one_setattr_equals_its_fields_set_one_by_one(seed):
    import random

    rng = random.Random(seed)
    wb = _core()
    me = (os.getuid(), os.getgid())
    for i in range(40):
        name = b"f%d" % i
        fields = {}
        if rng.random() < 0.5:
            fields["mode"] = rng.choice([0o600, 0o644, 0o4755, 0o2750])
        if rng.random() < 0.5:
            fields["mtime_ns"] = rng.choice([10**18, 2 * 10**18])
        if rng.random() < 0.5:
            fields["atime_ns"] = rng.choice([10**18, 3 * 10**18])
        if rng.random() < 0.5:
            fields["uid"] = rng.choice([me[0], 1000])
        if rng.random() < 0.5:
            fields["gid"] = rng.choice([me[1], 1000])
        a = wb.create(ROOT_INODE, name + b"a", 0o640)[1].ino
        b = wb.create(ROOT_INODE, name + b"b", 0o640)[1].ino
        for ino in (a, b):
            wb.setattr(ino, mtime_ns=10**18)  # the same start (else each has its creation time)
        wb.setattr(a, **fields)
        for k, v in fields.items():
            wb.setattr(b, **{k: v})
        ia, ib = wb.tx.require((name + b"a",)), wb.tx.require((name + b"b",))
        assert ia.with_(ctime_ns=None) == ib.with_(ctime_ns=None), fields
