"""Decoder: decode stored blobs into shared memory in a child process, beside the caller's GIL.

Why a process: a FUSE server in Python answers every request on one thread, holding the GIL
while the kernel copies each reply out of its memory. Decoding megabyte chunks on threads of
the same process means each of them waits for that GIL twice per chunk (to start, and to
finish after the cipher released it), so decoding falls behind exactly when the loop is
busiest. A child process has a GIL of its own: it opens the stored bytes where they lie (a
pack file, mapped), verifies and decrypts them straight into a buffer both processes map,
and says which job is done with a few bytes on a pipe. The parent never copies a byte.

Protocol (both pipes carry fixed-size little-endian records, so a read of a multiple of the
record size never splits one, writes being atomic below PIPE_BUF):

    parent -> child   FILE: 'F' u32 file id, u16 path length, path bytes
                      JOB:  'J' u32 job, u32 file id, u64 offset, u32 length,
                                u64 out offset, u32 out size, 32s cid, 32s key, u8 keyed
    child -> parent   u32 job, u8 status (OK: decoded into place; RAW_NOT: the payload is
                      compressed, nothing written; FAILED: it could not be read or verified);
                      first of all, once set up, the record (READY_JOB, OK)

Starting the child costs CPU (an interpreter, the codec's imports, the shared buffer's page
tables). The mount waits for READY (`wait_ready`) before it calls itself
ready, so that this start-up does not compete with its first reader for the CPU.

Why it reads files, not the store: the child is worth its start-up only because the bytes
never pass through the parent. A store call (get, or a bulk get_many into the shared buffer)
runs in the parent and copies every byte there, with its GIL, which is the very cost the
child removes. So the child takes a blob's place from a store that can name one without
I/O (FileBacked, below: LocalStore, or a router over one), and that is a capability, not part
of the Store interface. Over any other store (a remote, memory) the mount works unchanged:
readahead.py then decodes on its threads in-process (DataStore.decode_into, through
Store.get_with), and a stale place (a compaction moved the blob) falls back the same way.

The child only ever places a raw payload, which it verifies first (AEAD tag or, unencrypted,
the cid). Anything else is left to the parent, which decodes in-process and so raises the
proper error with its message. A child that dies (its pipe closes) fails every job in
flight the same way, and the parent carries on without it.
"""

from __future__ import annotations

import logging
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Protocol, runtime_checkable

from gotkv.blobs.codec import Codec
from gotkv.blobs.ref import Ref
from gotkv.osio import write_all

log = logging.getLogger(__name__)


@runtime_checkable
class FileBacked(Protocol):
    """A store that can say where in a file a blob's stored bytes lie (LocalStore, and a
    router over one). Not part of the Store interface: only this module reads stores' files
    directly, and a mount over any other store decodes in-process instead."""

    def where(self, cid: bytes) -> tuple[str, int, int] | None:
        """(file path, offset, length) if known without I/O, else None. The place may go
        stale (a compaction moves the blob): the reader then falls back to Store.get."""
        ...

OK, COMPRESSED, FAILED = 0, 1, 2
READY_JOB = 0xFFFFFFFF  # the job number of the child's first record: it is ready
_FILE = struct.Struct("<cIH")
_JOB = struct.Struct("<cIIQIQI32s32sB")
_REPLY = struct.Struct("<IB")
_DROP_EVERY = 32 << 20  # bytes read through a file's map between drops of its pages
_REPLY_BATCH = 256


class Decoder:
    """The parent's end: starts the child, submits jobs, collects what is done. Thread-safe."""

    def __init__(self, codec: Codec, size: int):
        fd = os.memfd_create("got-decoded", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            # populated now: no page fault while the child writes or the kernel copies replies
            self.buffer = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
            jobs_r, self._jobs_w = os.pipe()
            self._replies_r, replies_w = os.pipe()
            args = [sys.executable, "-m", "gotfs.mount.decoder", str(jobs_r), str(replies_w), str(fd), str(size),
                    codec.cipher, str(codec.layout), "1" if codec.secret is not None else "0"]
            # No stdio: a daemonized mount's caller waits for its stdout to close, and the
            # child reports everything that matters through its answers.
            self._proc = subprocess.Popen(args, pass_fds=(jobs_r, replies_w, fd), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            os.close(fd)
        os.close(jobs_r)
        os.close(replies_w)
        os.set_blocking(self._replies_r, False)
        self._files: dict[str, int] = {}
        self._next_job = 0
        self._pending: set[int] = set()
        self._partial = b""
        self._jobs_done: list[tuple[int, int]] = []  # collected while waiting for READY
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self.alive = True
        self.ready = False  # the child has said READY (see wait_ready)

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the child to finish starting; True if it has.
        Jobs may be submitted before: they are answered once it is ready, and collect()
        returns those answered meanwhile."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.alive:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_lock.acquire(timeout=left):
                return False
            try:
                select.select([self._replies_r], [], [], max(0.0, deadline - time.monotonic()))  # EOF wakes it too
                self._read_replies()
            finally:
                self._read_lock.release()
        return self.ready

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, path: str, offset: int, length: int, ref: Ref, out_offset: int, out_size: int) -> int | None:
        """Ask for the blob at [offset, offset+length) of `path` to be decoded into
        buffer[out_offset:out_offset+out_size]; returns the job number (None if the child is gone)."""
        return self.submit_many([(path, offset, length, ref, out_offset, out_size)])[0]

    def submit_many(self, items: list[tuple[str, int, int, Ref, int, int]]) -> list[int | None]:
        """submit() for each (path, offset, length, ref, out_offset, out_size), in one write:
        one wake-up of the child for all of them. Job numbers in order (Nones if it is gone)."""
        with self._send_lock:
            if not self.alive:
                return [None] * len(items)
            msg, jobs = [], []
            for path, offset, length, ref, out_offset, out_size in items:
                file_id = self._files.get(path)
                if file_id is None:
                    file_id = self._files[path] = len(self._files)
                    raw = os.fsencode(path)
                    msg.append(_FILE.pack(b"F", file_id, len(raw)) + raw)
                job = self._next_job
                self._next_job += 1
                msg.append(_JOB.pack(b"J", job, file_id, offset, length, out_offset, out_size,
                                     ref.cid, ref.key or bytes(32), bool(ref.key)))
                self._pending.add(job)
                jobs.append(job)
            try:
                write_all(self._jobs_w, b"".join(msg))
            except OSError:  # the child died: it is reported by collect()
                self.alive = False
            return jobs

    def collect(self, timeout: float = 0.0) -> list[tuple[int, int]]:
        """(job, status) for jobs finished since the last call; waits up to `timeout` seconds
        for one if none is ready. Returns [] at once while another thread is collecting. If the
        child is gone, every job still pending comes back FAILED."""
        if not self._read_lock.acquire(blocking=False):
            return []
        try:
            if timeout and self.alive and not self._jobs_done:
                select.select([self._replies_r], [], [], timeout)
            self._read_replies()
            done, self._jobs_done = self._jobs_done, []
            with self._send_lock:
                for job, _ in done:
                    self._pending.discard(job)
                if not self.alive:
                    done.extend((job, FAILED) for job in self._pending)
                    self._pending.clear()
            return done
        finally:
            self._read_lock.release()

    def _read_replies(self) -> None:
        """Move every answer on the pipe into _jobs_done (READY only sets `ready`). Holds
        _read_lock."""
        while self.alive:
            try:
                data = os.read(self._replies_r, _REPLY.size * _REPLY_BATCH)
            except BlockingIOError:
                return
            if not data:
                self.alive = False
                log.warning("the decoder process (pid %d) is gone: decoding on threads from now on", self._proc.pid)
                return
            data = self._partial + data
            whole = len(data) - len(data) % _REPLY.size
            self._partial = data[whole:]
            for job, status in _REPLY.iter_unpack(data[:whole]):
                if job == READY_JOB:
                    self.ready = True
                else:
                    self._jobs_done.append((job, status))
            if len(data) < _REPLY.size * _REPLY_BATCH:
                return

    def fileno(self) -> int:
        """The pipe that becomes readable when jobs are done (for select or an event loop)."""
        return self._replies_r

    def close(self) -> None:
        with self._send_lock:
            self.alive = False
            try:
                os.close(self._jobs_w)  # the child exits at end of input
            except OSError:
                pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._replies_r)



# -- the child ------------------------------------------------------------------------------


class _Files:
    """The child's open files, each mapped whole (remapped when it has grown), with its pages
    dropped from the page tables every _DROP_EVERY bytes read (they stay in the page cache)."""

    def __init__(self):
        self.paths: dict[int, str] = {}
        self.maps: dict[int, list] = {}  # file id -> [mmap, bytes used since the last drop]

    def view(self, file_id: int, offset: int, length: int) -> memoryview:
        entry = self._mapped(file_id, offset, length)
        entry[1] += length
        if entry[1] >= _DROP_EVERY:
            entry[0].madvise(mmap.MADV_DONTNEED)
            entry[1] = 0
        return memoryview(entry[0])[offset:offset + length]

    def will_need(self, file_id: int, offset: int, length: int) -> None:
        """Start reading the range from disk now (it is decoded soon), if it is not cached."""
        try:
            entry = self._mapped(file_id, offset, length)
            lo = offset - offset % mmap.PAGESIZE
            entry[0].madvise(mmap.MADV_WILLNEED, lo, offset + length - lo)
        except (OSError, KeyError, ValueError):
            pass  # _decode finds out, and says so

    def _mapped(self, file_id: int, offset: int, length: int) -> list:
        entry = self.maps.get(file_id)
        if entry is None or offset + length > len(entry[0]):
            fd = os.open(self.paths[file_id], os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if offset + length > size:
                    raise OSError("the blob runs past the end of its file")
                entry = self.maps[file_id] = [mmap.mmap(fd, size, prot=mmap.PROT_READ), 0]
            finally:
                os.close(fd)
        return entry


def _decode(codec: Codec, files: _Files, out: memoryview, job: tuple) -> int:
    _, _, file_id, offset, length, out_offset, out_size, cid, key, keyed = job
    try:
        stored = files.view(file_id, offset, length)
        try:
            placed = codec.decode_into(Ref(cid, key if keyed else b""), stored, out[out_offset:out_offset + out_size])
        finally:
            stored.release()
    except Exception:  # unreadable, or failed verification: the parent finds out which
        return FAILED
    return OK if placed else COMPRESSED


def _yield_on_wake() -> None:
    """Run as a batch task: woken by a job, wait for a free CPU rather than take the parent's.

    The parent writes each job from its FUSE loop. As a normal task, this process, woken
    with sleeper's credit, often preempts that loop on its own CPU: the loop then stalls for
    a whole decode with a reply the reader waits for. The scheduler never lets a
    SCHED_BATCH task preempt on wake-up; it runs when a CPU is free or at the next tick.
    (The loop's time in those writes fell several times: docs/benchmarks.md.)
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the default policy works, a little slower
        pass


def serve(jobs: int, replies: int, buffer_fd: int, size: int, codec: Codec) -> None:
    """The child's loop: read jobs until the parent closes the pipe, answer each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _yield_on_wake()
    out = memoryview(mmap.mmap(buffer_fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE))
    os.close(buffer_fd)
    files = _Files()
    write_all(replies, _REPLY.pack(READY_JOB, OK))
    pending = b""
    while True:
        data = os.read(jobs, 1 << 16)
        if not data:
            return
        pending += data
        pos = 0
        batch = []
        while len(pending) - pos >= 1:
            kind = pending[pos:pos + 1]
            if kind == b"F":
                if len(pending) - pos < _FILE.size:
                    break
                _, file_id, n = _FILE.unpack_from(pending, pos)
                if len(pending) - pos < _FILE.size + n:
                    break
                files.paths[file_id] = os.fsdecode(pending[pos + _FILE.size:pos + _FILE.size + n])
                pos += _FILE.size + n
            elif kind == b"J":
                if len(pending) - pos < _JOB.size:
                    break
                batch.append(_JOB.unpack_from(pending, pos))
                pos += _JOB.size
            else:
                raise SystemExit(f"gotfs.mount.decoder: bad message {kind!r}")
        pending = pending[pos:]
        for job in batch[1:]:  # reads from disk overlap with decoding the first
            files.will_need(job[2], job[3], job[4])
        for job in batch:  # answered one by one: a reader may be waiting for the first
            write_all(replies, _REPLY.pack(job[1], _decode(codec, files, out, job)))


def main(argv: list[str]) -> int:
    jobs, replies, buffer_fd, size, cipher, layout, encrypted = argv
    codec = Codec.opener(cipher=cipher, layout=int(layout), encrypted=encrypted == "1")
    try:
        serve(int(jobs), int(replies), int(buffer_fd), int(size), codec)
    except BrokenPipeError:  # the parent went away
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
