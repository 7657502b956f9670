"""The ref log: an append-only journal of every move of a branch, tag, HEAD or tracking ref.

Why: refs.sqlite is the only place that names the newest commits (a commit's blob cannot be
decrypted without the ref that names it, so the store alone cannot find them). If it is lost
or damaged, history would vanish without a trace and the next gc would delete it. Git keeps
`logs/` for the same reason. `.got/refs.log` holds one JSON line per move,

    {"s": <seq>, "t": <time ns>, "ref": "heads/main", "old": "<value or null>", "new": "<value or null>"}

appended and fsynced inside the refs transaction, before its COMMIT, so every move that
happened is in the log. Each transaction that moves journaled refs bumps a sequence number
kept in refs.sqlite and tags its lines with it. So the log says how far refs.sqlite must be:
a group whose number is one past the database's is a transaction that died before its COMMIT
(its number is reused by the next one, whose group supersedes it); a log further ahead, or a
replay that disagrees with the database, means refs.sqlite was lost, damaged or replaced
(`drift`). A torn last line (a crash during the append) is skipped on reading. Working roots (`work/`), mount records and merge state are not
journaled: they are transient, and a mount's flush must not pay a second fsync.

Costs: an append is one write and one fsync; reading the log is one pass over the file
(~200 bytes per move).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

from gotkv.osio import write_all
from gotkv.value import Value

JOURNALED = ("HEAD", "WORKDIR", "MERGE_HEAD", "heads/", "tags/", "remotes/")


def journaled(name: str) -> bool:
    """Whether moves of ref `name` go into the log (commit-valued and symbolic refs)."""
    return name.startswith(JOURNALED[3:]) or name in JOURNALED[:3]


class Move(Value):
    """One logged change of a ref: its value before and after (None: absent)."""

    __slots__ = ("seq", "time_ns", "name", "old", "new")
    seq: int
    time_ns: int
    name: str
    old: str | None
    new: str | None

    def __init__(self, seq: int, time_ns: int, name: str, old: str | None, new: str | None) -> None:
        for field, value in (("seq", seq), ("time_ns", time_ns), ("name", name), ("old", old), ("new", new)):
            object.__setattr__(self, field, value)

    def to_line(self) -> bytes:
        return (json.dumps({"s": self.seq, "t": self.time_ns, "ref": self.name, "old": self.old,
                            "new": self.new}, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> Move | None:
        """The move a line holds, or None for a torn or foreign line."""
        try:
            doc = json.loads(line)
            move = cls(int(doc["s"]), int(doc["t"]), doc["ref"], doc["old"], doc["new"])
        except (ValueError, KeyError, TypeError):
            return None
        ok = isinstance(move.name, str) and all(v is None or isinstance(v, str) for v in (move.old, move.new))
        return move if ok else None


class RefLog:
    """`.got/refs.log`: append moves, read them back. Safe between processes (O_APPEND
    writes of one buffer each; appends are serialised by the refs transaction anyway)."""

    def __init__(self, path: str | os.PathLike):
        self.path = path  # as given: the read-only commands import no pathlib

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def append(self, moves: list[Move]) -> None:
        """Append `moves` durably (one write, one fsync). Cost: one open, fstat, one-byte read,
        write, fsync, close.
        Raises OSError if the disk refuses (the caller's transaction then rolls back)."""
        data = b"".join(m.to_line() for m in moves)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn line of a crashed append stays a line of its own
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def moves(self) -> Iterator[Move]:
        """Every well-formed move, oldest first; nothing if the log does not exist."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                move = Move.from_line(line)
                if move is not None:
                    yield move

    def last(self) -> dict[str, Move]:
        """The last logged move of every ref that was ever logged."""
        return {m.name: m for m in self.moves()}

    def values_since(self, since_ns: int) -> set[str]:
        """Every value (old or new) a ref held at some time at or after `since_ns`: what gc
        keeps for its grace period. A ref's value before its first move after `since_ns` is
        that move's `old`, so it is included too."""
        return {v for m in self.moves() if m.time_ns >= since_ns for v in (m.old, m.new) if v}

    def values(self) -> set[str]:
        """Every value any logged ref ever held."""
        return self.values_since(0)


def baseline(seq: int, current: dict[str, str], expected: dict[str, str] | None = None) -> list[Move]:
    """Moves numbered `seq` that record the current value of each journaled ref (and, for a
    ref only `expected` has, its absence): written when a repository made before the log
    existed (or whose log was lost) opens, and after a repair, so that the log and the
    database agree from there on."""
    now = time.time_ns()
    names = sorted(set(current) | set(expected or {}))
    return [Move(seq, now, name, (expected or current).get(name), current.get(name))
            for name in names if journaled(name)]


def replay(log: RefLog, upto: int | None = None) -> tuple[dict[str, str], int]:
    """The refs the log says exist (name -> value), from its groups numbered up to `upto`
    (all if None), and the highest number in the log. A group whose number comes again
    later in the log never committed and is skipped. Cost: one pass over the log."""
    groups: dict[int, list[Move]] = {}
    last = None
    for move in log.moves():
        if (move.seq, move.time_ns) != last:  # a group's lines share both
            groups[move.seq] = []  # a number seen again: the earlier group never committed
            last = (move.seq, move.time_ns)
        groups[move.seq].append(move)
    state: dict[str, str | None] = {}
    for seq in sorted(groups):
        if upto is None or seq <= upto:
            for move in groups[seq]:
                state[move.name] = move.new
    return {k: v for k, v in state.items() if v is not None}, max(groups, default=0)


def drift(log: RefLog, seq: int, current: dict[str, str]) -> dict[str, str | None]:
    """Journaled refs whose value in refs.sqlite (`current`, at sequence number `seq`)
    differs from what the log says: name -> the logged value (None: the log says absent).
    Empty when they agree. The log's groups up to `seq` must agree with the database; one
    more group is a transaction that died before its COMMIT; more than one means the
    database lost moves, and then the whole log is what the refs should be."""
    top = replay(log)[1]
    expected, _ = replay(log, None if top > seq + 1 else seq)
    names = {n for n in set(expected) | set(current) if journaled(n)}
    return {n: expected.get(n) for n in sorted(names) if expected.get(n) != current.get(n)}
