"""Session-wide fixtures: a real S3 engine (Ceph RGW), started only when a test asks for it."""

import secrets

import pytest

from tests import s3engine


@pytest.fixture(scope="session")
def s3_engine():
    """The running engine; fails (never skips) with the script's output if it cannot start."""
    try:
        engine = s3engine.start()
    except s3engine.EngineError as exc:
        pytest.fail(f"cannot start the S3 engine (Ceph RGW): {exc}", pytrace=False)
    yield engine
    engine.stop()


@pytest.fixture
def s3_bucket(s3_engine, monkeypatch) -> str:
    """A fresh, created bucket; the AWS variables point at the engine for this test."""
    from gotkv.blobs.remote.s3 import S3ObjectStore

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_engine.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")  # this user's ~/.aws plays no part
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    bucket = f"got-test-{secrets.token_hex(6)}"
    S3ObjectStore(bucket).ensure_container()
    return bucket
