"""What callers ask the gateway to do: one command per use case (core/use_cases), handled by the bus."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
from uuid import UUID

from core.domain import ImageCategory, ImageChange, ImageKind, ImageRef
from core.ports import Caller


class Command:
    """Base of every command."""


@dataclass(frozen=True)
class UploadedImage:
    """One item of a save: an uploaded key plus the caller's metadata."""

    key: str
    description: str | None = None
    original_file_name: str | None = None
    category: ImageCategory | None = None
    hero: bool = False


@dataclass(frozen=True)
class DirectUpload:
    """An image whose bytes arrive with the request (GraphQL multipart)."""

    data: bytes
    filename: str | None
    category: ImageCategory | None = None
    hero: bool = False
    description: str | None = None
    kind: ImageKind = ImageKind.PROPERTY
    room_id: int | None = None


@dataclass(frozen=True)
class IssueGrant(Command):
    caller: Caller
    content_type: str


@dataclass(frozen=True)
class SaveUploads(Command):
    """Attach uploaded objects to a realty (made when missing): all of them, or none."""

    caller: Caller
    realty_uuid: UUID
    items: Sequence[UploadedImage]


@dataclass(frozen=True)
class UploadImage(Command):
    """Attach an image whose bytes came with the request. A room's image may leave out `realty_ref`:
    its room says which realty it belongs to."""

    caller: Caller
    realty_ref: UUID | int | None
    upload: DirectUpload


@dataclass(frozen=True)
class CreateProperty(Command):
    caller: Caller
    name: str | None
    external_id: str | None = None


@dataclass(frozen=True)
class CreateRoom(Command):
    caller: Caller
    realty_ref: UUID | int
    name: str | None


@dataclass(frozen=True)
class UpdateImages(Command):
    """Change images' metadata; with `reorder`, `changes` names the whole set in its new order."""

    caller: Caller
    realty_ref: UUID | int
    changes: Sequence[ImageChange]
    reorder: bool = False


@dataclass(frozen=True)
class UpdateImage(Command):
    caller: Caller
    change: ImageChange


@dataclass(frozen=True)
class SetPublished(Command):
    """Publish or unpublish the named images, or all of the realty's (`refs` None)."""

    caller: Caller
    realty_ref: UUID | int
    refs: Sequence[ImageRef] | None
    published: bool


@dataclass(frozen=True)
class DeleteImage(Command):
    caller: Caller
    ref: ImageRef
    realty_ref: UUID | int | None = None


@dataclass(frozen=True)
class CopyImages(Command):
    """Copy every image of the source to the end of the target (made when missing)."""

    caller: Caller
    target_uuid: UUID
    source_ref: UUID | int


@dataclass(frozen=True)
class CollectGarbage(Command):
    batch: int = 500


@dataclass(frozen=True)
class CreateWebhook(Command):
    caller: Caller
    url: str
    events: Sequence[str] | None = None
    description: str | None = None


@dataclass(frozen=True)
class DeleteWebhook(Command):
    caller: Caller
    webhook_id: UUID


@dataclass(frozen=True)
class SendTestEvent(Command):
    """Send the endpoint a `webhook.test` event now, and say how it answered."""

    caller: Caller
    webhook_id: UUID


@dataclass(frozen=True)
class FanOut(Command):
    """Make the org's new events due to its webhooks (a job)."""

    org: str


@dataclass(frozen=True)
class DeliverEvents(Command):
    """Send a webhook the events due to it (a job)."""

    org: str
    webhook_id: UUID


@dataclass(frozen=True)
class RequeueDeliveries(Command):
    """Queue again the fan-outs and deliveries whose jobs were lost (the workers' sweep)."""
