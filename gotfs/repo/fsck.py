"""fsck: what is damaged in a repository, and what survives.

Damage must not hide what is still intact, so every step goes on past a failure: a commit
that cannot be read is reported and its walk stops there, but the commits the ref log
(refs.log) and the commit index remember are walked too, so older history is still checked
and offered for recovery; a tree with a broken node is reported and its readable entries are
still checked; a missing or corrupt data blob is reported by the file paths and commits that
use it. Commits no ref reaches ("dangling", as git calls them) are listed with the command
that brings them back. Refs that refs.sqlite lost or that disagree with the ref log are
problems: gc refuses to run while there are any.

Cost: a walk of every commit, every distinct tree (gotkv check_tree: every node) and one
existence query per 500 data blobs; with read_data, a read and decode of every data blob and
a re-hash of every stored blob. A second pass over the trees runs only when data blobs are
damaged, to name the files that use them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from gotfs import keys
from gotfs.repo.commit import Commit
from gotfs.repo.maintenance import extent_refs
from gotfs.repo.reflog import drift
from gotfs.validate import tree_problems
from gotkv.blobs.codec import content_id
from gotkv.blobs.ref import Ref
from gotkv.errors import BlobNotFound, GotError
from gotkv.root import Root

_NAMED = 3  # commits named in a line before "and N more"


@dataclass
class FsckReport:
    commits: int = 0  # commits met (reachable and dangling), readable or not
    damaged_commits: int = 0  # of those, commits whose tree or file data is damaged (or unreadable)
    trees: int = 0
    entries: int = 0
    data_blobs: int = 0
    blobs_verified: int = 0
    problems: list[str] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)  # commits no ref reaches, and how to recover them

    @property
    def ok(self) -> bool:
        return not self.problems


def _commit_ref(value: str | None) -> Ref | None:
    """The commit a ref value names (None for symbolic refs, roots, anything else)."""
    if not value or len(value) not in (64, 128):
        return None
    try:
        return Ref.parse(value)
    except GotError:
        return None


def named_tips(repo, prefixes: tuple[str, ...] = ("heads/", "tags/")) -> dict[str, Ref]:
    """name -> commit, for every ref whose commit must stay (branches, tags, detached HEAD,
    the other side of a merge in progress); with prefixes=("remotes/",), the tracking refs."""
    tips = {}
    for name, value in repo.refs.list().items():
        if name.startswith(prefixes) or ("heads/" in prefixes and name in ("HEAD", "MERGE_HEAD")):
            ref = _commit_ref(value)
            if ref is not None:
                tips[name] = ref
    return tips


def known_commits(repo) -> dict[bytes, Ref]:
    """Every commit the ref log or the commit index names (cid -> ref)."""
    found = {}
    for value in repo.refs.log.values():
        ref = _commit_ref(value)
        if ref is not None:
            found[ref.cid] = ref
    for ref in repo.refs.known_commits():
        found.setdefault(ref.cid, ref)
    return found


class _Walk:
    """Commits read so far (cid -> (ref, commit)) and those that failed (cid -> message)."""

    def __init__(self, repo):
        self.repo = repo
        self.read: dict[bytes, tuple[Ref, Commit]] = {}
        self.broken: dict[bytes, str] = {}

    def walk(self, starts: list[Ref], *, gone_ok: bool = False, all_gone_ok: bool = False) -> set[bytes]:
        """Read every commit reachable from `starts`; return the cids reached (read or broken).
        gone_ok: a start whose blob is absent is skipped, not broken (a logged commit gc
        collected after its grace period); all_gone_ok: any commit (history fetched from a
        remote need not be here)."""
        reached: set[bytes] = set()
        stack = [(ref, gone_ok) for ref in starts]
        while stack:
            ref, may_be_gone = stack.pop()
            if ref.cid in reached:
                continue
            reached.add(ref.cid)
            if ref.cid not in self.read and ref.cid not in self.broken:
                try:
                    self.read[ref.cid] = (ref, self.repo.read_commit(ref, kept=False))
                except BlobNotFound:
                    if not may_be_gone:
                        self.broken[ref.cid] = f"blob {ref.short()} is missing"
                except GotError as e:
                    self.broken[ref.cid] = str(e)
            if ref.cid in self.read:
                stack.extend((p, all_gone_ok) for p in self.read[ref.cid][1].parents)
        return reached


def fsck(repo, *, read_data: bool = False) -> FsckReport:
    """Check refs, every commit, tree and data blob; report what is damaged and what survives."""
    report = FsckReport()
    current = repo.refs.list()
    for name, logged in drift(repo.refs.log, repo.refs.log_seq(), current).items():
        report.problems.append(_drift_line(name, current.get(name), logged))
    tips = named_tips(repo)
    w = _Walk(repo)
    reachable = w.walk(list(tips.values()))
    reachable |= w.walk(list(named_tips(repo, ("remotes/",)).values()), gone_ok=True, all_gone_ok=True)
    known = known_commits(repo)
    unreached = [ref for cid, ref in known.items() if cid not in reachable]
    unreachable = w.walk(unreached, gone_ok=True) - reachable
    for cid, message in w.broken.items():
        names = [n for n, r in tips.items() if r.cid == cid]
        on = f" ({', '.join(names)})" if names else ""
        report.problems.append(f"commit {cid.hex()[:12]}{on} cannot be read: {message}; the commits before it "
                               f"that survive are listed as dangling")
    report.commits = len(w.read) + len(w.broken)
    roots = _roots(repo, w)
    damaged: set[str] = set()  # labels of damaged commits / working roots
    data = _check_trees(repo, roots, report, damaged)
    bad = _check_data(repo, data, read_data, report)
    if bad:
        _name_files(repo, roots, bad, report, damaged)
    report.damaged_commits = len([d for d in damaged if d.startswith("commit ")]) + len(w.broken)
    _list_dangling(w, unreachable, report)
    if read_data:
        for cid in repo.store.list():
            try:
                if content_id(repo.store.get(cid)) != cid:
                    report.problems.append(f"stored blob {cid.hex()[:12]} does not match its id")
            except GotError as e:
                report.problems.append(str(e))
            report.blobs_verified += 1
    return report


def _drift_line(name: str, value: str | None, logged: str | None) -> str:
    has = f"holds {_show(value)}" if value else "is missing"
    if logged is None:
        return f"ref {name} {has} in refs.sqlite, but refs.log says it was deleted; `got fsck --repair` records it"
    fix = "`got fsck --repair` restores the logged value"
    ref = _commit_ref(logged)
    if ref is not None and name.startswith("heads/"):
        fix += f" (or `got branch NAME {ref.cid.hex()[:12]}`)"
    return f"ref {name} {has} in refs.sqlite, but refs.log last set it to {_show(logged)}; {fix}"


def _show(value: str | None) -> str:
    ref = _commit_ref(value)
    return ref.cid.hex()[:12] if ref is not None else repr(value)


def _roots(repo, w: _Walk) -> dict[bytes, tuple[Root, list[str]]]:
    """Distinct roots to check: root bytes -> (root, labels of the commits or working roots
    that hold it)."""
    roots: dict[bytes, tuple[Root, list[str]]] = {}

    def add(root: Root, label: str) -> None:
        roots.setdefault(root.to_bytes(), (root, []))[1].append(label)

    for cid, (_, commit) in sorted(w.read.items(), key=lambda item: -item[1][1].time_ns):
        add(commit.root, f"commit {cid.hex()[:12]}")
    for name, value in repo.refs.list("work/").items():
        try:
            add(Root.parse(value), f"working root of {name[len('work/'):]}")
        except GotError as e:
            report_line = f"working root of {name[len('work/'):]} is malformed: {e}"
            roots.setdefault(b"!" + name.encode(), (None, [report_line]))
    merge = repo.refs.get("MERGE_STATE")
    if merge:  # the merged tree that `got merge --continue` builds on
        try:
            add(Root.parse(json.loads(merge)["root"]), "working root of the merge in progress")
        except (GotError, ValueError, KeyError, TypeError):
            pass
    return roots


def _check_trees(repo, roots, report: FsckReport, damaged: set[str]) -> dict[bytes, Ref]:
    """check_tree each root and collect the data blobs its files use (cid -> ref)."""
    data: dict[bytes, Ref] = {}
    for root, labels in roots.values():
        if root is None:
            report.problems.append(labels[0])
            continue
        try:
            report.entries += repo.fs.kv.check(root)
            report.trees += 1
        except GotError as e:
            report.problems.append(f"tree of {_labels(labels)}: {e}")
            damaged.update(labels)
        names = []  # entries a host could not hold (the first few)
        try:
            for n, line in enumerate(tree_problems(_collecting(repo.fs.kv.iterate(root), data))):
                if n < _NAMED:
                    names.append(f"tree of {_labels(labels)}: {line} (checkout refuses it)")
                elif n == _NAMED:
                    names.append(f"tree of {_labels(labels)}: more such paths")
        except GotError:
            pass  # reported by check above; the entries before the damage were collected
        report.problems.extend(names)
        if names:
            damaged.update(labels)
    report.data_blobs = len(data)
    return data


def _collecting(entries, data: dict[bytes, Ref]):
    """Pass `entries` through, noting the data blobs their extents use in `data`."""
    for k, v in entries:
        for ref in extent_refs(k, v):
            data[ref.cid] = ref
        yield k, v


def _check_data(repo, data: dict[bytes, Ref], read_data: bool, report: FsckReport) -> dict[bytes, str]:
    """Damaged data blobs: cid -> what is wrong (missing; with read_data, corrupt)."""
    bad: dict[bytes, str] = {}
    present = repo.store.exists(data)
    for cid, ref in data.items():
        if cid not in present:
            bad[cid] = f"data blob {ref.short()} is missing"
        elif read_data:
            try:
                repo.fs.data.codec.decode(ref, repo.store.get(cid))
            except GotError as e:
                bad[cid] = str(e)
    return bad


def _name_files(repo, roots, bad: dict[bytes, str], report: FsckReport, damaged: set[str]) -> None:
    """One problem per damaged file: its path, the commits that hold it, what is wrong."""
    files: dict[tuple[bytes, bytes], list[str]] = {}  # (path, blob) -> labels
    for root, labels in roots.values():
        if root is None:
            continue
        try:
            for k, v in repo.fs.kv.iterate(root):
                for ref in extent_refs(k, v):
                    if ref.cid in bad:
                        files.setdefault((b"/".join(keys.path_of(k)), ref.cid), []).extend(labels)
                        damaged.update(labels)
        except GotError:
            pass
    for (path, cid), labels in sorted(files.items()):
        shown = path.decode(errors="backslashreplace") or "/"
        report.problems.append(f"file {shown!r} in {_labels(labels)}: {bad[cid]}")


def _labels(labels: list[str]) -> str:
    more = f" and {len(labels) - _NAMED} more" if len(labels) > _NAMED else ""
    return ", ".join(labels[:_NAMED]) + more


def _list_dangling(w: _Walk, unreachable: set[bytes], report: FsckReport) -> None:
    """The tips of the readable commits no ref reaches (those not a parent of another)."""
    parents = {p.cid for cid in unreachable if cid in w.read for p in w.read[cid][1].parents}
    tips = [w.read[cid] for cid in unreachable if cid in w.read and cid not in parents]
    for ref, commit in sorted(tips, key=lambda rc: -rc[1].time_ns):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(commit.time_ns / 1e9))
        subject = (commit.message.strip().splitlines() or [""])[0][:60]
        report.dangling.append(f"dangling commit {ref.cid.hex()[:12]} ({when}, {subject!r}): "
                               f"recover it with `got branch NAME {ref.cid.hex()[:12]}`")
