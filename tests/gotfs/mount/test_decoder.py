"""Decoder (gotfs/mount/decoder.py): decoding stored blobs in a child process, into shared memory."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from gotfs.mount import decoder
from gotkv.blobs.codec import Codec
from gotfs.mount.decoder import Decoder
from gotkv.blobs.local import LocalStore

SECRET = b"d" * 32
SIZE = 8 << 20


@pytest.fixture(params=[SECRET, None], ids=["encrypted", "plain"])
def setup(request, tmp_path):
    codec = Codec(request.param)
    store = LocalStore(tmp_path / "store")
    dec = Decoder(codec, SIZE)
    yield codec, store, dec
    dec.close()
    store.close()


def put(codec: Codec, store: LocalStore, plaintext: bytes):
    ref, stored = codec.encode(plaintext)
    store.post(stored)
    store.flush()
    return ref, len(stored)


def collect_all(dec: Decoder, jobs: set[int], timeout: float = 10.0) -> dict[int, int]:
    done: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while jobs - done.keys():
        assert time.monotonic() < deadline, "the decoder did not answer"
        done.update(dec.collect(timeout=0.1))
    return done


def test_raw_blobs_are_decoded_into_place(setup):
    codec, store, dec = setup
    rng = random.Random(1)
    blobs = [rng.randbytes(n) for n in (70_000, 1 << 20, 3, 0, 500_000)]
    placed, at = {}, 0
    for plaintext in blobs:
        ref, size = put(codec, store, plaintext)
        store.hint([ref.cid])
        path, offset, length = store.where(ref.cid)
        n = codec.raw_size(length)
        job = dec.submit(path, offset, length, ref, at, n)
        placed[job] = (at, plaintext)
        at += n
    done = collect_all(dec, set(placed))
    for job, (at, plaintext) in placed.items():
        assert done[job] == decoder.OK
        assert bytes(dec.buffer[at:at + len(plaintext)]) == plaintext


def test_jobs_sent_in_one_write_are_each_answered_and_placed(setup):
    codec, store, dec = setup
    rng = random.Random(2)
    blobs = [rng.randbytes(n) for n in (300_000, 1, 1 << 20, 77_777)]
    items, at = [], 0
    for plaintext in blobs:
        ref, _ = put(codec, store, plaintext)
        store.hint([ref.cid])
        path, offset, length = store.where(ref.cid)
        items.append((path, offset, length, ref, at, codec.raw_size(length)))
        at += codec.raw_size(length)
    jobs = dec.submit_many(items)
    assert len(set(jobs)) == len(blobs) and None not in jobs
    done = collect_all(dec, set(jobs))
    for job, plaintext, item in zip(jobs, blobs, items):
        assert done[job] == decoder.OK
        assert bytes(dec.buffer[item[4]:item[4] + len(plaintext)]) == plaintext


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="no SCHED_BATCH here")
def test_the_child_is_a_batch_task_that_never_preempts_the_fuse_loop(setup):
    _, _, dec = setup
    assert dec.wait_ready(10)
    assert os.sched_getscheduler(dec._proc.pid) == os.SCHED_BATCH


def test_compressed_blobs_are_left_to_the_caller(setup):
    codec, store, dec = setup
    ref, _ = put(codec, store, b"compress me please " * 10_000)
    store.hint([ref.cid])
    path, offset, length = store.where(ref.cid)
    before = bytes(dec.buffer[:64])
    job = dec.submit(path, offset, length, ref, 0, codec.raw_size(length))
    assert collect_all(dec, {job})[job] == decoder.COMPRESSED
    assert bytes(dec.buffer[:64]) == before


def test_corrupt_or_missing_bytes_fail_and_are_never_placed_as_data(setup, tmp_path):
    codec, store, dec = setup
    plaintext = random.Random(2).randbytes(100_000)
    ref, _ = put(codec, store, plaintext)
    store.hint([ref.cid])
    path, offset, length = store.where(ref.cid)
    with open(path, "r+b") as f:
        f.seek(offset + length // 2)
        byte = f.read(1)
        f.seek(offset + length // 2)
        f.write(bytes([byte[0] ^ 1]))
    jobs = {dec.submit(path, offset, length, ref, 0, codec.raw_size(length)),
            dec.submit(str(tmp_path / "no such pack"), 0, length, ref, 0, codec.raw_size(length)),
            dec.submit(path, 1 << 40, length, ref, 0, codec.raw_size(length))}
    assert set(collect_all(dec, jobs).values()) == {decoder.FAILED}


def test_a_dead_child_fails_what_is_in_flight_and_refuses_more(setup):
    codec, store, dec = setup
    ref, _ = put(codec, store, random.Random(3).randbytes(1 << 20))
    store.hint([ref.cid])
    path, offset, length = store.where(ref.cid)
    os.kill(dec._proc.pid, signal.SIGSTOP)  # answers nothing from now on...
    job = dec.submit(path, offset, length, ref, 0, codec.raw_size(length))
    os.kill(dec._proc.pid, signal.SIGKILL)  # ...and dies
    assert collect_all(dec, {job})[job] == decoder.FAILED
    assert not dec.alive
    assert dec.submit(path, offset, length, ref, 0, codec.raw_size(length)) is None


def test_the_child_never_holds_the_secret(setup):
    codec, _, dec = setup
    with open(f"/proc/{dec._proc.pid}/cmdline", "rb") as f:
        cmdline = f.read()
    assert SECRET not in cmdline and SECRET.hex().encode() not in cmdline


def test_jobs_sent_before_the_child_is_ready_are_answered_after(setup):
    codec, store, dec = setup
    plaintext = random.Random(4).randbytes(200_000)
    ref, _ = put(codec, store, plaintext)
    store.hint([ref.cid])
    path, offset, length = store.where(ref.cid)
    job = dec.submit(path, offset, length, ref, 0, codec.raw_size(length))  # likely still starting
    assert dec.wait_ready(30.0) and dec.ready
    done = collect_all(dec, {job})
    assert done == {job: decoder.OK}  # READY is never reported as a job
    assert bytes(dec.buffer[:len(plaintext)]) == plaintext
    assert dec.wait_ready(0.0)  # once ready, it stays so


def test_waiting_for_a_child_that_dies_while_starting_ends_at_once(setup):
    _, _, dec = setup
    os.kill(dec._proc.pid, signal.SIGKILL)
    started = time.monotonic()
    ready = dec.wait_ready(30.0)
    assert time.monotonic() - started < 10.0
    assert ready == dec.ready and (dec.ready or not dec.alive)


def test_waiting_gives_up_after_its_timeout(setup):
    _, _, dec = setup
    assert dec.wait_ready(30.0)
    dec.ready = False  # as if READY had not come yet: nothing more will arrive on the pipe
    started = time.monotonic()
    assert not dec.wait_ready(0.3)
    assert 0.25 < time.monotonic() - started < 5.0
