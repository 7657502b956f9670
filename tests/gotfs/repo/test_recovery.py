"""Replay of a read-write mount's intent journal (gotfs/repo/recovery.py), without FUSE: the
journal is written as a mount writes it (gotfs.journal.Journal), then recovered as `got
mount`, `got umount` of a killed mount and `got status` do."""

from __future__ import annotations

import logging

from gotfs.info import Info
from gotfs.journal import FileRecord, SetAttr, Write
from gotfs.repo import recovery
from gotfs.repo.mounting import RepoRootSource, commit_at_unmount, mounted_work


def _journal(repo, base, *records):
    return _journal_end(repo, base, *records)[0]


def _journal_end(repo, base, *records):
    """The journal's path, and where its segment ends (the next append's place)."""
    j = recovery.open_journal(repo, "main")
    for i, rec in enumerate(records):
        j.append(rec, base=base if i == 0 else None)
    end = j.end
    j.close()
    return recovery.journal_path(repo, "main"), end


def _record(repo, root, data: bytes, *, at: int = 0) -> FileRecord:
    info = repo.fs.stat(root, "a.txt")
    return FileRecord((b"a.txt",), [Write(at, data, 1_700_000_000_000_000_000)], info)


def test_a_journal_on_the_published_root_is_replayed_published_and_removed(repo):
    head = repo.head_root()
    path = _journal(repo, head, _record(repo, head, b"TWO"), _record(repo, head, b"!\n", at=4))
    assert path.exists()
    root = RepoRootSource(repo, branch="main").current()  # a mount starting
    assert repo.fs.read(root, "a.txt") == b"TWO\n!\n"
    assert repo.working_root("main") == root and not path.exists()
    assert commit_at_unmount(repo, "main", "/nowhere", author="t") is not None
    assert repo.fs.read(repo.head_root(), "a.txt") == b"TWO\n!\n"


def test_a_journal_on_another_root_is_obsolete_and_dropped(repo, caplog):
    head = repo.head_root()
    path = _journal(repo, head, _record(repo, head, b"old"))
    later = repo.fs.write_file(head, "a.txt", b"published later\n")
    repo.publish_working_root("main", later)
    with caplog.at_level(logging.INFO, logger="gotfs.repo.recovery"):
        assert recovery.recover(repo, "main") is None
    assert "obsolete" in caplog.text and not path.exists()
    assert repo.working_root("main") == later


def test_a_torn_tail_replays_the_whole_records_before_it(repo, caplog):
    head = repo.head_root()
    path, end = _journal_end(repo, head, _record(repo, head, b"ONE"))
    with open(path, "r+b") as f:  # the next fsync's append, cut short by the crash
        f.seek(end)
        f.write(b"\x00\x00\x01\x00partial")
    root = recovery.recover(repo, "main")
    assert repo.fs.read(root, "a.txt") == b"ONE\n"
    assert "record 2 integrity check failed" in caplog.text  # (zeros follow it, not the file's end)
    assert "replaying the 1 whole records before it" in caplog.text


def test_truncates_and_attributes_replay(repo):
    head = repo.head_root()
    info = repo.fs.stat(head, "a.txt")
    rec = FileRecord((b"a.txt",), [SetAttr(1, True), Write(3, b"xy", 5)], Info.file(0o600, size=1))
    _journal(repo, head, rec)
    root = recovery.recover(repo, "main")
    assert repo.fs.read(root, "a.txt") == b"o\0\0xy"
    st = repo.fs.stat(root, "a.txt")
    assert st.mode & 0o777 == 0o600 and st.mtime_ns == 5 and info.mode & 0o777 != 0o600


def test_status_of_a_gone_mount_sees_its_journal(repo):
    head = repo.head_root()
    _journal(repo, head, _record(repo, head, b"GONE"))
    work = mounted_work(repo, "main")
    assert work is not None and repo.fs.read(work.root, "a.txt") == b"GONE"


def test_an_unreadable_journal_is_dropped(repo, caplog):
    head = repo.head_root()
    path = _journal(repo, head, _record(repo, head, b"ONE"))
    path.write_bytes(b"\x00\x00\x00\x05hello")
    assert recovery.recover(repo, "main") is None and not path.exists()
    assert "unreadable header" in caplog.text
    assert repo.fs.read(recovery.published_root(repo, "main"), "a.txt") == b"one\n"


def test_a_journal_held_by_a_live_mount_is_left_to_it(repo, caplog):
    head = repo.head_root()
    path = _journal(repo, head, _record(repo, head, b"LIVE"))
    live = recovery.open_journal(repo, "main")
    assert live.claim()  # as a mount of the branch does when it starts
    with caplog.at_level(logging.INFO, logger="gotfs.repo.recovery"):
        assert recovery.recover(repo, "main") is None
    assert "live mount" in caplog.text and path.exists()
    assert not recovery.open_journal(repo, "main").claim()  # a second mount goes without one
    live.close()
    assert repo.fs.read(recovery.recover(repo, "main"), "a.txt") == b"LIVE"
