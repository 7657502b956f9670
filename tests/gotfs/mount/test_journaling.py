"""fsync through the intent journal, on the writable core (Writeback) with no FUSE.

The exact check: after any sequence of creates, renames, removes, writes, truncates,
attribute changes and publishes with fsyncs in between (and every file fsynced at the end), replaying the journal onto the last published root gives the root a
full flush publishes (history independence makes equal trees equal roots). A spill since the
last publish (max_dirty reached) lands writes in two batches, which the mount's grouping gap
may cut into other extents than one batch: then every file's bytes and Info must be equal.
Also: fsync that can be journaled publishes nothing; a name change makes fsync flush; a torn
tail is ignored up to the last whole record; the journal is sealed.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from gotfs import journal
from gotfs.fs import FS
from gotfs.mount import writeback
from gotfs.mount.inodes import ROOT_INODE
from gotkv import MemoryStore
from tests.gotfs.mount.fakes import RecordingSource

SECRET = bytes(range(32))


class JournalSource(RecordingSource):
    """A RecordingSource with a journal file."""

    def __init__(self, fs: FS, path, secret=SECRET):
        super().__init__(fs)
        self.path = path
        self.secret = secret

    def journal(self):
        return journal.Journal(self.path, self.secret)


def _setup(tmp_path, names=(b"a", b"b"), sizes=(300, 70_000), secret=SECRET):
    fs = FS(MemoryStore())
    source = JournalSource(fs, tmp_path / "j", secret)
    wb = writeback.Writeback(fs, source, max_dirty=1 << 30)
    fhs = {}
    for name, size in zip(names, sizes):
        fh, _ = wb.create(ROOT_INODE, name, 0o644)
        wb.write(fh, 0, random.Random(size).randbytes(size))
        fhs[name] = fh
    wb.flush()
    return fs, source, wb, fhs


def _replayed(fs, source, secret=SECRET):
    seg = journal.read(source.path, secret)
    if seg is None:
        return source.root
    assert seg.base == source.root  # the journal applies on the last published root
    return journal.replay(fs, seg.base, seg.records)


_NAMES = [b"a", b"b", b"c", b"d/e"]
_ops = st.lists(st.tuples(st.sampled_from(["write", "write", "write", "truncate", "utime", "chmod", "xattr",
                                           "fsync", "fsync", "spill", "publish", "create", "unlink", "rename",
                                           "mkdir"]),
                          st.sampled_from(_NAMES), st.sampled_from(_NAMES), st.integers(0, 400_000),
                          st.integers(1, 9_000)),
                min_size=1, max_size=40)


def _parent(wb, name: bytes) -> tuple[int, bytes]:
    *up, last = name.split(b"/")
    ino = ROOT_INODE
    for part in up:
        ino = wb.lookup(ino, part).ino
    return ino, last


@settings(max_examples=80, deadline=None)
@given(ops=_ops)
def test_replay_equals_a_full_flush(tmp_path_factory, ops):
    fs, source, wb, fhs = _setup(tmp_path_factory.mktemp("j"))
    rng = random.Random(len(ops))
    spilled = False  # since the last publish
    has_d = False
    for kind, name, other, off, n in ops:
        if kind == "mkdir":
            if not has_d:
                wb.mkdir(ROOT_INODE, b"d", 0o755)
                has_d = True
            continue
        if name.startswith(b"d/") and not has_d:
            continue
        if kind == "create":
            if name not in fhs:
                fhs[name], _ = wb.create(*_parent(wb, name), 0o644)
            continue
        if name not in fhs:
            continue
        fh = fhs[name]
        ino = wb.handles[fh].ino
        if kind == "write":
            wb.write(fh, off, rng.randbytes(n))
        elif kind == "truncate":
            wb.setattr(ino, size=off // 2)
        elif kind == "utime":
            wb.setattr(ino, mtime_ns=off * 1000 + n)
        elif kind == "chmod":
            wb.setattr(ino, mode=0o600 | (n & 0o77))
        elif kind == "xattr":
            wb.setxattr(ino, b"user.k", b"%d" % n)
        elif kind == "fsync":
            wb.fsync(fh)
        elif kind == "spill":
            wb.flush(publish=False)
            spilled = True
        elif kind == "publish":
            wb.flush()
            spilled = False
        elif kind == "unlink":
            wb.release(fhs.pop(name))  # (a file removed while open is not journaled: no orphans here)
            wb.unlink(*_parent(wb, name))
        elif kind == "rename" and other != name and (has_d or not other.startswith(b"d/")):
            if other in fhs:
                wb.release(fhs.pop(other))
            wb.rename(*_parent(wb, name), *_parent(wb, other))
            fhs[other] = fhs.pop(name)
    fhs[b"last"], _ = wb.create(ROOT_INODE, b"last", 0o644)  # its fsync journals every change of names
    for fh in fhs.values():
        wb.fsync(fh)
    replayed = _replayed(fs, source)
    flushed = wb.flush()
    if spilled:
        assert sorted(p for p, _ in fs.walk(replayed)) == sorted(p for p, _ in fs.walk(flushed))
        for name in fhs:
            path = name.decode()
            assert fs.stat(replayed, path) == fs.stat(flushed, path)
            assert fs.read(replayed, path) == fs.read(flushed, path)
    else:
        assert flushed == replayed


def test_a_journaled_fsync_publishes_nothing_and_replay_has_its_bytes(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    published = len(source.published)
    wb.write(fhs[b"a"], 100, b"x" * 5000)
    wb.fsync(fhs[b"a"])
    wb.write(fhs[b"a"], 6000, b"y" * 10)
    wb.setattr(wb.handles[fhs[b"a"]].ino, mode=0o600)
    wb.fsync(fhs[b"a"])
    wb.fsync(fhs[b"b"])  # nothing changed: no record
    assert len(source.published) == published and wb.journaled == 2
    root = _replayed(fs, source)
    data = fs.read(root, "a")
    assert data[100:5100] == b"x" * 5000 and data[6000:6010] == b"y" * 10 and len(data) == 6010
    assert fs.stat(root, "a").mode & 0o777 == 0o600
    wb.flush()
    assert journal.read(source.path, SECRET) is None  # a publish supersedes the journal


def test_saves_are_journaled_with_their_creates_and_renames(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    published = len(source.published)
    for i in range(3):  # an editor's save: create a temporary, write, fsync, rename over the file
        fh, _ = wb.create(ROOT_INODE, b"doc.tmp", 0o644)
        wb.write(fh, 0, b"version %d" % i)
        wb.fsync(fh)
        wb.release(fh)
        wb.rename(ROOT_INODE, b"doc.tmp", ROOT_INODE, b"doc")
    assert len(source.published) == published and wb.journaled == 3
    root = _replayed(fs, source)  # the last rename was not fsynced: doc is version 1, doc.tmp version 2
    assert fs.read(root, "doc") == b"version 1" and fs.read(root, "doc.tmp") == b"version 2"
    fh = wb.open(wb.lookup(ROOT_INODE, b"doc").ino, os.O_RDWR)
    wb.fsync(fh)  # journals the rename
    assert fs.read(_replayed(fs, source), "doc") == b"version 2"
    assert fs.stat(_replayed(fs, source), "doc") == fs.stat(wb.flush(), "doc")


def test_a_file_removed_while_open_makes_fsync_publish_until_the_next_publish(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    published = len(source.published)
    wb.write(fhs[b"a"], 0, b"new")
    wb.unlink(ROOT_INODE, b"a")  # open: its bytes live on for the handle only
    wb.fsync(fhs[b"a"])
    assert len(source.published) == published + 1 and wb.journaled == 0
    wb.write(fhs[b"b"], 0, b"again")
    wb.fsync(fhs[b"b"])  # other files journal as before
    assert len(source.published) == published + 1 and wb.journaled == 1


def test_a_change_of_names_the_journal_does_not_log_bars_it(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    published = len(source.published)
    wb._forget_listings()  # what a change of names no override logs goes through
    wb.write(fhs[b"a"], 0, b"x")
    wb.fsync(fhs[b"a"])
    assert len(source.published) == published + 1 and wb.journaled == 0


def _two_fsyncs(wb, fhs) -> int:
    """Write and fsync a twice ("first", then "second"); the journal's end after the first."""
    wb.write(fhs[b"a"], 0, b"first")
    wb.fsync(fhs[b"a"])
    size = wb.journal.end
    wb.write(fhs[b"a"], 0, b"second")
    wb.fsync(fhs[b"a"])
    return size


def test_a_torn_tail_is_ignored_up_to_the_last_whole_record(tmp_path, caplog):
    fs, source, wb, fhs = _setup(tmp_path)
    size = _two_fsyncs(wb, fhs)
    full = wb.journal.end
    for cut in (full - 1, size + 20, size + 2):  # shorter each time
        os.truncate(source.path, cut)
        seg = journal.read(source.path, SECRET)
        assert len(seg.records) == 1 and "torn" in seg.problem
        assert fs.read(journal.replay(fs, seg.base, seg.records), "a")[:5] == b"first"
    assert "torn" in caplog.text


def test_a_damaged_record_ends_the_segment(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    size = _two_fsyncs(wb, fhs)
    with open(source.path, "r+b") as f:
        f.seek(size + 10)
        byte = f.read(1)
        f.seek(size + 10)
        f.write(bytes([byte[0] ^ 1]))
    seg = journal.read(source.path, SECRET)
    assert len(seg.records) == 1 and "authentication failed" in seg.problem


@pytest.mark.parametrize("secret", [SECRET, None])
def test_the_journal_is_sealed_or_checksummed(tmp_path, secret):
    fs, source, wb, fhs = _setup(tmp_path, secret=secret)
    wb.write(fhs[b"a"], 0, b"plaintext-marker" * 4)
    wb.fsync(fhs[b"a"])
    raw = open(source.path, "rb").read()
    assert (b"plaintext-marker" in raw) == (secret is None)
    assert journal.read(source.path, None if secret else SECRET) is None  # the other key cannot open it


def test_a_second_mount_of_the_branch_goes_without_the_journal(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    other = writeback.Writeback(fs, source, max_dirty=1 << 30)
    assert wb.journal is not None and other.journal is None
    fh, _ = other.create(ROOT_INODE, b"z", 0o644)
    other.flush()
    other.write(fh, 0, b"z")
    other.fsync(fh)  # publishes instead
    assert other.journaled == 0 and source.root == other.published


def test_logging_stops_when_nobody_fsyncs_and_resumes_after_one_flushing_fsync(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)  # (its flush is one publish with no fsync)
    wb.write(fhs[b"a"], 0, b"1")
    wb.flush()  # a second one: writes and changes of names are no longer logged
    wb.write(fhs[b"a"], 0, b"2")
    assert not wb._jlog
    published = len(source.published)
    wb.fsync(fhs[b"a"])  # flushes, and has the flush's plan start the log again
    assert len(source.published) == published + 1 and wb.journaled == 0
    wb.write(fhs[b"a"], 0, b"3")
    wb.fsync(fhs[b"a"])
    assert len(source.published) == published + 1 and wb.journaled == 1
    assert fs.read(_replayed(fs, source), "a")[:1] == b"3"


def test_try_fsync_journals_without_waiting_or_declines_having_done_nothing(tmp_path):
    """try_fsync (the event loop's fsync) answers from the journal when no lock is taken; with
    a lock taken, or when a flush must answer, it returns False and leaves all as it was."""
    fs, source, wb, fhs = _setup(tmp_path)
    published = len(source.published)
    wb.write(fhs[b"a"], 10, b"q" * 3000)
    for lock in (wb.flush_lock, wb.publish_lock):  # a flush or another fsync is running
        with lock:
            assert wb.try_fsync(fhs[b"a"]) is False
    assert wb.journaled == 0 and journal.read(source.path, SECRET) is None
    assert wb.try_fsync(fhs[b"a"]) is True
    assert len(source.published) == published and wb.journaled == 1
    assert fs.read(_replayed(fs, source), "a")[10:3010] == b"q" * 3000
    assert wb.try_fsync(fhs[b"a"]) is True and wb.journaled == 1  # nothing new: no record
    wb.unlink(ROOT_INODE, b"b")  # open and removed: only a flush can make it durable
    assert wb.try_fsync(fhs[b"b"]) is False and len(source.published) == published
    wb.fsync(fhs[b"b"])
    assert len(source.published) == published + 1


def test_try_fsync_leaves_the_first_fsync_after_idle_publishes_to_a_flush(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    wb.write(fhs[b"a"], 0, b"1")
    wb.flush()  # two publishes with no fsync: logging stops
    wb.write(fhs[b"a"], 0, b"2")
    assert wb.try_fsync(fhs[b"a"]) is False and not wb._jwanted  # the thread's fsync asks for the log


def test_the_journal_is_overwritten_in_place_and_a_new_segment_hides_the_old(tmp_path, caplog):
    """Appends and publishes never change the file's size (an fdatasync then commits no
    metadata); a publish empties the journal; the next segment starts over the old one,
    and nothing of the old one is read past the new one's end."""
    fs, source, wb, fhs = _setup(tmp_path)
    for i in range(5):
        wb.write(fhs[b"a"], i * 1000, bytes([65 + i]) * 1000)
        wb.fsync(fhs[b"a"])
    size = os.path.getsize(source.path)
    assert size >= wb.journal.end > 0
    assert len(journal.read(source.path, SECRET).records) == 5
    wb.flush()
    assert journal.read(source.path, SECRET) is None and os.path.getsize(source.path) == size
    wb.write(fhs[b"b"], 0, b"new")
    wb.fsync(fhs[b"b"])  # a shorter segment over the longer old one
    seg = journal.read(source.path, SECRET)
    assert os.path.getsize(source.path) == size and seg.problem is None
    assert seg.base == source.root and len(seg.records) == 1 and seg.records[0].path == (b"b",)
    assert fs.read(_replayed(fs, source), "b")[:3] == b"new"
    assert "journal" not in caplog.text  # neither the emptied journal nor the end warned


def test_try_fsync_leaves_a_large_record_to_the_thread(tmp_path):
    fs, source, wb, fhs = _setup(tmp_path)
    wb.write(fhs[b"a"], 0, b"z" * (300 << 10))  # over _INLINE_BYTES
    assert wb.try_fsync(fhs[b"a"]) is False and wb.journaled == 0
    wb.fsync(fhs[b"a"])  # the thread's fsync journals it
    assert wb.journaled == 1 and fs.read(_replayed(fs, source), "a")[:300 << 10] == b"z" * (300 << 10)


def test_while_logging_is_off_a_write_or_setattr_builds_no_log_entry(tmp_path, monkeypatch):
    """With logging stopped (tar -x never fsyncs), the log's objects are not even made: a
    write or a setattr only counts its change."""
    from gotfs.mount import journaling

    fs, source, wb, fhs = _setup(tmp_path)
    wb.write(fhs[b"a"], 0, b"1")
    wb.flush()  # the second publish with no fsync: logging stops
    assert not wb._jlogging

    def refuse(*a):
        raise AssertionError("a log entry was built while logging is off")

    monkeypatch.setattr(journaling, "Write", refuse)
    monkeypatch.setattr(journaling, "SetAttr", refuse)
    seq = wb._jseq
    wb.write(fhs[b"a"], 0, b"2")
    wb.setattr(wb.handles[fhs[b"a"]].ino, mode=0o600)
    assert wb._jseq == seq + 2 and not wb._jlog
