"""Journal checkpoints (gotkv/blobs/remote/checkpoint.py): a fresh reader loads the latest
and reads only the entries after it, reaching the same state as a full replay; compare-and-
swap still holds; a missing checkpoint costs reads, never correctness; they are ciphertext."""

from __future__ import annotations

import pytest

from gotkv.blobs.remote.checkpoint import checkpoint_key
from gotkv.blobs.remote.remote import RefMoved, Remote
from gotkv.blobs.remote.state import encode_places
from gotkv.blobs.remote.url import open_objects
from gotkv.errors import IntegrityError

SECRET = bytes(range(32))
SETTINGS = {"salt": "00" * 16}
EVERY = 4
PUSHES = 10


def open_remote(url: str, state, every: int = EVERY) -> Remote:
    remote = Remote.open(open_objects(url), SECRET, state, create_with=SETTINGS)
    remote.checkpoints.every = every
    return remote


@pytest.fixture(params=["dir", "s3"])
def remote_url(request, tmp_path) -> str:
    if request.param == "dir":
        return str(tmp_path / "remote")
    return f"s3://{request.getfixturevalue('s3_bucket')}/repo"


@pytest.fixture
def pushed(tmp_path, remote_url) -> tuple[str, tuple]:
    """A remote with PUSHES entries, each adding a pack and moving heads/main, then one more."""
    url = remote_url
    writer = open_remote(url, tmp_path / "writer.sqlite")
    value = None
    for i in range(PUSHES):
        cid = bytes([i]) * 32
        writer.append({"packs": {f"pack{i:02d}": encode_places([(cid, 0, 100 + i)])}}, {"heads/main": (value, f"main-value-{i}")})
        value = f"main-value-{i}"
    writer.append({"packs": {}}, {"heads/other": (None, "other-value-1")})  # entry 10
    state = writer.state.snapshot()
    writer.close()
    return url, state


def test_a_fresh_reader_loads_the_latest_checkpoint_and_reads_the_tail(tmp_path, pushed):
    url, state = pushed
    assert open_objects(url).exists(checkpoint_key(8))
    reader = open_remote(url, tmp_path / "fresh.sqlite")
    before = dict(reader.objects.requests)
    assert reader.refs() == {"heads/main": "main-value-9", "heads/other": "other-value-1"}
    assert reader.state.snapshot() == state
    spent = {("exists" if k == "head" else k): reader.objects.requests[k] - before.get(k, 0)
             for k in reader.objects.requests}
    spent = {k: n for k, n in spent.items() if n}
    # entry 0 (the journal is not empty); checkpoints 4, 8 found, 16 and 12 not; checkpoint 8
    # read, then entries from 8 on, 1, 2, then 4 at a time (the read-ahead passes the end)
    assert spent == {"exists": 4, "get": 1 + 1 + 7}, spent
    replay = open_remote(url, tmp_path / "replay.sqlite", every=1000)  # finds no checkpoint: reads all
    before = dict(replay.objects.requests)
    assert replay.refs() == reader.refs() and replay.state.snapshot() == state
    assert replay.objects.requests["get"] - before["get"] == 16  # entry 0, then 1-15: 1, 2, 4, 8 at a time
    reader.close(), replay.close()


def test_compare_and_swap_holds_after_a_checkpoint(tmp_path, pushed):
    url, _ = pushed
    reader = open_remote(url, tmp_path / "fresh.sqlite")
    with pytest.raises(RefMoved):
        reader.append({"packs": {}}, {"heads/main": ("main-value-8", "stale")})
    assert reader.append({"packs": {}}, {"heads/main": ("main-value-9", "main-value-10")}) == PUSHES + 1
    assert reader.refs() == {"heads/main": "main-value-10", "heads/other": "other-value-1"}
    reader.close()


@pytest.mark.parametrize("missing", [(4,), (8,), (4, 8)])
def test_a_missing_checkpoint_costs_reads_not_correctness(tmp_path, pushed, missing):
    url, state = pushed
    open_objects(url).delete(checkpoint_key(p) for p in missing)
    reader = open_remote(url, tmp_path / "fresh.sqlite")
    assert reader.refs() == {"heads/main": "main-value-9", "heads/other": "other-value-1"}
    assert reader.state.snapshot() == state
    reader.close()


def test_a_remote_with_no_checkpoints_reads_as_before(tmp_path):
    url = str(tmp_path / "remote")
    writer = open_remote(url, tmp_path / "writer.sqlite", every=1000)  # as an older got: never writes one
    writer.append({"packs": {}}, {"heads/main": (None, "main-value-0")})
    writer.close()
    assert not open_objects(url).exists(checkpoint_key(EVERY))
    reader = open_remote(url, tmp_path / "fresh.sqlite")
    assert reader.refs() == {"heads/main": "main-value-0"}
    reader.close()


def test_checkpoints_are_ciphertext_bound_to_their_position(tmp_path, pushed):
    url, _ = pushed
    objects = open_objects(url)
    sealed = objects.get(checkpoint_key(8))
    for plain in (b"heads/main", b"main-value-9", b"pack0", bytes([3]) * 32, bytes([3] * 32).hex().encode(), SECRET):
        assert plain not in sealed
    objects.put(checkpoint_key(12), sealed)  # passed off as another position
    reader = open_remote(url, tmp_path / "fresh.sqlite")
    with pytest.raises(IntegrityError):
        reader.refs()
    reader.close()
