"""fsync through the intent journal (gotfs/journal.py): one append and one fdatasync, where a
full flush would chunk, commit and publish.

A mixin of Writeback (gotfs/mount/writeback.py), which supplies the state and the locks.

What is kept: every change gets a sequence number. A change to a file's data or attributes
goes into that inode's log (the written bytes objects themselves: pieces never change, so
nothing is copied); a change of names (create, mknod, mkdir, symlink, unlink, rmdir,
rename: the overrides below) goes into one log of names, with the Infos it left. fsync(fh)
appends one record to the journal, whose segment applies on the last published root: the
changes of names not journaled yet (replayed first, so paths are those of the moment), then
the file's log entries not journaled yet and its Info as the transaction holds it. Files
created or renamed but never fsynced thus come back from a replay as their names and the
Infos of those moments, without their unsynced bytes, as after a crash of a disk filesystem.

A flush notes the sequence number at its plan (the writes its root holds) and at its commit
(the other changes it holds); once that root is published, those entries are dropped and the
journal emptied: the root holds everything the journal did, since a journaling fsync holds
the flush lock and the publish lock, so none runs between a flush's plan and the end of its
publish.

When the journal cannot express it, fsync is a full flush, as it is without a journal: the
file was removed while open, a change of names came that no override logs (any path into
namespace.py's `_forget_listings` but theirs), the logs outgrew a quarter of `max_dirty`
(beyond the buffers, they hold the bytes spilled but not published), or an append failed.
Each of these disables journaling until a publish whose root holds the change, and drops the
logs, since no journaling fsync needs entries older than it. (Changes go on being logged
meanwhile: those after the plan of that publish are not in its root.)

Logging only pays off for programs that fsync: after two publishes in a row with no fsync
between them it stops, and the next fsync flushes (as without a journal)
and asks the flush's plan to start it again (journaling resumes once that root is published).

Cost: a write or setattr adds O(1) to the log, under the state lock the caller holds; a
change of names also reads the Infos it left (the entry's and its directories', from the
transaction: in memory once looked up); fsync appends the file's unjournaled bytes (sealed) and fdatasyncs once, under no state lock.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from gotfs.journal import FileRecord, Journal, Named, Op, SetAttr, Write
from gotfs.mount.snapshot import child_path

if TYPE_CHECKING:
    from gotfs.mount.inodes import InodeTable
    from gotfs.mount.namespace import Orphan
    from gotfs.tx import Tx
    from gotkv.root import Root

log = logging.getLogger(__name__)

_OP_COST = 64  # bytes a log entry costs beyond its data (what the memory bound counts)
_IDLE_PUBLISHES = 2  # publishes in a row with no fsync between them, after which logging stops
_INLINE_BYTES = 256 << 10  # try_fsync leaves records with more written bytes than this to a thread


class Journaling:
    """The journal side of a Writeback. See the module docstring."""

    tx: Tx
    table: InodeTable
    orphans: dict[int, Orphan]
    handles: dict
    root: Root
    published: Root
    max_dirty: int
    lock: threading.RLock
    flush_lock: threading.Lock
    publish_lock: threading.Lock

    def _start_journal(self, journal: Journal | None) -> None:
        if journal is not None and not journal.claim():
            log.warning("journal %s is held by another mount of the branch: every fsync here publishes",
                        journal.path)
            journal = None
        self.journal = journal
        self._jlog: dict[int, list[tuple[int, Op]]] = {}  # inode -> (seq, change), oldest first
        self._jsent: dict[int, int] = {}  # inode -> how many of its log entries are journaled
        self._jnames: list[tuple[int, Named]] = []  # (seq, change of names), oldest first
        self._jnames_sent = 0  # how many of them are journaled
        self._jnaming = 0  # > 0 while a change of names that is logged runs (see _forget_listings)
        self._jbytes = 0  # what the log holds (bounded by max_dirty // 4)
        self._jseq = 0  # sequence number of the last change
        self._jbarred = 0  # _jseq at the last change the journal cannot express
        self._jpublished = 0  # _jseq at the plan of the last published flush
        self.journaled = 0  # fsyncs answered by the journal
        self._jlogging = journal is not None  # changes are being logged (see _journal_plan)
        self._jfrom = 0  # _jseq when logging last started: journaling needs a root published since
        self._jwanted = False  # an fsync found logging off: the next flush's plan turns it on
        self._jidle = 0  # publishes in a row with no fsync between them
        self._jfsyncs = 0  # fsyncs of files so far
        self._jcounted = 0  # _jfsyncs at the last publish

    # -- noting changes (the caller holds the state lock) --------------------------------

    def _journal_write(self, ino: int, off: int, data: bytes, mtime_ns: int) -> None:
        self._jseq += 1
        if self._jlogging and ino not in self.orphans:  # (else no fsync of it is ever journaled)
            self._journal_note(ino, Write(off, data, mtime_ns), len(data))

    def _journal_setattr(self, ino: int, size: int | None, sets_mtime: bool) -> None:
        """A setattr or xattr change of `ino` (its new Info is taken at the fsync)."""
        self._jseq += 1
        if self._jlogging and ino not in self.orphans:
            self._journal_note(ino, SetAttr(size, sets_mtime), 0)

    def _journal_note(self, ino: int, op: Op, nbytes: int) -> None:
        """Log `op` as change number _jseq of `ino` (the caller checked that it is logged:
        when logging is off, as under tar -x, no log object is built)."""
        self._jlog.setdefault(ino, []).append((self._jseq, op))
        self._jbytes += nbytes + _OP_COST
        if self._jbytes > self.max_dirty // 4:
            self._journal_bar()

    def _journal_bar(self) -> None:
        """A change the journal cannot express: fsync flushes until the next publish."""
        self._jseq += 1
        self._jbarred = self._jseq
        self._jlog.clear()
        self._jsent.clear()
        self._jnames.clear()
        self._jnames_sent = 0
        self._jbytes = 0

    def _forget_listings(self) -> None:
        """Every change of names comes here (namespace.py): one that the overrides below do
        not log (a kind added later) bars the journal, so it is never silently left out."""
        if not self._jnaming:
            self._journal_bar()
        super()._forget_listings()

    # -- changes of names, logged with the Infos they leave (the state lock is re-entrant) --

    def _journal_named(self, kind: str, src, dst, puts, ctime_ns=None, gone=()) -> None:
        self._jseq += 1
        for ino in gone:  # a removed file's own changes are never journaled now
            entries = self._jlog.pop(ino, ())
            self._jsent.pop(ino, None)
            self._jbytes -= sum(_cost(op) for _, op in entries)
        if not self._jlogging:
            return
        self._jnames.append((self._jseq, Named(kind, src, dst, tuple(puts), ctime_ns)))
        self._jbytes += _OP_COST * (1 + len(puts))
        if self._jbytes > self.max_dirty // 4:
            self._journal_bar()

    def _made(self, parent: int, name: bytes, make, *args, **kw):
        with self.lock:
            self._jnaming += 1
            try:
                out = make(parent, name, *args, **kw)
            finally:
                self._jnaming -= 1
            if not self._jlogging:  # (tar -x: thousands of entries made, no fsync)
                self._journal_named("made", None, None, ())
                return out
            path = child_path(self.table.path(parent), name)
            self._journal_named("made", None, path, [(path, self.tx.require(path)),
                                                     (path[:-1], self.tx.require(path[:-1]))])
            return out

    def create(self, parent, name, *args, **kw):
        return self._made(parent, name, super().create, *args, **kw)

    def mknod(self, parent, name, *args, **kw):
        return self._made(parent, name, super().mknod, *args, **kw)

    def mkdir(self, parent, name, *args, **kw):
        return self._made(parent, name, super().mkdir, *args, **kw)

    def symlink(self, parent, name, *args, **kw):
        return self._made(parent, name, super().symlink, *args, **kw)

    def _removed(self, parent: int, name: bytes, remove) -> None:
        with self.lock:
            path = child_path(self.table.path(parent), name)
            ino = self.table.find(parent, name)
            self._jnaming += 1
            try:
                remove(parent, name)
            finally:
                self._jnaming -= 1
            self._journal_named("removed", path, None, [(path[:-1], self.tx.require(path[:-1]))],
                                gone=() if ino is None else (ino,))

    def unlink(self, parent, name):
        self._removed(parent, name, super().unlink)

    def rmdir(self, parent, name):
        self._removed(parent, name, super().rmdir)

    def rename(self, parent, name, new_parent, new_name, **kw):
        with self.lock:
            src = child_path(self.table.path(parent), name)
            dst = child_path(self.table.path(new_parent), new_name)
            replaced = self.table.find(new_parent, new_name) if src != dst else None
            self._jnaming += 1
            try:
                super().rename(parent, name, new_parent, new_name, **kw)
            finally:
                self._jnaming -= 1
            if src == dst:
                return
            info = self.tx.require(dst)
            puts = [(p, self.tx.require(p)) for p in dict.fromkeys((src[:-1], dst[:-1]))]
            if info.is_file:
                self._journal_named("moved", src, dst, puts, info.ctime_ns, gone=() if replaced is None else (replaced,))
            else:
                self._journal_named("moved", src, dst, puts + [(dst, info)], gone=() if replaced is None else (replaced,))

    # -- flush and fsync -----------------------------------------------------------------

    def _journal_mark(self) -> int:
        """At a flush's commit (state lock held): the changes of names its root holds are those
        up to this."""
        return self._jseq

    def _journal_plan(self) -> int:
        """At a flush's plan (state lock held): the writes its root will hold are those up to
        this. Logging starts here when an fsync asked for it: the root holds what came before,
        the log what comes after."""
        if self._jwanted and not self._jlogging and self.journal is not None:
            self._jlogging, self._jwanted = True, False
            self._jfrom = self._jseq
        return self._jseq

    def _journal_published(self, mark: int, names_mark: int) -> None:
        """A root is published (publish_lock held) that holds every write up to `mark` (its
        flush's plan) and every other change up to `names_mark` (its commit): drop what it
        holds from the log, and empty the journal, which applied on the previous root.
        (Truncates and attribute changes between the two are kept: replayed again onto the
        root that holds them, they leave the same file.)"""
        with self.lock:
            self._jpublished = max(self._jpublished, mark)
            n = 0
            while n < len(self._jnames) and self._jnames[n][0] <= names_mark:
                n += 1
            del self._jnames[:n]
            self._jnames_sent = 0
            total = 0
            for ino in list(self._jlog):
                entries = self._jlog[ino]
                n = 0
                while n < len(entries) and entries[n][0] <= mark:
                    n += 1
                if n == len(entries):
                    del self._jlog[ino]
                    continue
                if n:
                    self._jlog[ino] = entries = entries[n:]
                total += sum(_cost(op) for _, op in entries)
            self._jbytes = total + _OP_COST * sum(1 + len(n.puts) for _, n in self._jnames)
            self._jsent.clear()  # all were at or below mark: no journaling fsync ran since the plan
            self._jidle = 0 if self._jfsyncs != self._jcounted else self._jidle + 1
            self._jcounted = self._jfsyncs
            if self._jidle >= _IDLE_PUBLISHES and self._jlogging:  # nobody fsyncs: stop paying for the log
                self._jlogging = False
                self._jlog.clear()
                self._jnames.clear()
                self._jbytes = 0
        if self.journal is not None:
            try:
                self.journal.reset()
            except OSError as e:  # harmless: a journal on a superseded root is dropped at replay
                log.warning("could not empty the journal %s: %s", self.journal.path, e)

    def close(self) -> None:
        """At the mount's end: the journal file goes once everything is published (else it
        stays, for the replay that recovers what the fsyncs it holds made durable)."""
        if self.journal is not None:
            with self.lock:
                done = not self.pending() and self.root == self.published
            self.journal.close(remove=done)
        super().close()

    def fsync(self, fh: int) -> None:
        """fsync(2) of an open file: its data and attributes are durable on return. One journal
        append and fdatasync when the journal can express the file's changes, else a flush."""
        self._jfsyncs += 1
        if self.journal is not None and self._journal_fsync(fh):
            return
        self.flush()

    def try_fsync(self, fh: int) -> bool:
        """fsync(fh) if the journal can answer it with no wait for a lock: then the only wait
        is the journal's fdatasync, and True once the record is on disk. False (and nothing
        done) when a lock is taken (a flush or another fsync runs), the journal cannot
        express the change, or the record would carry over `_INLINE_BYTES` written bytes
        (sealing and writing those would hold up other requests): the caller then calls
        fsync on a worker thread.

        For the event loop when nothing else waits for it (the mount's request wait): the
        thread round trip costs more CPU than the journal's append, and its two wake-ups
        add to every fsync of a program that fsyncs once per transaction (sqlite) or per
        save (an editor's write-fsync-rename)."""
        if self.journal is None or not self.flush_lock.acquire(blocking=False):
            return False
        try:
            if not self.publish_lock.acquire(blocking=False):
                return False
            try:
                if not self.lock.acquire(blocking=False):
                    return False
                try:
                    rec = self._journal_take(fh, wanting=False)
                finally:
                    self.lock.release()
                if rec is False:
                    return False
                self._jfsyncs += 1
                return rec is True or self._journal_append(*rec)
            finally:
                self.publish_lock.release()
        finally:
            self.flush_lock.release()

    def _journal_fsync(self, fh: int) -> bool:
        """Journal what fsync(fh) must make durable; False if a flush must do it instead."""
        with self.flush_lock, self.publish_lock:
            with self.lock:
                rec = self._journal_take(fh, wanting=True)
            if rec is True or rec is False:
                return rec
            return self._journal_append(*rec)

    def _journal_take(self, fh: int, *, wanting: bool):
        """Under all three locks: what fsync(fh) appends, as (record, base), marked sent; True
        if the journal holds everything already; False if a flush must do it (with wanting,
        an fsync that found logging off asks the next flush's plan to start it). Without
        wanting (try_fsync), also False for a record of over _INLINE_BYTES written bytes."""
        ino = self.handles[fh].ino
        if not self._jlogging:
            if wanting:
                self._jwanted = self.journal is not None  # this fsync flushes; the next ones journal
            return False
        if self._jfrom > self._jpublished or self._jbarred > self._jpublished or ino in self.orphans:
            return False
        entries = self._jlog.get(ino, ())
        sent = self._jsent.get(ino, 0)
        if sent == len(entries) and self._jnames_sent == len(self._jnames):
            return True  # everything about the file is in the published root or the journal
        if not wanting and sum(len(op.data) for _, op in entries[sent:] if isinstance(op, Write)) > _INLINE_BYTES:
            return False  # (try_fsync: a large record goes to a thread)
        path = self.table.path(ino)
        rec = FileRecord(path, [op for _, op in entries[sent:]], self.tx.require_file(path),
                         [n for _, n in self._jnames[self._jnames_sent:]])
        base = None if self.journal.begun else self.published
        self._jsent[ino] = len(entries)
        self._jnames_sent = len(self._jnames)
        return rec, base

    def _journal_append(self, rec: FileRecord, base) -> bool:
        """Append `rec` (flush_lock and publish_lock held, not the state lock); False if the
        append failed, which bars the journal until the next publish (fsync then flushes)."""
        try:
            self.journal.append(rec, base=base)
        except OSError as e:
            log.error("journal %s: append failed (%s); fsync flushes until the next publish",
                      self.journal.path, e)
            with self.lock:
                self._journal_bar()
            return False
        self.journaled += 1
        return True


def _cost(op: Op) -> int:
    return _OP_COST + (len(op.data) if isinstance(op, Write) else 0)
