"""The ObjectStore protocol (objects.py), checked on every engine against the real thing.

"s3" is a real Ceph RADOS Gateway (tests/s3engine.py, started once per session on first use);
"directory" is a temporary directory. Engine-specific failures (credentials, an unreachable
endpoint, another account's bucket) follow the shared suite, then the retry policy.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gotkv.blobs.remote.objects import (ContainerNotFound, ObjectExists, ObjectNotFound, RemoteError,
                                        probe_create_only)
from gotkv.blobs.remote.retry import Backoff, retry

FAST = Backoff(attempts=3, max_seconds=2, base=0.05, cap=0.5)


def _s3(request, tmp_path, create=True):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    bucket = request.getfixturevalue("s3_bucket")  # created, and the AWS variables set
    return S3ObjectStore(bucket if create else f"{bucket}-missing", "conf/prefix", backoff=FAST)


def _directory(request, tmp_path, create=True):
    from gotkv.blobs.remote.directory import DirectoryObjectStore

    store = DirectoryObjectStore(tmp_path / "remote")
    if create:
        store.ensure_container()
    return store


ENGINES = {"s3": _s3, "directory": _directory}  # (request, tmp_path, create) -> ObjectStore


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    return ENGINES[request.param]


@pytest.fixture
def objects(engine, request, tmp_path):
    store = engine(request, tmp_path)
    yield store
    store.close()


def _many(objects, keys, data=b"x"):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: objects.put(k, data), keys))


# -- the shared suite ----------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1000, 5 << 20])
def test_put_get_round_trip(objects, size):
    data = os.urandom(size)
    objects.put(f"obj/{size}", data)
    assert objects.get(f"obj/{size}") == data
    objects.put("view", memoryview(data))
    assert objects.get("view") == data


def test_put_is_create_only(objects):
    objects.put("journal/1", b"first")
    with pytest.raises(ObjectExists):
        objects.put("journal/1", b"second")
    assert objects.get("journal/1") == b"first"


def test_concurrent_create_has_one_winner(objects):
    start, won, lost = threading.Barrier(8), [], []

    def attempt(i: int) -> None:
        start.wait()
        try:
            objects.put("journal/race", b"writer %d" % i)
            won.append(i)
        except ObjectExists:
            lost.append(i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(attempt, range(8)))
    assert len(won) == 1 and len(lost) == 7
    assert objects.get("journal/race") == b"writer %d" % won[0]


def test_missing_object(objects):
    with pytest.raises(ObjectNotFound):
        objects.get("nope")
    with pytest.raises(ObjectNotFound):
        objects.get_range("nope", 0, 10)
    with pytest.raises(ObjectNotFound):
        objects.get_ranges("nope", [(0, 1), (5, 9)])
    assert not objects.exists("nope")


def test_get_range(objects):
    data = os.urandom(1 << 20)
    objects.put("pack", data)
    for start, end in [(0, 0), (0, 1), (100, 4196), (0, len(data)), (len(data) - 7, len(data))]:
        assert objects.get_range("pack", start, end) == data[start:end]


def test_range_past_the_end_is_an_error(objects):
    objects.put("short", b"0123456789")
    with pytest.raises(RemoteError, match="shorter"):
        objects.get_range("short", 5, 20)


def test_get_ranges(objects):
    data = os.urandom(4 << 20)
    objects.put("pack", data)
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(len(data)), 300))
    ranges = [(a, b) for a, b in zip(cuts[::2], cuts[1::2])]  # disjoint, gaps small and large
    ranges += [(10, 20), (20, 30), (30, 30)]  # adjacent, and empty
    ranges += [(len(data) - 100, len(data)), (0, 1)]
    rng.shuffle(ranges)  # out of order: answers come back in the order asked
    assert objects.get_ranges("pack", ranges) == [data[a:b] for a, b in ranges]
    assert objects.get_ranges("pack", []) == []
    far = [(len(data) - 10, len(data) - 5), (0, 5)]  # far apart: two requests on S3
    assert objects.get_ranges("pack", far) == [data[a:b] for a, b in far]


def test_exists(objects):
    assert not objects.exists("packs/a")
    objects.put("packs/a", b"1")
    assert objects.exists("packs/a")
    assert not objects.exists("packs")  # a "directory" is not an object


def test_delete(objects, request):
    bulk = 1001 if "s3" in request.node.callspec.id else 50  # S3: over one DeleteObjects batch
    keys = [f"packs/{i:05d}" for i in range(bulk)]
    _many(objects, keys + ["keep"])
    objects.delete(keys[:3])
    assert not objects.exists(keys[0]) and objects.exists(keys[3])
    objects.delete(iter(keys + ["never-was", "packs/none"]))  # absent keys are ignored
    assert list(objects.list("packs/")) == []
    assert objects.get("keep") == b"x"
    objects.delete([])


def test_list(objects):
    keys = ["journal/0001", "journal/0002", "journal/1000", "journalx", "packs/b", "packs/a",
            "got-remote", "j"]
    random.Random(3).shuffle(keys)
    _many(objects, keys)
    assert list(objects.list()) == sorted(keys)
    assert list(objects.list("journal/")) == ["journal/0001", "journal/0002", "journal/1000"]
    assert list(objects.list("journal/00")) == ["journal/0001", "journal/0002"]
    assert list(objects.list("journal")) == ["journal/0001", "journal/0002", "journal/1000", "journalx"]
    assert list(objects.list("packs/")) == ["packs/a", "packs/b"]
    assert list(objects.list("got-remote")) == ["got-remote"]
    assert list(objects.list("zzz")) == []


def test_missing_container(engine, request, tmp_path):
    store = engine(request, tmp_path, create=False)
    with pytest.raises(ContainerNotFound):
        store.get("k")
    store.ensure_container()
    with pytest.raises(ObjectNotFound):
        store.get("k")
    store.put("k", b"1")
    assert store.get("k") == b"1"


def test_ensure_container_is_idempotent(objects):
    objects.put("a", b"1")
    objects.ensure_container()
    objects.ensure_container()
    assert objects.get("a") == b"1"


def test_probe_create_only(objects):
    probe_create_only(objects)
    assert list(objects.list("probe/")) == []


# -- S3 only ---------------------------------------------------------------------------------

def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.startswith("s3://")
    return text


def test_s3_wrong_credentials(s3_bucket):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    unknown = S3ObjectStore(s3_bucket, access_key_id="nobody", secret_access_key="x", backoff=FAST)
    with pytest.raises(RemoteError) as exc:
        unknown.get("k")
    assert "wrong credentials" in _one_line(exc) and "InvalidAccessKeyId" in str(exc.value)
    bad_secret = S3ObjectStore(s3_bucket, access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                               secret_access_key="wrong")
    with pytest.raises(RemoteError) as exc:
        bad_secret.put("k", b"1")
    assert "SignatureDoesNotMatch" in _one_line(exc)
    with pytest.raises(RemoteError, match="SignatureDoesNotMatch"):
        bad_secret.ensure_container()


def test_s3_unreachable_endpoint_fails_fast(s3_bucket):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    with socket_closed_port() as port:
        store = S3ObjectStore(s3_bucket, endpoint=f"http://127.0.0.1:{port}", backoff=FAST)
        t0 = time.monotonic()
        with pytest.raises(RemoteError) as exc:
            store.get("k")
    assert time.monotonic() - t0 < 10
    assert "cannot reach http://127.0.0.1" in _one_line(exc) and "3 attempts" in str(exc.value)


def test_s3_ensure_container_creates_the_bucket(s3_bucket):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    store = S3ObjectStore(f"{s3_bucket}-new", "p", backoff=FAST)
    with pytest.raises(ContainerNotFound) as exc:
        store.get("k")
    assert "no such bucket" in _one_line(exc)
    store.ensure_container()
    store.put("k", b"1")
    assert store.get("k") == b"1" and list(store.list()) == ["k"]


def test_s3_prefixes_are_isolated(s3_bucket):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    a, b = S3ObjectStore(s3_bucket, "a"), S3ObjectStore(s3_bucket, "a2")
    a.put("k", b"a")
    b.put("k", b"b")
    assert (a.get("k"), b.get("k")) == (b"a", b"b")
    assert list(a.list()) == ["k"] and list(S3ObjectStore(s3_bucket).list()) == ["a/k", "a2/k"]


def test_s3_another_accounts_bucket(s3_engine, s3_bucket):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    s3_engine.add_user("other", "otheraccess", "othersecret")
    other = S3ObjectStore(s3_bucket, access_key_id="otheraccess", secret_access_key="othersecret",
                          backoff=FAST)
    with pytest.raises(RemoteError) as exc:
        other.ensure_container()
    assert "access denied" in _one_line(exc) or "another account" in str(exc.value)
    with pytest.raises(RemoteError) as exc:
        other.put("k", b"1")
    assert "access denied" in _one_line(exc)


def test_s3_settings_from_an_aws_profile(s3_engine, s3_bucket, tmp_path, monkeypatch):
    from gotkv.blobs.remote.s3 import S3ObjectStore

    S3ObjectStore(s3_bucket).put("k", b"1")
    (tmp_path / "config").write_text(f"[profile rgw]\nregion = us-east-1\nendpoint_url = {s3_engine.endpoint}\n")
    (tmp_path / "credentials").write_text(f"[rgw]\naws_access_key_id = {s3_engine.access_key}\n"
                                          f"aws_secret_access_key = {s3_engine.secret_key}\n")
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "rgw")
    assert S3ObjectStore(s3_bucket).get("k") == b"1"
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(RemoteError, match="no AWS profile 'nosuch'"):
        S3ObjectStore(s3_bucket)


class socket_closed_port:
    """A port on 127.0.0.1 that nothing listens on (bound, never listening, so never reused)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


# -- the retry policy (engine-agnostic) -------------------------------------------------------

class Flaky(Exception):
    pass


def test_retry_until_success_and_not_on_definite_errors():
    calls = []

    def twice_flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Flaky()
        return "ok"

    assert retry(twice_flaky, lambda e: isinstance(e, Flaky), FAST) == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(KeyError):
        retry(lambda: calls.append(1) or {}["definite"], lambda e: isinstance(e, Flaky), FAST)
    assert len(calls) == 1


def test_retry_is_bounded():
    calls = []

    def always_flaky() -> None:
        calls.append(1)
        raise Flaky()

    with pytest.raises(Flaky):
        retry(always_flaky, lambda e: True, Backoff(attempts=4, base=0.001, cap=0.001))
    assert len(calls) == 4
    t0 = time.monotonic()
    with pytest.raises(Flaky):
        retry(always_flaky, lambda e: True, Backoff(attempts=1000, max_seconds=0.3, base=0.05, cap=0.05))
    assert time.monotonic() - t0 < 1
