"""BlobStore on S3 or any S3-compatible server (`STORAGE_URL=s3://bucket[/prefix]`).

The client comes from boto3's own configuration chain, so AWS_ENDPOINT_URL, AWS_DEFAULT_REGION,
the credential variables, profiles and instance roles all work without settings of ours.

Keys and the prefix: the store speaks *logical* keys (`uploads/<uuid>`, `images/<uuid>/original.jpg`)
and stores each under `<prefix>/<key>`. With the default empty prefix the S3 key is the logical key,
so a grant's `fields.key` is exactly `uploads/<uuid>` as the contract says. With a prefix, S3 only
accepts the full object key in the form, so `fields.key` is `<prefix>/uploads/<uuid>`; `logical_key`
maps it back. (Everything else — size, read, delete, download URLs — takes logical keys.)

Download URLs come from adapters.s3_url_signer: botocore's URLs to the byte, signed as of the start
of a `url_window` (adapters.url_window), at the cost of one HMAC each.
"""
from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Hashable, Iterator, Sequence

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, NoCredentialsError, ReadTimeoutError
from botocore.handlers import add_expect_header

from adapters.s3_url_signer import S3UrlSigner
from adapters.observations import outage
from core.errors import TimedOut, Unavailable
from core.ports import BlobChanged, BlobContent, BlobStore, UploadForm


DELETE_BATCH = 1000  # DeleteObjects' limit per request

# boto3 names the presigned-POST fields in lower case; the contract (and the seed's HTML form) use
# these spellings. S3 compares form field names case-insensitively, so both are accepted by S3.
_FIELD_NAMES = {
    "policy": "Policy",
    "x-amz-algorithm": "X-Amz-Algorithm",
    "x-amz-credential": "X-Amz-Credential",
    "x-amz-date": "X-Amz-Date",
    "x-amz-signature": "X-Amz-Signature",
    "x-amz-security-token": "X-Amz-Security-Token",
}
_MISSING = {"404", "NoSuchKey", "NotFound"}
_CHANGED = {"412", "PreconditionFailed"}
_KMS_VERSION = "kms:"
# What S3 answers when it cannot serve now (throttled, busy, failing) or refuses the gateway itself
# (a deleted bucket, revoked keys): the request may succeed later, the caller's input is not at fault.
_OUTAGE_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "ServiceUnavailable",
    "InternalError", "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AllAccessDisabled",
}
MAX_POOL_CONNECTIONS = 50
"""Concurrent requests one client may have open: a save verifies and copies uploads on a pool of threads."""
DEFAULT_TIMEOUT = 10.0
"""Seconds one storage call may take (BACKEND_TIMEOUT); the composition root passes the configured value."""
ATTEMPTS = 2
"""Tries per call: one retry outlives a connection reset or a single 5xx; each try gets its share of
the timeout, so a storage server that does not answer fails the call within the timeout."""


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """S3 unreachable, slow, throttling, failing or refusing the gateway: the core's Unavailable.

    Errors about one object (missing, changed) are left to each method; anything else is a bug.
    """
    try:
        yield
    except (ConnectTimeoutError, ReadTimeoutError) as exc:  # every try used up its share of the timeout
        raise outage("storage", TimedOut("storage did not answer in time")) from exc
    except BotoCoreError as exc:  # connection refused or reset, credentials not found...
        raise outage("storage", Unavailable("storage is unavailable")) from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if _code(exc) in _OUTAGE_CODES or status >= 500:
            raise outage("storage", Unavailable("storage is unavailable")) from exc
        raise


_storage_errors = translate_errors()
"""The same as a method decorator: contextlib's context managers decorate, entered anew for each call."""


def default_client(session: Any = None, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """An S3 client configured the way boto3 configures itself (environment, profile, role).

    Pinned here: the signature version (presigned POST policies and URLs must be SigV4), a connection
    pool large enough for the threads that verify and copy uploads, and the time a call may take.
    botocore's read timeout is per socket read, not per call: a large transfer that keeps moving is
    not cut, a server that stops answering is. Its "standard" retries back off 50 ms at most before
    the second of ATTEMPTS tries (throttling, which backs off longer, is answered as unavailable anyway).
    """
    per_attempt = timeout / ATTEMPTS
    client = (session or boto3.session.Session()).client("s3", config=Config(
        signature_version="s3v4", max_pool_connections=MAX_POOL_CONNECTIONS,
        connect_timeout=per_attempt, read_timeout=per_attempt,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS}))
    # botocore sends uploads with "Expect: 100-continue" and waits a fixed second for a server that never
    # says "continue" before it sends the body: outside the timeout, once per try. The gateway's uploads
    # are at most MAX_UPLOAD_BYTES; sending them straight away costs nothing worth that second.
    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


class S3BlobStore(BlobStore):
    def __init__(self, bucket: str, prefix: str = "", client: Any = None, timeout: float = DEFAULT_TIMEOUT, *,
                 url_window: int = 1, credentials: Callable[[], Any] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        """`timeout`: seconds one call may take before it fails as Unavailable (for the default client);
        `url_window`: seconds download URLs are signed in (1: no rounding beyond whole seconds);
        `now()`: the clock they are signed by, in epoch seconds.

        `credentials()` returns what `client` signs with. By default both come from one boto3 session;
        for a `client` made elsewhere they default to boto3's default chain, which is where a client
        made by `boto3.client()` gets its credentials too.
        """
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            session = boto3.session.Session()
            client = default_client(session, timeout)
            credentials = credentials or session.get_credentials
        self.client = client
        self._credentials = credentials or boto3.session.Session().get_credentials
        self._urls = S3UrlSigner(client, bucket, self._credentials, url_window, now=now)

    # --- keys ---------------------------------------------------------------------------------------

    def s3_key(self, key: str) -> str:
        """The object key in the bucket for a logical key."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def logical_key(self, s3_key: str) -> str:
        """The logical key for an object key (the inverse of `s3_key`)."""
        if not self.prefix:
            return s3_key
        head = self.prefix + "/"
        if not s3_key.startswith(head):
            raise ValueError(f"{s3_key!r} is not under the prefix {self.prefix!r}")
        return s3_key[len(head):]

    # --- BlobStore ----------------------------------------------------------------------------------

    @_storage_errors
    def upload_form(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> UploadForm:
        # Presigning is local, but needs credentials, which boto3 may have to fetch (a role, SSO);
        # without any, botocore fails with an AttributeError rather than its NoCredentialsError.
        if self._credentials() is None:
            raise NoCredentialsError()
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=self.s3_key(key),
            # The field is required by the policy's condition: without it S3 would refuse the POST, and
            # with it the object is stored with the granted type.
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        fields = {_FIELD_NAMES.get(name.lower(), name): value for name, value in post["fields"].items()}
        return UploadForm(url=post["url"], fields=fields, expires_at=_policy_expiration(fields["Policy"]))

    @_storage_errors
    def read_version(self, key: str, max_bytes: int) -> BlobContent | None:
        """One GET: its headers tell the size (an object over `max_bytes` is not read) and the ETag of
        exactly the bytes in its body. S3 answers 403 rather than 404 for a missing key when the
        credentials lack s3:ListBucket: that is an outage of the gateway's set-up, not a missing upload."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.s3_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        with response["Body"] as body:
            size = int(response["ContentLength"])
            data = body.read() if size <= max_bytes else None
        version = response["ETag"]
        if response.get("ServerSideEncryption") == "aws:kms":
            version = _KMS_VERSION + version  # its ETag is no MD5: `copy` must not compare it with a copy's
        return BlobContent(size=size, version=version, data=data)

    @_storage_errors
    def read(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist (as the local store raises)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.s3_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(f"no object {key!r}") from exc
            raise
        with response["Body"] as body:
            return body.read()

    @_storage_errors
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.client.put_object(Bucket=self.bucket, Key=self.s3_key(key), Body=bytes(data),
                                   ContentType=content_type)
        else:
            # Streams of unknown length go through the managed (multipart when large) transfer.
            self.client.upload_fileobj(data, self.bucket, self.s3_key(key), ExtraArgs={"ContentType": content_type})

    @_storage_errors
    def copy(self, source: str, target: str, if_version: str) -> None:
        """Server-side copy of the version `if_version` (an ETag); content type and metadata travel along.

        S3 refuses the copy itself when the source has changed (x-amz-copy-source-if-match). Not every
        S3-compatible server checks that condition (moto does not), so the new object's ETag is checked
        too: for an object stored in one part without SSE-KMS, the ETag is the MD5 of its bytes and a copy
        keeps it. Where it is not (multipart, KMS), the condition is all there is.
        """
        etag = if_version.removeprefix(_KMS_VERSION)
        try:
            response = self.client.copy_object(
                Bucket=self.bucket, Key=self.s3_key(target), MetadataDirective="COPY", CopySourceIfMatch=etag,
                CopySource={"Bucket": self.bucket, "Key": self.s3_key(source)})
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(f"no object {source!r}") from exc
            if _code(exc) in _CHANGED:
                raise BlobChanged(source) from exc
            raise
        copied = response.get("CopyObjectResult", {}).get("ETag")
        if etag == if_version and _is_md5_etag(etag) and copied != etag:
            self.client.delete_object(Bucket=self.bucket, Key=self.s3_key(target))
            raise BlobChanged(source)

    @_storage_errors
    def delete(self, keys: Sequence[str]) -> None:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), DELETE_BATCH):
            batch = unique[start:start + DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.s3_key(k)} for k in batch], "Quiet": True},
            )
            # DeleteObjects answers 200 even when single keys fail; those must not pass silently
            # (the caller keeps tombstones and retries). Missing keys are not errors in S3.
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                first = errors[0]
                raise Unavailable(f"could not delete {len(errors)} of {len(batch)} objects, e.g. "
                                  f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}")

    @_storage_errors
    def download_url(self, key: str, expires_in: int) -> str:
        """Valid from the start of the current URL window until `expires_in` seconds after its end."""
        return self._urls.url(self.s3_key(key), expires_in)

    @_storage_errors
    def download_urls(self, keys: Sequence[str], expires_in: int) -> list[str]:
        return self._urls.urls([self.s3_key(key) for key in keys], expires_in)

    @_storage_errors
    def url_generation(self) -> Hashable:
        return self._urls.generation()

    @_storage_errors
    def ping(self) -> None:
        """Raise unless the bucket exists and the credentials may use it."""
        self.client.head_bucket(Bucket=self.bucket)

    # --- operations -------------------------------------------------------------------------------

    @_storage_errors
    def create_bucket(self) -> bool:
        """Create the bucket if it does not exist (for `flask init-storage`; never done implicitly).

        Returns True when it was created, False when it already existed and is ours.
        """
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            # us-east-1 is the one region that refuses an explicit location constraint.
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) == "BucketAlreadyOwnedByYou":  # created concurrently
                return False
            raise
        return True


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_md5_etag(etag: str) -> bool:
    """An ETag that is the MD5 of the object (not a multipart "<md5>-<parts>" one)."""
    text = etag.strip('"')
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def _policy_expiration(encoded_policy: str) -> datetime:
    """The grant's expiry exactly as signed into the policy, so the two can never disagree."""
    document = json.loads(base64.b64decode(encoded_policy))
    expiration = datetime.fromisoformat(document["expiration"].replace("Z", "+00:00"))
    return expiration if expiration.tzinfo else expiration.replace(tzinfo=timezone.utc)


__all__ = ["S3BlobStore", "default_client"]
