"""S3ObjectStore: the ObjectStore calls on any S3-compatible bucket, through obstore.

Why obstore (Python bindings to Rust's object_store) rather than boto3: measured against a
real Ceph RGW with the same requests from each library, large transfers are bound by the
server, while the per-request cost, the one that counts on object storage (DESIGN.md
section 6), is several times lower in rate and in client CPU (figures: docs/benchmarks.md,
"Figures behind design choices"); and get_ranges coalesces and fetches in parallel in Rust
without holding the GIL. (Returning bytes costs one copy.) obstore cannot create buckets, so
ensure_container sends one PUT presigned by obstore with urllib, rather than carry botocore
for that one call.

Requests per call: put 1 (PUT with If-None-Match: *); get/get_range 1 GET; get_ranges
1 GET per group of ranges less than COALESCE apart, up to 10 in flight; exists 1 HEAD;
delete 1 POST ?delete per 1000 keys; list 1 GET per 1000 keys (listing from the last '/'
of the prefix, since object_store lists whole path segments); ensure_container 1 GET, plus
1 PUT if the bucket is missing. Retries (retry.py) add requests; obstore's own retries are off
so that the budget is one, configurable, and so that a create-only PUT that is retried after a
lost answer and then finds its key taken can check (one GET) whether the object is its own.

Settings, unless given: endpoint from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the profile's
endpoint_url (none: AWS S3); region from AWS_REGION / AWS_DEFAULT_REGION / the profile
(default us-east-1); keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
else from the profile (`profile=`, which then wins over the variables, AWS_PROFILE or
"default") in ~/.aws/credentials and ~/.aws/config
(AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), else obstore's chain (web identity, container,
instance metadata). Profiles that use SSO, roles or credential_process are not read: export
their keys (`aws configure export-credentials --format env`).

Errors: obstore's exceptions carry only text, so _parse reads the HTTP status, the S3 error
code and the transport failure kind from it (the one place that depends on object_store's
wording). A 409 ConditionalRequestConflict (two conditional writes of one key in flight) is
retried, as AWS advises, not reported as ObjectExists: the other write may yet fail.

RGW quirks seen: it accepts any region in signatures; creating a bucket one already owns
answers 200; HEAD on a missing bucket answers a bare 404, so exists() is False there; a full
OSD makes requests hang unless the gateway has `rados osd op timeout` (then 408, retried).
"""

from __future__ import annotations

import configparser
from collections import Counter
import os
import re
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.store import S3Store

from gotkv.errors import InvalidInput

from .objects import ContainerNotFound, ObjectExists, ObjectNotFound, RemoteError
from .retry import Backoff, from_environment, retry

T = TypeVar("T")

COALESCE = 256 << 10  # ranges less than this apart are fetched by one GET
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
MAX_CONNECTIONS = 32  # idle connections kept for reuse (callers bound requests in flight)

_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
                    "ConditionalRequestConflict", "OperationAborted", "Throttling"}
_TRANSIENT_KINDS = {"Connect", "Request", "Timeout", "Interrupted", "Decode"}


def _merged(ranges: list[tuple[int, int]], gap: int) -> int:
    """How many GETs object_store makes for `ranges`: those closer than `gap` are merged."""
    count, end = 0, None
    for s, e in sorted(ranges):
        if end is None or s > end + gap:
            count += 1
            end = e
        else:
            end = max(end, e)
    return count


class _HttpStatus(Exception):
    """A non-2xx answer to a request sent with urllib (bucket creation)."""

    def __init__(self, status: int, code: str | None):
        super().__init__(f"status code: {status}" + (f" <Code>{code}</Code>" if code else ""))


def _parse(exc: BaseException) -> tuple[int | None, str | None, str | None]:
    """(HTTP status, S3 error code, transport failure kind) read from an obstore/urllib error.

    obstore's exceptions carry no fields, only object_store's text ("... status code: 403
    Forbidden: <Error><Code>...</Code>", "HttpError { kind: Connect ..."), parsed here only.
    """
    if isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError):
        return None, None, "Connect"
    text = str(exc)
    status = re.search(r"status code: (\d{3})", text)
    code = re.search(r"<Code>([^<]+)</Code>", text) or re.search(r"\(code: (\w+)\)", text)  # DeleteObjects
    kind = re.search(r"HttpError \{\s*kind: (\w+)", text)
    return (int(status.group(1)) if status else None, code.group(1) if code else None,
            kind.group(1) if kind else None)


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, a racing conditional write (409), a failed or dropped connection."""
    if isinstance(exc, ValueError | RemoteError | ObjectNotFound | ObjectExists):
        return False
    status, code, kind = _parse(exc)
    if code in _TRANSIENT_CODES:
        return True
    if status is not None:
        return status in (408, 429) or status >= 500
    return kind in _TRANSIENT_KINDS


def _profile(name: str | None) -> dict[str, str]:
    """The static settings of an AWS profile from ~/.aws/credentials and ~/.aws/config."""
    explicit = name or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    name = explicit or "default"
    found: dict[str, str] = {}
    for var, default, section in (("AWS_CONFIG_FILE", "~/.aws/config",
                                   name if name == "default" else f"profile {name}"),
                                  ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", name)):
        ini = configparser.RawConfigParser()
        try:
            ini.read(os.path.expanduser(os.environ.get(var, default)))
        except configparser.Error as exc:
            raise RemoteError(f"cannot read the AWS settings: {str(exc).splitlines()[0]}") from None
        if ini.has_section(section):
            found.update(ini.items(section))
            found["_found"] = "1"
    if explicit and "_found" not in found:
        raise RemoteError(f"no AWS profile {name!r} in ~/.aws/config or ~/.aws/credentials")
    return found


class S3ObjectStore:
    """Objects under `prefix` in an S3 bucket. Thread-safe; see the module docstring for costs."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, session_token: str | None = None,
                 profile: str | None = None, backoff: Backoff | None = None,
                 timeout: float = 600.0, connect_timeout: float = 5.0,
                 max_connections: int = MAX_CONNECTIONS):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.backoff = backoff or from_environment()
        self.requests: Counter[str] = Counter()  # by kind, as sent (retries not counted)
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise RemoteError(f"{self.url}: invalid bucket name (3-63 lowercase letters, digits, '.' and '-')")
        env, prof = os.environ, _profile(profile)
        self.endpoint = (endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
                         or prof.get("endpoint_url") or None)
        self.region = (region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                       or prof.get("region") or "us-east-1")
        if access_key_id is None and env.get("AWS_ACCESS_KEY_ID") and not (profile and "aws_access_key_id" in prof):
            access_key_id, secret_access_key = env["AWS_ACCESS_KEY_ID"], env.get("AWS_SECRET_ACCESS_KEY")
            session_token = session_token or env.get("AWS_SESSION_TOKEN")
        elif access_key_id is None and prof.get("aws_access_key_id"):
            access_key_id, secret_access_key = prof["aws_access_key_id"], prof.get("aws_secret_access_key")
            session_token = session_token or prof.get("aws_session_token")
        self._where = self.endpoint or f"AWS S3 ({self.region})"
        if access_key_id and not secret_access_key:
            raise RemoteError(f"{self.url}: an access key but no secret key (AWS_SECRET_ACCESS_KEY)")
        config: dict[str, str] = {"region": self.region}
        if self.endpoint:
            config["endpoint"] = self.endpoint
        if access_key_id:
            config.update(access_key_id=access_key_id, secret_access_key=secret_access_key or "")
            if session_token:
                config["session_token"] = session_token
        client = {"allow_http": bool(self.endpoint and self.endpoint.startswith("http://")),
                  "timeout": timedelta(seconds=timeout), "read_timeout": timedelta(seconds=60),
                  "connect_timeout": timedelta(seconds=connect_timeout),
                  "pool_max_idle_per_host": str(max_connections)}
        try:
            self._store = S3Store(bucket, prefix=self.prefix or None, config=config,
                                  client_options=client, retry_config={"max_retries": 0})
            self._root = S3Store(bucket, config=config, client_options=client,
                                 retry_config={"max_retries": 0})  # for bucket-level requests
        except Exception as exc:  # a malformed endpoint, bucket name or setting
            raise RemoteError(f"{self.url}: {str(exc).splitlines()[0]}") from None

    # -- the ObjectStore calls ---------------------------------------------------------------

    def put(self, key: str, data: bytes | memoryview) -> None:
        self.requests["put"] += 1
        tries = 0

        def once() -> None:
            nonlocal tries
            tries += 1
            obstore.put(self._store, key, data, mode="create", use_multipart=False)

        try:
            self._call(once, key)
        except ObjectExists:
            # A retry after an attempt whose answer was lost may find that attempt's object.
            if tries > 1 and self._holds(key, data):
                return
            raise

    def get(self, key: str) -> bytes:
        self.requests["get"] += 1
        return self._call(lambda: bytes(obstore.get(self._store, key).bytes()), key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.get_ranges(key, [(start, end)])[0]

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
        for start, end in ranges:
            if not 0 <= start <= end:
                raise InvalidInput(f"{self.url}: invalid byte range [{start}, {end}) of {key!r}")
        todo = [(s, e) for s, e in ranges if e > s]  # object_store refuses empty ranges
        got: Iterator = iter(())
        if todo:
            starts, ends = [s for s, _ in todo], [e for _, e in todo]
            self.requests["get"] += _merged(todo, COALESCE)
            got = iter(self._call(lambda: obstore.get_ranges(self._store, key, starts=starts, ends=ends,
                                                             coalesce=COALESCE), key))
        out = [memoryview(next(got)) if e > s else b"" for s, e in ranges]  # no copy out of obstore's buffer
        if any(len(data) != e - s for data, (s, e) in zip(out, ranges)):
            raise RemoteError(f"{self.url}: {key} is shorter than expected (truncated?)")
        return out

    def exists(self, key: str) -> bool:
        self.requests["head"] += 1
        try:
            self._call(lambda: obstore.head(self._store, key), key)
            return True
        except ObjectNotFound:
            return False

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i:i + DELETE_BATCH]
            self.requests["delete"] += 1
            self._call(lambda: obstore.delete(self._store, batch))

    def list(self, prefix: str = "") -> Iterator[str]:
        # object_store lists whole path segments: list the prefix's "directory", starting just
        # before the prefix, and stop at the first key past it (listings come in key order).
        parent = prefix.rpartition("/")[0] or None
        after = prefix[:-1] or None
        stream = None

        def next_page() -> list[dict]:
            nonlocal stream
            if stream is None:
                stream = obstore.list(self._store, prefix=parent, offset=after, chunk_size=1000)
            try:
                return next(stream, [])
            except Exception:
                stream = None  # restart after the last key seen
                raise

        while page := self._call(next_page):
            self.requests["list"] += 1
            for meta in page:
                key = meta["path"]
                after = key
                if key.startswith(prefix):
                    yield key
                elif key > prefix:
                    return

    def ensure_container(self) -> None:
        probe = "got-bucket-probe/"  # lists nothing; answers NoSuchBucket if the bucket is missing
        try:
            self._call(lambda: next(obstore.list(self._root, prefix=probe, chunk_size=1), None))
            return
        except ContainerNotFound:
            pass
        body = b""
        if self.region != "us-east-1":
            body = (b"<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint>"
                    b"</CreateBucketConfiguration>" % self.region.encode())

        def create() -> None:
            url = obstore.sign(self._root, "PUT", "", timedelta(minutes=5))
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT"), timeout=30).close()
            except urllib.error.HTTPError as exc:
                code = re.search(rb"<Code>([^<]+)</Code>", exc.read())
                if not (exc.code == 409 and code and code.group(1) == b"BucketAlreadyOwnedByYou"):
                    raise _HttpStatus(exc.code, code.group(1).decode() if code else None) from None

        self._call(create)

    def _holds(self, key: str, data: bytes | memoryview) -> bool:
        try:
            return self.get(key) == data
        except ObjectNotFound:
            return False

    def close(self) -> None:
        """Nothing to release: pooled connections close when the store is dropped."""

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.url!r}, endpoint={self._where!r})"

    # -- errors ------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], key: str | None = None) -> T:
        """fn() with retries; every failure left becomes ObjectNotFound/ObjectExists/RemoteError."""
        t0, tries = time.monotonic(), 1

        def count(_exc: BaseException, n: int) -> None:
            nonlocal tries
            tries = n + 1

        try:
            return retry(fn, is_transient, self.backoff, count)
        except ValueError as exc:  # obstore refuses a malformed key before sending anything
            raise InvalidInput(f"{self.url}: {str(exc).splitlines()[0]}") from None
        except Exception as exc:
            status, code, kind = _parse(exc)
            if isinstance(exc, AlreadyExistsError) and code != "ConditionalRequestConflict" and key is not None:
                raise ObjectExists(self.url, key) from None
            if code == "NoSuchBucket":
                raise ContainerNotFound(f"{self.url}: no such bucket {self.bucket!r} at {self._where}") from None
            if isinstance(exc, FileNotFoundError) and key is not None:
                raise ObjectNotFound(self.url, key) from None
            if status == 416:
                raise RemoteError(f"{self.url}: {key} is shorter than expected (truncated?)") from None
            why = self._explain(exc, status, code, kind)
            if tries > 1:
                why += f" (gave up after {tries} attempts in {time.monotonic() - t0:.1f} s)"
            raise RemoteError(f"{self.url}: {why}") from None

    def _explain(self, exc: BaseException, status: int | None, code: str | None, kind: str | None) -> str:
        text = str(exc)
        if code == "InvalidAccessKeyId":
            return f"wrong credentials: the access key ID is not known to {self._where} (InvalidAccessKeyId)"
        if code == "SignatureDoesNotMatch":
            return "wrong credentials: the secret key does not match the access key (SignatureDoesNotMatch)"
        if code in ("ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
            return f"the session token is expired or invalid ({code}): refresh the credentials"
        if code == "RequestTimeTooSkewed":
            return "this machine's clock differs too much from the server's (RequestTimeTooSkewed)"
        if code == "BucketAlreadyExists":
            return f"bucket {self.bucket!r} exists and belongs to another account (BucketAlreadyExists)"
        if code == "AccessDenied" or status == 403:
            return f"access denied to bucket {self.bucket!r} for these credentials ({code or 'HTTP 403'})"
        if "169.254.169.254" in text or "credential" in text.lower() and status is None:
            return ("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
                    "with keys in ~/.aws/credentials")
        if kind == "Timeout" or isinstance(exc, TimeoutError):
            return f"{self._where} did not answer in time"
        if kind is not None or isinstance(exc, urllib.error.URLError | ConnectionError):
            cause = re.search(r'message: "([^"]+)"', text) or re.search(r"(dns error[^\"\n]*)", text)
            reason = cause.group(1) if cause else getattr(exc, "reason", None) or "connection failed"
            return f"cannot reach {self._where}: {reason}"
        if status is not None:
            return f"{self._where} answered HTTP {status}" + (f" ({code})" if code else "")
        if code is not None:
            return f"{self._where} answered {code}"
        return text.splitlines()[0][:300] if text else type(exc).__name__
