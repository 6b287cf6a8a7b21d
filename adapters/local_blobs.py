"""BlobStore on local disk: the embedded default (`STORAGE_URL=file:///abs/dir`).

Clients upload to it exactly as they upload to S3: the grant is an S3-style presigned POST form
(`key`, `Content-Type`, `Policy`, `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
`X-Amz-Signature`) signed with a real SigV4 POST-policy signature (adapters.local_post_policy), and
`authorize_post` / `receive` enforce the policy the way S3 does. So a client written against the S3
adapter works unchanged against this one, and the other way round. The HTTP side is `storage_api`.

Layout under `root`: each object is the file `root/<key>`; its content type is kept beside it in
`root/.meta/<key>.json`. Keys whose segments start with "." are refused, so neither the metadata
tree nor the ".tmp-*" files of in-progress writes can ever be addressed as objects. A key cannot be
both an object and a "directory" of other keys (`a` and `a/b`); the gateway's keys never are.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import hmac
import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Hashable, Iterable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import quote, urlencode

from adapters.local_post_policy import (
    DEFAULT_CONTENT_TYPE, AuthorizedPost, LocalStorageError, PostPolicy, hmac_sha256,
)
from adapters.url_window import check_window, window_start
from adapters.observations import outage
from core.errors import Unavailable
from core.ports import BlobChanged, BlobContent, BlobStore, UploadForm

F = TypeVar("F", bound=Callable[..., Any])

CHUNK = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit
_META_DIR = ".meta"
DOWNLOAD_URL_CACHE = 10_000
"""Signed download paths kept: a dozen full listings (200 images x 4 URLs)."""
_CANONICAL_EXPIRES = re.compile(r"[1-9][0-9]{0,17}")
"""`expires` as download_url writes it. int() would also read "+123", "0123", " 123", "1_23" or other
scripts' digits: each would be another URL (another cache entry) for the same signature."""


class InvalidKey(ValueError):
    """A key that could name something outside the store's root (or its private files)."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _file_version(info: os.stat_result) -> str:
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _storage_errors(method: F) -> F:
    """The disk full, read-only, failing or refusing, or the store's directory gone: the core's
    Unavailable. A missing object, or a key that cannot name one, stays what it is."""
    @functools.wraps(method)
    def wrapper(self: LocalBlobStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self.require_volume()
            raise
        except OSError as exc:
            raise outage("storage", Unavailable("storage is unavailable")) from exc
    return wrapper  # type: ignore[return-value]


class LocalBlobStore(BlobStore):
    """Objects as files under `root`; uploads and downloads through signed URLs served by the gateway.

    `base_url()` is asked at call time for the gateway's external base URL (e.g. "http://127.0.0.1:8000"),
    because without PUBLIC_URL it comes from the current request. Download URLs are signed in windows
    of `url_window` seconds (adapters.url_window), as the S3 store's are.
    """

    def __init__(self, root: str, secret: bytes | str, base_url: Callable[[], str], *,
                 access_key_id: str = "local", bucket: str = "local",
                 now: Callable[[], datetime] = _utcnow, url_window: int = 1, min_free_bytes: int = 0) -> None:
        """`url_window`: seconds download URLs are signed in (see adapters.url_window); `min_free_bytes`: below
        this much free space the store reports itself not ready (`ping`)."""
        if not secret:
            raise ValueError("LocalBlobStore needs a non-empty secret")
        check_window(url_window)
        self._url_window = url_window
        self._signed_paths = functools.lru_cache(maxsize=DOWNLOAD_URL_CACHE)(self._signed_path)
        self._secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self._root = os.path.realpath(root)
        self.base_url = base_url
        self.access_key_id = access_key_id
        self.bucket = bucket
        self._now = now
        self._policy = PostPolicy(self._secret, access_key_id, bucket, now)
        self._min_free_bytes = min_free_bytes
        # Download URLs are signed with a key derived for that purpose only, so a download signature can
        # never be replayed as an upload signature or the other way round.
        self._download_key = hmac_sha256(self._secret, b"realty-gateway/local-download-url/v1")
        self._meta_root = os.path.join(self._root, _META_DIR)
        os.makedirs(self._meta_root, exist_ok=True)

    @property
    def root(self) -> str:
        return self._root

    # --- keys and paths --------------------------------------------------------------------------

    def path_of(self, key: str) -> str:
        """The file holding `key`; raises InvalidKey for anything that could leave the root."""
        return self._resolve(self._root, key, "")

    def _meta_path(self, key: str) -> str:
        return self._resolve(self._meta_root, key, ".json")

    def require_volume(self) -> None:
        """Raise Unavailable unless the store's directory is in place, so that no object passes for
        missing while it is not: a save would blame the caller's key, a download tell caches the image
        is gone, a delete forget a blob. The metadata directory, made with the store, tells a mounted
        volume from the empty directory an unmounted one leaves behind."""
        if not os.path.isdir(self._meta_root):
            raise outage("storage", Unavailable(f"storage root {self._root} is missing, not mounted or not a "
                                                "directory"))

    def _resolve(self, base: str, key: str, suffix: str) -> str:
        if not isinstance(key, str) or not key:
            raise InvalidKey("a key must be a non-empty string")
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise InvalidKey(f"a key must be at most {MAX_KEY_BYTES} bytes")
        if "\x00" in key or "\\" in key or key.startswith("/") or ":" in key.split("/", 1)[0]:
            raise InvalidKey(f"invalid key {key!r}")
        segments = key.split("/")
        for segment in segments:
            # Empty, "." and ".." segments would alias or escape; dot-files are our metadata and temp files.
            if not segment or segment.startswith("."):
                raise InvalidKey(f"invalid key {key!r}: empty or dot-prefixed path segment")
        path = os.path.join(base, *segments) + suffix
        # Belt and braces: also refuse what a symlink inside the root would lead elsewhere.
        real = os.path.realpath(path)
        if os.path.commonpath([real, self._root]) != self._root:
            raise InvalidKey(f"invalid key {key!r}: outside the storage root")
        return path

    # --- BlobStore ---------------------------------------------------------------------------------

    @_storage_errors
    def upload_form(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> UploadForm:
        self.path_of(key)  # never sign a form for a key that could not be stored
        fields, expires_at = self._policy.form(key, content_type, max_bytes, expires_in)
        return UploadForm(url=self.base_url().rstrip("/") + "/storage/upload", fields=fields,
                          expires_at=expires_at)

    @_storage_errors
    def read_version(self, key: str, max_bytes: int) -> BlobContent | None:
        try:
            with open(self.path_of(key), "rb") as f:
                info = os.fstat(f.fileno())
                data = f.read() if info.st_size <= max_bytes else None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self.require_volume()
            return None  # a "directory" of other keys (`images/<uuid>`) is not an object either
        return BlobContent(size=info.st_size, version=_file_version(info), data=data)

    @_storage_errors
    def read(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""
        path = self.path_of(key)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no object {key!r}")
        with open(path, "rb") as f:
            return f.read()

    @_storage_errors
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        path = self.path_of(key)
        chunks: Iterable[bytes] = [bytes(data)] if isinstance(data, (bytes, bytearray, memoryview)) \
            else iter(lambda: data.read(CHUNK), b"")
        self._write_atomic(path, chunks, lambda: self._write_meta(key, content_type))

    @_storage_errors
    def copy(self, source: str, target: str, if_version: str) -> None:
        """A hard link to the source's file, so no byte is copied; BlobChanged unless the file is still
        the version `if_version`. Objects are only ever replaced by renaming a new file over them, never
        written in place, so a file's identity (inode, size, mtime) names its bytes."""
        source_path, target_path = self.path_of(source), self.path_of(target)
        directory = os.path.dirname(target_path)
        self._make_directory(directory)
        link = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        try:
            os.link(source_path, link)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(f"no object {source!r}") from None  # unless the volume is gone: see the decorator
        try:
            if _file_version(os.stat(link)) != if_version:
                raise BlobChanged(source)
            self._write_meta(target, self.content_type(source))
            os.replace(link, target_path)
        except BaseException:
            os.unlink(link)
            raise

    @_storage_errors
    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path, meta = self.path_of(key), self._meta_path(key)
            # The object goes first: once it is gone nobody asks for its metadata.
            for victim in (path, meta):
                try:
                    os.unlink(victim)
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    self.require_volume()  # else already gone, or a "directory" of other keys
                self._prune(os.path.dirname(victim))

    def download_url(self, key: str, expires_in: int) -> str:
        """Valid until `expires_in` seconds after the end of the current URL window."""
        return self.download_urls([key], expires_in)[0]

    def url_generation(self) -> Hashable:
        # The base URL comes from the request without PUBLIC_URL: another host name, other URLs.
        return window_start(self._now().timestamp(), self._url_window), self.base_url()

    def download_urls(self, keys: Sequence[str], expires_in: int) -> list[str]:
        expires = window_start(self._now().timestamp(), self._url_window) + self._url_window + int(expires_in)
        base = self.base_url().rstrip("/")
        return [base + self._signed_paths(key, expires) for key in keys]

    def _signed_path(self, key: str, expires: int) -> str:
        """`/storage/blobs/<key>?expires=...&signature=...`, kept by `_signed_paths` for its window: checking
        the key resolves it on disk, which a listing of 800 URLs would otherwise do 800 times."""
        self.path_of(key)
        query = urlencode({"expires": expires, "signature": self._download_signature(key, expires)})
        return f"/storage/blobs/{quote(key, safe='/')}?{query}"

    def ping(self) -> None:
        """Raise unless the root is a writable directory with room for another object."""
        self.require_volume()
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise PermissionError(f"storage root {self._root} is not writable")
        disk = os.statvfs(self._root)
        free = disk.f_bavail * disk.f_frsize
        # f_files is 0 where a file system has no fixed number of inodes (btrfs): nothing to run out of.
        if free <= self._min_free_bytes or (disk.f_files and not disk.f_favail):
            raise OSError(errno.ENOSPC, f"storage root {self._root} is full ({free} bytes free)")

    # --- extras -----------------------------------------------------------------------------------

    def content_type(self, key: str) -> str:
        """The content type recorded when the object was written."""
        try:
            with open(self._meta_path(key), encoding="utf-8") as f:
                return str(json.load(f).get("content_type") or DEFAULT_CONTENT_TYPE)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return DEFAULT_CONTENT_TYPE

    def verify_download(self, key: str, expires: str | None, signature: str | None) -> str:
        """The file behind a download URL made by `download_url`, after checking its signature and expiry.

        Raises LocalStorageError: AccessDenied (missing, wrong or expired signature), NoSuchKey.
        The signature is checked before anything else, so an unsigned caller learns nothing, not
        even whether the key exists.
        """
        if not expires or not signature:
            raise LocalStorageError("AccessDenied", "Query-string authentication requires the expires and "
                                                    "signature parameters")
        if not _CANONICAL_EXPIRES.fullmatch(expires):
            raise LocalStorageError("AccessDenied", "Invalid date (expires)")
        expires_at = int(expires)
        try:
            path = self.path_of(key)
        except InvalidKey:
            raise LocalStorageError("AccessDenied", "The request signature does not match") from None
        if not hmac.compare_digest(self._download_signature(key, expires_at), signature):
            raise LocalStorageError("AccessDenied", "The request signature does not match")
        if self._now().timestamp() >= expires_at:
            raise LocalStorageError("AccessDenied", "Request has expired")
        if not os.path.isfile(path):
            self.require_volume()
            raise LocalStorageError("NoSuchKey", "The specified key does not exist.")
        return path

    def authorize_post(self, fields: Mapping[str, str]) -> AuthorizedPost:
        """Check the form fields of a POST upload against their signed policy, as S3 does
        (adapters.local_post_policy); raises LocalStorageError with S3's code when anything is off."""
        return self._policy.authorize(fields, self.path_of)

    def receive(self, post: AuthorizedPost, chunks: Iterable[bytes]) -> str:
        """Stream an authorized upload into place; returns the object's ETag (md5 hex).

        The size range is enforced while streaming: an oversized upload is cut off as soon as it
        passes the limit and nothing is stored. The object appears atomically, only when complete.
        """
        path = self.path_of(post.key)
        md5 = hashlib.md5()
        received = 0

        def limited() -> Iterator[bytes]:
            nonlocal received
            for chunk in chunks:
                received += len(chunk)
                if post.max_bytes is not None and received > post.max_bytes:
                    raise LocalStorageError("EntityTooLarge", "Your proposed upload exceeds the maximum "
                                                              f"allowed size ({post.max_bytes} bytes)")
                md5.update(chunk)
                yield chunk
            if received < post.min_bytes:
                raise LocalStorageError("EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                                          f"allowed size ({post.min_bytes} bytes)")

        self._write_atomic(path, limited(), lambda: self._write_meta(post.key, post.content_type))
        return md5.hexdigest()

    # --- internals ----------------------------------------------------------------------------------

    def _download_signature(self, key: str, expires: int) -> str:
        return hmac.new(self._download_key, f"GET\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _write_meta(self, key: str, content_type: str) -> None:
        self._write_atomic(self._meta_path(key), [json.dumps({"content_type": content_type}).encode()])

    def _write_atomic(self, path: str, chunks: Iterable[bytes],
                      before_replace: Callable[[], None] | None = None) -> None:
        """Write to a temp file beside `path`, then rename over it: readers see all or nothing.

        `before_replace` runs once the data is complete but not yet visible (to record metadata),
        so a failed or refused write leaves both the object and its metadata as they were.
        """
        directory = os.path.dirname(path)
        for attempt in range(3):
            self._make_directory(directory)
            try:
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
                break
            except FileNotFoundError:
                # A concurrent delete pruned the directory between makedirs and mkstemp; make it again.
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if before_replace is not None:
                before_replace()
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _make_directory(self, directory: str) -> None:
        self.require_volume()  # the store's own directory is never made again here: that would hide an outage
        os.makedirs(directory, exist_ok=True)

    def _prune(self, directory: str) -> None:
        """Remove directories emptied by a delete, up to (not including) the root and the metadata root."""
        stops = {self._root, self._meta_root}
        while directory not in stops and directory.startswith(self._root + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                return  # not empty (or already gone): stop here
            directory = os.path.dirname(directory)


__all__ = ["AuthorizedPost", "InvalidKey", "LocalBlobStore", "LocalStorageError"]
