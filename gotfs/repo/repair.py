"""`got fsck --repair`: rebuild what can be rebuilt, before and after opening the repository.

- A damaged `store/index.sqlite` is moved aside and rebuilt from the packs (every record
  there is verified against its id).
- A damaged `refs.sqlite` is moved aside; the refs are then restored from refs.log.
- Refs that refs.sqlite lost are restored to their logged values. A ref that holds another
  value now keeps it (HEAD and the working directory's base say where the user is now); for
  a branch or tag the logged commit gets a ref of its own, `recovered/<name>`, so that
  nothing either side holds is lost.
- A damaged `workcopy.sqlite` (a cache) is deleted; the next status rebuilds it.

Files moved aside are kept as `<name>.damaged-<time>` for the user to inspect or delete.
Everything runs under the repository's lock held exclusively, so no writer runs meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from gotfs.repo.reflog import drift, replay
from gotkv.blobs.local.rebuild import rebuild_index
from gotkv.dbfile import quick_check, remove


@contextlib.contextmanager
def _exclusive(dot: Path) -> Iterator[None]:
    fd = os.open(dot / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _set_aside(path: Path) -> Path:
    """Move a damaged database (and its WAL and shared memory) out of the way."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    try:  # its log (which commands leave in place) holds its newest pages: keep it beside it
        os.replace(f"{path}-wal", f"{aside}-wal")
    except FileNotFoundError:
        pass
    remove(path)  # its -shm belongs to the damaged file
    return aside


def find_dot(start: str | os.PathLike = ".") -> Path | None:
    """The `.got/` directory of the repository holding `start`, without opening it."""
    here = Path(start).absolute()
    for d in (here, *here.parents):
        if (d / ".got" / "config.json").exists():
            return d / ".got"
    return None


def repair_files(dot: Path) -> list[str]:
    """Set aside damaged databases and rebuild the blob index; return what was done (one
    line each). Runs before the repository is opened (a damaged refs.sqlite stops the open).
    Cost: an integrity check of each database, and a read of every pack if the index is
    rebuilt."""
    done = []
    with _exclusive(dot):
        index = dot / "store" / "index.sqlite"
        problem = quick_check(index) if index.exists() else "it is missing"
        if problem is not None:
            if index.exists():
                done.append(f"{index} was damaged ({problem}); set aside as {_set_aside(index).name}")
            counts = rebuild_index(dot / "store")
            done.append(f"rebuilt {index} from {counts['packs']} packs: {counts['blobs']} blobs"
                        + (f", {counts['unreadable_bytes']} unreadable bytes at packs' ends left"
                           if counts["unreadable_bytes"] else ""))
        refs = dot / "refs.sqlite"
        problem = quick_check(refs) if refs.exists() else None
        if problem is not None:
            done.append(f"{refs} was damaged ({problem}); set aside as {_set_aside(refs).name}")
        cache = dot / "workcopy.sqlite"
        problem = quick_check(cache) if cache.exists() else None
        if problem is not None:
            remove(cache)
            done.append(f"{cache} was damaged ({problem}); deleted (it is a cache, rebuilt as needed)")
    return done


def repair_refs(repo) -> list[str]:
    """Restore refs that refs.sqlite lost or that disagree with refs.log; return what was
    done. Afterwards the log records the refs as they are (so fsck and gc agree with them)."""
    done = []
    with repo.exclusive(60.0):
        refs = repo.refs
        current = refs.list()
        wrong = drift(refs.log, refs.log_seq(), current)
        if not wrong:
            return done
        top = replay(refs.log)[1]
        values: dict[str, str | None] = {}
        for name, logged in wrong.items():
            now = current.get(name)
            if logged is None:
                continue  # the log says deleted, refs.sqlite still has it: keep it
            if now is None:
                values[name] = logged
                done.append(f"restored {name} to {logged[:12]}" if len(logged) >= 64 else f"restored {name}")
            elif name.startswith(("heads/", "tags/")):
                kind, short = name.split("/", 1)
                values[f"{kind}/recovered/{short}"] = logged
                done.append(f"{name} holds {now[:12]}; its logged commit {logged[:12]} is now "
                            f"{kind}/recovered/{short}")
            else:
                done.append(f"kept {name} as it is (the log last had {logged[:12]})")
        refs.restore(values, max(top, refs.log_seq()) + 1)
    return done

