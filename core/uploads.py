"""Verifying uploads before a save answers, and storing their originals.

Everything that decides whether an upload may be saved happens here, before anything is stored:
the grant (issued to the caller's org, unexpired, not used), that the object exists, its size,
its type by content, its pixel count and that it is a complete image. The work per upload is I/O
(reading the object) and decoding (in draft mode for JPEGs), and both release the GIL, so a batch
is verified on a bounded pool of threads; only small facts outlive each item, never the bytes.

The original is then stored by a server-side copy of exactly the verified version: a grant lets its
holder overwrite the upload until it expires, and a re-POST must not swap the saved bytes.
"""
from __future__ import annotations

import hashlib
import threading
from collections import Counter
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence, TypeVar

from core.errors import FieldError, InvalidInput, Problem, UnsupportedImageType, UploadRejected
from core.domain import MAX_IMAGES_PER_REALTY, SAME_KIND, UploadGrant
from core.ports import BlobChanged, BlobStore, Caller, ImageFacts, ImageInspector

T = TypeVar("T")


class _Skipped:
    """A call of a batch not made because another one failed."""


_SKIPPED = _Skipped()


@dataclass(frozen=True)
class VerifiedUpload:
    key: str
    """The gateway's key of the uploaded object."""
    client_key: str
    """The key as the client named it (a grant's form key), for error targets."""
    facts: ImageFacts
    size: int
    md5: str
    version: str


class UploadVerifier:
    def __init__(self, blobs: BlobStore, inspector: ImageInspector, pool: Executor, max_upload_bytes: int,
                 max_image_pixels: int) -> None:
        self._blobs = blobs
        self._inspector = inspector
        self._pool = pool
        self.max_upload_bytes = max_upload_bytes
        self.max_image_pixels = max_image_pixels

    def verify_bytes(self, data: bytes, allowed: Sequence[str]) -> ImageFacts:
        """The facts of bytes that are a whole image of an allowed type within the limits."""
        if len(data) > self.max_upload_bytes:
            raise UploadRejected(f"{len(data)} bytes exceeds the limit of {self.max_upload_bytes}")
        facts = self._inspector.inspect(data, self.max_image_pixels)
        if facts.content_type not in allowed:
            raise UnsupportedImageType(f"the file is {facts.content_type}, expected {' or '.join(allowed)}")
        return facts

    def verify_batch(self, caller: Caller, keys: Sequence[str], client_keys: Sequence[str],
                     grants: dict[str, UploadGrant], now: datetime) -> list[VerifiedUpload]:
        """Every upload verified, in order; UploadRejected naming each one that is not, if any is not.

        All are verified, so the caller learns every problem at once.
        """
        results = self._each(lambda key, client_key: self._verify_upload(caller, grants.get(key), key, client_key,
                                                                         now=now), keys, client_keys)
        errors = [r for r in results if isinstance(r, FieldError)]
        if errors:
            raise UploadRejected(f"{len(errors)} of the uploaded images cannot be saved; none was saved", errors)
        return results  # type: ignore[return-value] - no FieldError left

    def store_originals(self, verified: Sequence[VerifiedUpload], targets: Sequence[str]) -> None:
        """Copy each verified upload, exactly as verified, to its image's key."""
        outcomes = self._each(self._store_original, verified, targets)
        errors = [e for e in outcomes if e is not None]
        if errors:
            raise UploadRejected(f"{len(errors)} of the uploads changed while they were being saved; none was "
                                 "saved", errors)

    def _each(self, fn: Callable[..., T], *columns: Sequence) -> list[T]:
        """fn over the rows of `columns` on the pool, in order. Every call has ended before this returns
        or raises: a store that is still writing when its caller gives up would leave a blob behind.

        The first call that raises (storage down or not answering) ends the batch: the calls not yet
        started are skipped, since each would wait out the same timeout, a pool's width at a time.
        """
        failed = threading.Event()

        def call(*row: object) -> T | _Skipped:
            if failed.is_set():  # checked by the thread that takes the call, so none starts after a failure
                return _SKIPPED
            try:
                return fn(*row)
            except BaseException:
                failed.set()
                raise

        futures = [self._pool.submit(call, *row) for row in zip(*columns)]
        wait(futures)
        # The pool takes calls in order, so each skipped one comes after a failed one, whose result() raises first.
        return [future.result() for future in futures]  # type: ignore[misc]

    def _verify_upload(self, caller: Caller, grant: UploadGrant | None, key: str, client_key: str, *,
                       now: datetime) -> VerifiedUpload | FieldError:
        problem = grant_problem(caller, grant, client_key, now)
        if problem is not None:
            return problem
        assert grant is not None
        content = self._blobs.read_version(key, self.max_upload_bytes)
        if content is None:
            return FieldError(client_key, Problem.MISSING, "nothing was uploaded with this key", upload=True)
        if content.data is None:
            return FieldError(client_key, Problem.INVALID,
                              f"{content.size} bytes exceeds the limit of {self.max_upload_bytes}", upload=True)
        try:
            facts = self.verify_bytes(content.data, allowed=SAME_KIND.get(grant.content_type, (grant.content_type,)))
        except UploadRejected as exc:
            return upload_error(client_key, exc)
        return VerifiedUpload(key=key, client_key=client_key, facts=facts, size=content.size,
                              md5=hashlib.md5(content.data).hexdigest(), version=content.version)

    def _store_original(self, upload: VerifiedUpload, target: str) -> FieldError | None:
        try:
            self._blobs.copy(upload.key, target, if_version=upload.version)
        except BlobChanged:
            return FieldError(upload.client_key, Problem.INVALID,
                              "the upload was replaced while it was being saved; save it again", upload=True)
        except FileNotFoundError:
            return FieldError(upload.client_key, Problem.MISSING, "the upload disappeared while it was being saved",
                              upload=True)
        return None


def batch_keys(keys: Sequence[str]) -> list[str]:
    """The keys of a save: 1 to MAX_IMAGES_PER_REALTY of them, none listed twice."""
    if not 1 <= len(keys) <= MAX_IMAGES_PER_REALTY:
        raise InvalidInput(f"A save holds 1 to {MAX_IMAGES_PER_REALTY} images",
                           [FieldError("uploads", Problem.INVALID, "wrong number of items")])
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
    if duplicates:
        raise UploadRejected("A key is listed more than once",
                             [FieldError(k, Problem.INVALID, "listed more than once", upload=True) for k in duplicates])
    return list(keys)


def grant_problem(caller: Caller, grant: UploadGrant | None, key: str, now: datetime) -> FieldError | None:
    # A grant of another org is reported like a missing one: it does not exist for this caller.
    if grant is None or grant.org != caller.org:
        return FieldError(key, Problem.UNKNOWN, "this key was not granted to you", upload=True)
    if grant.used_at is not None:
        return FieldError(key, Problem.INVALID, "this upload was already saved", upload=True)
    if grant.expires_at <= now:
        return FieldError(key, Problem.INVALID, "the upload grant has expired", upload=True)
    return None


def upload_error(key: str, exc: UploadRejected) -> FieldError:
    return FieldError(key, Problem.WRONG_TYPE if isinstance(exc, UnsupportedImageType) else Problem.INVALID,
                      exc.message, upload=True)
