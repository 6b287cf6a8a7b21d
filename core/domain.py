"""Domain objects and the rules that bind them.

A realty (REST) is a property (GraphQL). It owns an ordered list of images; rooms belong to it and
their images live in the same ordered list, so both APIs see one order, one hero and one cap.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from uuid import UUID

from core.photo_checks import PhotoChecks
from core.errors import FieldError, InvalidInput, InvalidState, NotFound, Problem
from core.events import (
    Event, ImageCreated, ImageDeleted, ImageProcessed, ImagePublished, ImageUnpublished, ImageUpdated,
)

MAX_IMAGES_PER_REALTY = 200
MAX_ROOMS_PER_REALTY = 200
ACCEPTED_UPLOAD_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
"""Content types a REST upload grant may be issued for."""
SAME_KIND = {"image/heic": ("image/heic", "image/heif"), "image/heif": ("image/heif", "image/heic")}
"""Types a file granted as the key may be: phones label HEVC-coded HEIF files either way."""

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/bmp": "bmp", "image/heic": "heic",
              "image/heif": "heif"}


class ImageCategory(str, enum.Enum):
    BUILDING_EXTERIOR = "BUILDING_EXTERIOR"
    COMMON_INDOOR_SPACES = "COMMON_INDOOR_SPACES"
    COMMON_OUTDOOR_SPACES = "COMMON_OUTDOOR_SPACES"
    GENERAL = "GENERAL"
    ROOM = "ROOM"
    SPECIFIC = "SPECIFIC"
    MAP = "MAP"


class ImageKind(str, enum.Enum):
    """What an image depicts, as far as storage is concerned."""

    PROPERTY = "PROPERTY"
    ROOM = "ROOM"
    FLOOR_PLAN = "FLOOR_PLAN"


class ImageType(str, enum.Enum):
    PROPERTY_IMAGE = "PROPERTY_IMAGE"
    ROOM_IMAGE = "ROOM_IMAGE"
    FLOOR_PLAN_IMAGE = "FLOOR_PLAN_IMAGE"


class Processing(str, enum.Enum):
    """Where an image is in making what is derived from its pixels (renditions)."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


class ModerationStatus(str, enum.Enum):
    INTERNAL_NEW = "INTERNAL_NEW"
    EXTERNAL_NEW = "EXTERNAL_NEW"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Rendition:
    """A derived, upright, metadata-free copy of an image, stored beside the original."""

    name: str
    storage_key: str
    width: int
    height: int
    content_type: str = "image/jpeg"


@dataclass
class Image:
    uuid: UUID
    realty_uuid: UUID
    storage_key: str
    content_type: str
    width: int
    height: int
    file_size: int
    md5: str
    created_at: datetime
    modified_at: datetime
    kind: ImageKind = ImageKind.PROPERTY
    room_id: int | None = None
    position: int = 0
    description: str | None = None
    original_file_name: str | None = None
    category: ImageCategory | None = None
    hero: bool = False
    status: ModerationStatus = ModerationStatus.EXTERNAL_NEW
    renditions: tuple[Rendition, ...] = ()
    """Finished renditions only: empty while processing is PENDING or FAILED."""
    processing: Processing = Processing.PENDING
    processing_error: str | None = None
    """Why processing FAILED, in words a person can act on."""
    checks: PhotoChecks | None = None
    """What processing measured on the pixels (core/photo_checks.py); None until READY."""
    id: int | None = None
    """Numeric id assigned by the repository; the GraphQL global id encodes it."""

    @property
    def published(self) -> bool:
        # Published over REST is exactly "active and approved" over GraphQL: one state, two views.
        return self.status is ModerationStatus.APPROVED

    @property
    def type(self) -> ImageType:
        if self.kind is ImageKind.FLOOR_PLAN:
            return ImageType.FLOOR_PLAN_IMAGE
        if self.kind is ImageKind.ROOM or self.category is ImageCategory.ROOM:
            return ImageType.ROOM_IMAGE
        return ImageType.PROPERTY_IMAGE

    # The file names below depend only on what an image keeps for life (its original file name, type,
    # creation time and hash): computed once per object, as a listing asks each of them twice.
    @cached_property
    def extension(self) -> str:
        """The original file name's extension, else the one of the stored type."""
        if self.original_file_name:
            ext = os.path.splitext(self.original_file_name)[1].lstrip(".")
            if ext:
                return ext
        return EXTENSIONS.get(self.content_type, "bin")

    @cached_property
    def filename(self) -> str:
        """`<epoch ms>-<original name without extension>`, the GraphQL source's naming."""
        stem = os.path.splitext(self.original_file_name or "")[0] or str(self.uuid)
        return f"{int(self.created_at.timestamp() * 1000)}-{stem}"

    @cached_property
    def source(self) -> str:
        return f"{self.filename}-{self.md5}.{self.extension}"

    @property
    def blob_keys(self) -> list[str]:
        return [self.storage_key, *(r.storage_key for r in self.renditions)]


@dataclass
class Room:
    realty_uuid: UUID
    org: str
    name: str
    created_at: datetime
    id: int | None = None


@dataclass
class UploadGrant:
    key: str
    org: str
    content_type: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


def check_room_count(rooms: int) -> None:
    """A property holds at most MAX_ROOMS_PER_REALTY rooms: one more must fit beside `rooms`."""
    if rooms >= MAX_ROOMS_PER_REALTY:
        raise InvalidInput(f"A property holds at most {MAX_ROOMS_PER_REALTY} rooms",
                           [FieldError("realty", Problem.INVALID, "too many rooms")])


ImageRef = UUID | int
"""An image is named by its REST uuid or its numeric id (which the GraphQL global id encodes)."""


@dataclass(frozen=True)
class ImageChange:
    """Metadata a caller may change on an existing image; None leaves a field as it is."""

    ref: ImageRef
    description: str | None = None
    category: ImageCategory | None = None
    hero: bool | None = None
    clear_description: bool = False
    clear_category: bool = False

    @classmethod
    def as_given(cls, ref: ImageRef, given: Mapping[str, Any]) -> ImageChange:
        """The change a caller asks for with the fields they sent (`description`, `category`, `hero`): a
        field left out is left as it is; a description or category sent as None is cleared."""
        return cls(ref=ref, description=given.get("description"), category=given.get("category"),
                   hero=given.get("hero"),
                   clear_description="description" in given and given["description"] is None,
                   clear_category="category" in given and given["category"] is None)


@dataclass
class Realty:
    """The aggregate: a realty/property and its ordered images. All image rules are enforced here."""

    uuid: UUID
    org: str
    created_at: datetime
    name: str | None = None
    external_id: str | None = None
    images: list[Image] = field(default_factory=list)
    id: int | None = None
    version: int = 0
    """How many changes its images have seen, as last read: whatever was derived from the images at one
    version (a listing, say) holds for as long as the version stays."""
    events: list[Event] = field(default_factory=list, compare=False, repr=False)
    """What happened to its images since it was loaded; the unit of work publishes them on commit."""

    def image(self, ref: ImageRef) -> Image:
        """An image of this realty by REST uuid or numeric (GraphQL) id."""
        image = self._find(ref)
        if image is None:
            raise NotFound(f"Image {ref} is not an image of this realty")
        return image

    def check_room_for(self, count: int, field: str) -> None:
        """A realty holds at most MAX_IMAGES_PER_REALTY images: `count` more must fit (`field` names them)."""
        if len(self.images) + count > MAX_IMAGES_PER_REALTY:
            raise InvalidInput(
                f"A realty holds at most {MAX_IMAGES_PER_REALTY} images; it has {len(self.images)} "
                f"and {count} more were requested",
                [FieldError(field, Problem.INVALID, f"at most {MAX_IMAGES_PER_REALTY} images per realty")],
            )

    def append(self, new_images: Sequence[Image], now: datetime, field: str) -> None:
        """Add images after the existing ones, in the given order (`field` names them in the request)."""
        self.check_room_for(len(new_images), field)
        heroes = [i for i in new_images if i.hero]
        _at_most_one_hero(len(heroes))
        if heroes:
            self._clear_hero(now)
        for image in new_images:
            image.realty_uuid = self.uuid
            self.images.append(image)
            self.events.append(ImageCreated(self.org, image, now))
        self._renumber(now)

    def apply(self, changes: Sequence[ImageChange], now: datetime, reorder: bool) -> None:
        """Change metadata; with `reorder`, the changes must name exactly the current set, in the new order."""
        unknown = [str(c.ref) for c in changes if self._find(c.ref) is None]
        if unknown:
            raise InvalidInput("Not images of this realty: " + ", ".join(unknown),
                               [FieldError("images", Problem.INVALID, f"{u} is not an image of this realty")
                                for u in unknown])
        targets = [self.image(c.ref) for c in changes]
        if len({id(i) for i in targets}) != len(targets):
            raise InvalidInput("An image is listed more than once",
                               [FieldError("images", Problem.INVALID, "duplicate image")])
        if reorder and len(targets) != len(self.images):
            missing = [str(i.uuid) for i in self.images if all(i is not t for t in targets)]
            raise InvalidInput("The list must name exactly the realty's current images; missing: " + ", ".join(missing),
                               [FieldError("images", Problem.INVALID, f"{u} is missing") for u in missing])
        _at_most_one_hero(sum(1 for c in changes if c.hero))
        if any(c.hero for c in changes):
            self._clear_hero(now)
        for image, change in zip(targets, changes):
            if _apply_change(image, change, now):
                self.events.append(ImageUpdated(self.org, image, now))
        if reorder:
            self.images = targets
        self._renumber(now)

    def remove(self, ref: ImageRef, now: datetime) -> Image:
        image = self.image(ref)
        if image.published:
            raise InvalidState("A published image cannot be deleted; unpublish it first")
        self.images.remove(image)
        self.events.append(ImageDeleted(self.org, image, now))
        self._renumber(now)
        return image

    def finish_processing(self, ref: ImageRef, now: datetime, renditions: Sequence[Rendition] = (),
                          error: str | None = None, checks: PhotoChecks | None = None) -> Image | None:
        """Record how an image's processing ended: its renditions, or (with `error`) why it failed.

        Only a PENDING image takes an outcome: a job may run twice, or after the image was deleted.
        Returns the image when it took the outcome, else None.
        """
        image = self._find(ref)
        if image is None or image.processing is not Processing.PENDING:
            return None
        if error is None:
            image.renditions = tuple(renditions)
            image.checks = checks
            image.processing = Processing.READY
        else:
            image.processing = Processing.FAILED
            image.processing_error = error
        self.events.append(ImageProcessed(self.org, image, now))
        return image

    def set_published(self, refs: Iterable[ImageRef] | None, published: bool, now: datetime) -> None:
        targets = self.images if refs is None else [self.image(r) for r in refs]
        status = ModerationStatus.APPROVED if published else ModerationStatus.PENDING
        for image in targets:
            if image.published != published:
                image.status = status
                image.modified_at = now
                self.events.append((ImagePublished if published else ImageUnpublished)(self.org, image, now))

    def _find(self, ref: ImageRef) -> Image | None:
        return next((i for i in self.images if ref == (i.uuid if isinstance(ref, UUID) else i.id)), None)

    @property
    def hero(self) -> Image | None:
        return next((i for i in self.images if i.hero), None)

    def _clear_hero(self, now: datetime) -> None:
        for image in self.images:
            if image.hero:
                image.hero = False
                image.modified_at = now
                self.events.append(ImageUpdated(self.org, image, now))

    def _renumber(self, now: datetime) -> None:
        # Positions are always contiguous from 0 and equal to list order.
        for position, image in enumerate(self.images):
            if image.position != position:
                image.position = position
                self.events.append(ImageUpdated(self.org, image, now))


def _at_most_one_hero(heroes: int) -> None:
    """A realty has at most one hero image: a request may make one image the hero, not several."""
    if heroes > 1:
        raise InvalidInput("At most one image can be the hero",
                           [FieldError("hero", Problem.INVALID, "more than one hero")])


def _apply_change(image: Image, change: ImageChange, now: datetime) -> bool:
    """Apply a change; whether anything changed."""
    before = (image.description, image.category, image.hero)
    if change.description is not None or change.clear_description:
        image.description = change.description
    if change.category is not None or change.clear_category:
        image.category = change.category
    if change.hero is not None:
        image.hero = change.hero
    if (image.description, image.category, image.hero) == before:
        return False
    image.modified_at = now
    return True


def copy_of(image: Image, new_uuid: UUID, realty_uuid: UUID, now: datetime) -> Image:
    """A copy for another realty: new id, not published, not attached to a room.

    It shares the original's stored blobs (the store counts the images using each one, so deleting
    either image never breaks the other) and its processing state: a copy of a PENDING image is
    PENDING too, and gets renditions of its own.
    """
    return replace(
        image,
        id=None,
        uuid=new_uuid,
        realty_uuid=realty_uuid,
        kind=ImageKind.PROPERTY if image.kind is ImageKind.ROOM else image.kind,
        room_id=None,
        status=ModerationStatus.EXTERNAL_NEW,
        created_at=now,
        modified_at=now,
    )
