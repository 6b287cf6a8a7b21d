"""Processing: what is derived from an image's pixels (its renditions), made by jobs after the save.

A save stores the verified original and answers at once with the image PENDING; a `RenderJob`
then makes the renditions and records the outcome: READY with them, or FAILED with a reason a
person can act on. Jobs are delivered at least once, so `render` is idempotent: rendition keys
depend only on the image, and only a PENDING image takes an outcome. The database stays the
source of truth: `requeue_stale` queues again whatever job a crash or a lost message left undone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence
from uuid import UUID

from core.dependencies import Deps
from core.domain import Rendition
from core.errors import Conflict, Unavailable, UploadRejected
from core.photo_checks import PhotoChecks
from core.ports import RenderJob, RenditionSpec

log = logging.getLogger(__name__)

JPEG_RENDITIONS = (RenditionSpec("thumbnail", 320), RenditionSpec("web", 1280), RenditionSpec("large", 2048))
WEBP_RENDITIONS = tuple(RenditionSpec(f"{spec.name}Webp", spec.max_side, "image/webp") for spec in JPEG_RENDITIONS)
RENDITIONS = JPEG_RENDITIONS + WEBP_RENDITIONS
"""Each size as JPEG and as WebP, for a page's `srcset` (CONTRACT §11). No AVIF: at its fastest setting
libaom took 165 ms of CPU for the three sizes of a 12 MP photo, whose whole JPEG render takes about 260 ms,
and the render may grow by 30% (bench/photo_checks.py); WebP at method 0 takes about 70 ms."""
EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}

MISSING_ORIGINAL = "The original file is missing from storage; delete this image and upload it again."
INTERNAL_FAILURE = ("The image could not be processed because of an internal error; delete it and upload it "
                    "again, and tell support if that fails too.")


@dataclass(frozen=True)
class ProcessingLimits:
    stale_after: timedelta = timedelta(minutes=2)
    """A PENDING image whose job was queued or started longer ago than this is queued again, whatever
    the queue holds: a lost job must not wait for others to drain, and a duplicate costs one read."""
    batch: int = 500


def rendition_keys(image_uuid: UUID, attempt: int) -> list[str]:
    """Where one render attempt stores its renditions: keys of its own, so that what a failed attempt
    left behind (reserved, or tombstoned for deletion) never names what a later attempt writes."""
    return [f"images/{image_uuid}/{spec.name}-{attempt}.{EXTENSIONS[spec.content_type]}" for spec in RENDITIONS]


class ImageProcessor:
    def __init__(self, deps: Deps, limits: ProcessingLimits = ProcessingLimits()) -> None:
        self._uow = deps.uow
        self._ledger = deps.ledger
        self._blobs = deps.blobs
        self._inspector = deps.inspector
        self._clock = deps.clock
        self._jobs = deps.jobs
        self.limits = limits

    def render(self, job: RenderJob) -> None:
        """Make and record the renditions of one image. Unavailable and Conflict mean "retry later";
        anything else ends in FAILED, since running the same code on the same bytes again would not help."""
        try:
            self._render(job)
        except (Unavailable, Conflict):
            raise
        except Exception:  # noqa: BLE001 - a bug must not leave the image PENDING (and retried) forever
            log.exception("render job for image %s failed", job.image_uuid)
            self._finish(job, error=INTERNAL_FAILURE)

    def _render(self, job: RenderJob) -> None:
        # Done already, or deleted: nothing to do. What an interrupted attempt wrote stays reserved,
        # and gc removes it once its grace has passed.
        with self._uow() as uow:
            attempt = uow.processing.start(job.org, job.image_uuid, self._clock.now())
            image = uow.realties.find_image(job.org, job.image_uuid) if attempt is not None else None
            uow.commit()
        if attempt is None or image is None:
            return
        keys = rendition_keys(job.image_uuid, attempt)
        try:
            result = self._inspector.render_checked(self._blobs.read(image.storage_key), RENDITIONS)
        except FileNotFoundError:
            self._finish(job, error=MISSING_ORIGINAL)
            return
        except UploadRejected as exc:
            self._finish(job, error=f"The image could not be rendered ({exc.message}). Save it again with an image "
                                    "editor as JPEG or PNG, then upload it again.")
            return
        rendered = result.renditions
        renditions = [Rendition(spec.name, key, r.width, r.height, r.content_type)
                      for spec, key, r in zip(RENDITIONS, keys, rendered)]
        with self._ledger.writing(keys):
            for rendition, made in zip(renditions, rendered):
                self._blobs.put(rendition.storage_key, made.data, made.content_type)
            taken = self._finish(job, renditions=renditions, checks=result.checks)
        if not taken:
            self._ledger.discard(keys)  # the image went meanwhile, or a twin attempt finished first

    def _finish(self, job: RenderJob, renditions: Sequence[Rendition] = (), error: str | None = None,
                checks: PhotoChecks | None = None) -> bool:
        """Record the outcome; False when the image no longer takes one (deleted, or finished by a twin job)."""
        with self._uow() as uow:
            realty = uow.realties.lock(job.org, job.realty_uuid)
            image = (realty.finish_processing(job.image_uuid, self._clock.now(), renditions, error, checks)
                     if realty else None)
            if image is None:
                return False
            uow.realties.save_images(realty)
            self._ledger.use(uow, [r.storage_key for r in renditions])
            uow.commit()
        return True

    def requeue_stale(self) -> int:
        """Queue again the jobs of images left PENDING (a lost message, a crash between commit and
        enqueue, a worker killed mid-job); returns how many."""
        now = self._clock.now()
        with self._uow() as uow:
            jobs = uow.processing.claim_stale(now - self.limits.stale_after, now, self.limits.batch)
            uow.commit()
        if jobs:
            log.info("queueing %d render jobs again", len(jobs))
            self._jobs.enqueue(jobs)
        return len(jobs)
