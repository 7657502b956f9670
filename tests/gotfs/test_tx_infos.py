"""Tx keeps the Infos it decoded or stored, by their encoding: a writable mount reads the same
few Infos at every request, and each decoding costs more than the lookup that found it."""

from __future__ import annotations

from gotfs import files, tx as txmod
from gotfs.fs import FS
from gotfs.info import Info
from gotfs.tx import Tx
from gotkv import MemoryStore


def _counting(monkeypatch):
    decoded = []
    real = Info.from_bytes.__func__

    def from_bytes(cls, data):
        decoded.append(data)
        return real(cls, data)

    monkeypatch.setattr(Info, "from_bytes", classmethod(from_bytes))
    return decoded


def _tree():
    fs = FS(MemoryStore())
    tx = Tx(fs, fs.new())
    files.create(tx, (b"f",), 0o644, mtime_ns=1)
    return fs, tx.commit()


def test_an_encoding_is_decoded_once_per_transaction(monkeypatch):
    fs, root = _tree()
    decoded = _counting(monkeypatch)
    tx = Tx(fs, root)
    first = tx.info((b"f",))
    assert tx.info((b"f",)) == first and tx.info((b"f",)) == first
    assert len(decoded) == 1


def test_a_stored_info_is_read_back_without_decoding(monkeypatch):
    fs, root = _tree()
    decoded = _counting(monkeypatch)
    tx = Tx(fs, root)
    new = Info.file(0o600, 0, mtime_ns=5, uid=7, gid=8)
    tx.put_info((b"f",), new)
    assert tx.info((b"f",)) == new
    assert decoded == []
    tx.put_info((b"f",), new.with_(mode=0o644))  # a newer value is what reads see
    assert tx.info((b"f",)).mode == 0o644
    assert Tx(fs, tx.commit()).info((b"f",)) == new.with_(mode=0o644)


def test_kept_infos_are_bounded(monkeypatch):
    monkeypatch.setattr(txmod, "INFOS_KEPT", 3)
    fs = FS(MemoryStore())
    tx = Tx(fs, fs.new())
    for i in range(10):
        files.create(tx, (b"f%d" % i,), 0o644, mtime_ns=i + 1)
        assert len(tx._infos) <= 3
    assert [tx.info((b"f%d" % i,)).mtime_ns for i in range(10)] == list(range(1, 11))
