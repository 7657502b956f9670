"""A clone's checkout beside its fetch (gotfs/repo/clonecheckout.py): it reads what has
arrived, waits for the rest, and never hides the fetch's own error."""

from __future__ import annotations

import random
import threading
import time

import pytest

from gotfs.repo import Repo, remotes as R
from gotfs.tx import Tx
from gotfs.repo.clonecheckout import ArrivingStore, CheckoutBesideFetch
from gotfs.repo.maintenance import extent_refs
from gotkv.blobs.local import LocalStore
from gotkv.blobs.remote.objects import ObjectNotFound
from gotkv.errors import BlobNotFound
from gotkv.sync import copy_missing
from tests.gotfs.repo.test_remotes import make_repo, tree


def test_a_get_waits_for_the_blob_to_arrive(tmp_path):
    local = LocalStore(tmp_path / "store")
    arriving = ArrivingStore(local)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(arriving.get(b"\x01" * 32)))
    reader.start()
    time.sleep(0.2)
    assert reader.is_alive() and not got  # not there yet: it waits
    cid = local.post(b"some data")
    arriving.arrived({cid: b"ignored: read from the local store"}, True)
    assert arriving.get(cid) == b"some data"
    arriving.arrived({b"\x01" * 32: b"a node, held in memory"}, False)
    reader.join(5)
    assert got == [b"a node, held in memory"]
    assert arriving.exists([cid, b"\x01" * 32, b"\x02" * 32]) == {cid, b"\x01" * 32}


def test_a_get_after_the_fetch_ended_raises_blob_not_found(tmp_path):
    arriving = ArrivingStore(LocalStore(tmp_path / "store"))
    failed: list[BaseException] = []

    def read() -> None:
        try:
            arriving.get(b"\x03" * 32)
        except BlobNotFound as e:
            failed.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.1)
    arriving.close()
    reader.join(5)
    assert not reader.is_alive() and len(failed) == 1


class HeldBack:
    """A source store that will not give the data of `held` until `until()` is true: a fetch
    whose last batches wait for something the checkout must do first."""

    def __init__(self, store, held: set[bytes], until):
        self.store, self.held, self.until = store, held, until

    def get_many(self, cids):
        cids = list(cids)
        if self.held & set(cids):
            deadline = time.monotonic() + 30
            while not self.until():
                assert time.monotonic() < deadline, "the checkout wrote nothing while the fetch ran"
                time.sleep(0.01)
        return self.store.get_many(cids)

    def stored_size(self, cid):
        return self.store.stored_size(cid)


def test_the_checkout_writes_files_while_the_fetch_still_brings_data(tmp_path):
    rng = random.Random(4)
    files = {"a.bin": rng.randbytes(3 << 20), "b.bin": rng.randbytes(3 << 20), "c/d.txt": b"small\n"}
    a = make_repo(tmp_path / "a", files)
    b = Repo.create(tmp_path / "b", a.config)
    head = a.head()
    root = a.read_commit(head).root
    b_chunks = {e.ref.cid for _, _, e in Tx(a.fs, root).extents((b"b.bin",))}
    assert b_chunks
    # b.bin's data is held back until the checkout has written a.bin from what arrived before
    src = HeldBack(a.store, b_chunks, lambda: (tmp_path / "b" / "a.bin").exists())
    checkout = CheckoutBesideFetch(b, head).start()
    checkout.arrived({head.cid: a.store.get(head.cid)}, False)
    try:
        copy_missing(a.fs.kv.nodes.codec, src, b.store, [root], extent_refs, batch_bytes=1,
                     arrived=checkout.arrived)
        b.store.post(a.store.get(head.cid), head.cid)
        b.store.flush()
    finally:
        checkout.wait()
    assert tree(tmp_path / "b") == files
    b.refs.set_many({"heads/main": str(head), "HEAD": "ref: heads/main", "WORKDIR": str(head)})
    assert b.status() == []  # the working directory is recorded as checked out
    a.close(), b.close()


def test_a_failed_fetch_reports_its_own_error_and_the_rerun_completes(tmp_path):
    files = {"x.bin": random.Random(5).randbytes(2 << 20), "y.txt": b"y\n"}
    a = make_repo(tmp_path / "a", files)
    remote = tmp_path / "remote"
    R.add_remote(a, "origin", str(remote))
    R.push(a, "origin")
    packs = sorted((remote / "packs").iterdir())
    assert packs
    hidden = [p.rename(p.with_name(p.name + ".away")) for p in packs]
    with pytest.raises(ObjectNotFound) as failed:  # the fetch's error, not the checkout's BlobNotFound
        R.clone(str(remote), tmp_path / "b", a.config.secret)
    assert not isinstance(failed.value, BlobNotFound)
    for p in hidden:
        p.rename(p.with_name(p.name.removesuffix(".away")))
    b, _, branch = R.clone(str(remote), tmp_path / "b", a.config.secret)
    assert branch == "main" and tree(tmp_path / "b") == files and b.status() == []
    a.close(), b.close()
