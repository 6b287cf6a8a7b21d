"""The persistence ports: repositories and the unit of work that spans them; `adapters/peewee_*` and the
tests' fakes implement them."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence
from uuid import UUID

from core.domain import Image, Realty, Room, UploadGrant
from core.media_query import MediaPage, MediaQuery
from core.ports import RenderJob
from core.photo_checks import Duplicate
from core.webhooks import Attempt, Delivery, Webhook

class RealtyRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, org: str, ref: UUID | int) -> Realty | None:
        """The realty with its images in order, or None when missing or owned by another org."""

    @abc.abstractmethod
    def get_many(self, org: str, ids: Sequence[int]) -> list[Realty]:
        """Several realties with their images, in a constant number of queries."""

    @abc.abstractmethod
    def lock(self, org: str, uuid: UUID, created_at: datetime | None = None) -> Realty | None:
        """Like `get`, but holds the realty exclusively until the unit of work ends.

        With `created_at`, a realty nobody has written yet comes into being for `org`, created then. A
        uuid owned by another org is None either way: it does not exist for this caller.
        """

    @abc.abstractmethod
    def add(self, realty: Realty) -> None:
        """Insert a new realty (no images); sets `realty.id`."""

    @abc.abstractmethod
    def save_images(self, realty: Realty) -> None:
        """Persist the realty's image list as it now stands: inserts, updates, deletions, order."""

    @abc.abstractmethod
    def find_image(self, org: str, ref: UUID | int) -> Image | None:
        """An image by REST uuid or numeric id, within the org."""

    @abc.abstractmethod
    def realty_of_image(self, org: str, ref: UUID | int) -> UUID | None:
        """The uuid of the realty holding the image, within the org."""


class MediaRepository(abc.ABC):
    @abc.abstractmethod
    def published(self, org: str, query: MediaQuery) -> MediaPage:
        """A page of the org's published images, filtered and ordered in the database by an index."""


class RoomRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, org: str, room_id: int) -> Room | None: ...

    @abc.abstractmethod
    def list_for(self, org: str, realty_uuids: Sequence[UUID]) -> list[Room]: ...

    @abc.abstractmethod
    def add(self, room: Room) -> None:
        """Insert; sets `room.id`."""


class GrantRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, grant: UploadGrant) -> None: ...

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> dict[str, UploadGrant]: ...

    @abc.abstractmethod
    def claim(self, org: str, keys: Sequence[str], now: datetime) -> int:
        """Mark unused, unexpired grants of `org` as used; returns how many were claimed.

        Atomic per grant, so two racing saves of one key cannot both succeed.
        """

    @abc.abstractmethod
    def stale(self, created_before: datetime, limit: int) -> list[UploadGrant]:
        """Grants issued before the cut-off, for clean-up."""

    @abc.abstractmethod
    def delete(self, keys: Sequence[str]) -> None: ...


class TombstoneRepository(abc.ABC):
    """Blob keys that must be deleted. Written in the same transaction as the metadata that drops
    them, so a failed blob delete is retried instead of forgotten."""

    @abc.abstractmethod
    def add(self, keys: Iterable[str], now: datetime) -> None: ...

    @abc.abstractmethod
    def list(self, limit: int) -> list[str]: ...

    @abc.abstractmethod
    def remove(self, keys: Iterable[str]) -> None: ...


class BlobRepository(abc.ABC):
    """Every stored blob of an image (originals, renditions) and how many images use it.

    Copies of an image share its blobs, so a blob goes only when its last user does. A blob is
    *reserved* (used by no image yet) before it is written, so that whatever happens to the writer,
    the database knows of it and `gc` can remove it.
    """

    @abc.abstractmethod
    def reserve(self, keys: Iterable[str], now: datetime) -> None:
        """Record blobs about to be written; a key already recorded stays as it is."""

    @abc.abstractmethod
    def use(self, keys: Sequence[str]) -> int:
        """One more use of each key (a key listed n times, n more); returns how many distinct keys
        were recorded. A key not recorded (never reserved, or gone with its last user) is not added."""

    @abc.abstractmethod
    def release(self, keys: Sequence[str]) -> list[str]:
        """One use fewer of each key; returns the keys now used by no image, which are forgotten and
        whose blobs must be deleted."""

    @abc.abstractmethod
    def unused(self, keys: Sequence[str]) -> list[str]:
        """Of `keys`, those no image uses (reserved only, or never recorded), forgotten; their blobs
        must be deleted. Keys in use are left alone."""

    @abc.abstractmethod
    def abandoned(self, reserved_before: datetime, limit: int) -> list[str]:
        """Keys reserved before the cut-off and still used by no image: their writer died."""

    @abc.abstractmethod
    def recorded(self, keys: Sequence[str]) -> list[str]:
        """Of `keys`, those recorded now (reserved or used): their blobs must stay."""


class ProcessingRepository(abc.ABC):
    @abc.abstractmethod
    def start(self, org: str, image_uuid: UUID, now: datetime) -> int | None:
        """Begin a render attempt of a PENDING image of the org: its number, never given to any earlier
        attempt (1, 2, ...), with `now` recorded as the image's last sign of progress. None when the image
        is not PENDING (done already, or deleted)."""

    @abc.abstractmethod
    def claim_stale(self, queued_before: datetime, now: datetime, limit: int) -> list[RenderJob]:
        """Jobs of PENDING images whose job was last queued or started before the cut-off, marked as
        queued `now`.

        Two callers at once never claim the same image.
        """

    @abc.abstractmethod
    def oldest_pending(self) -> datetime | None:
        """When the PENDING image saved longest ago was saved; None when no image is PENDING."""


@dataclass(frozen=True)
class RequestRecord:
    """Who holds an idempotency key of an org, for which request, and its answer once there is one."""

    org: str
    key: str
    operation: str
    fingerprint: str
    owner: str
    """Names the run doing the work; only it may record the answer or free the key."""
    created_at: datetime
    answer: bytes | None = None
    done: bool = False
    """Its write committed (marked in the write's own transaction), whether or not its answer was kept."""


class RequestRepository(abc.ABC):
    """Writes done at most once per key (core/idempotency.py)."""

    @abc.abstractmethod
    def claim(self, record: RequestRecord, expired_before: datetime) -> RequestRecord | None:
        """Record `record` unless its org and key are held; returns the record holding them now (`record`
        itself when it was recorded), or None when the holder went away meanwhile. A holder created
        before `expired_before` no longer counts and is replaced. Of two racing claims one wins."""

    @abc.abstractmethod
    def take_over(self, org: str, key: str, owner: str, new_owner: str, now: datetime) -> bool:
        """Hand a record still without answer, and not done, from `owner` to `new_owner`; False when it changed
        meanwhile."""

    @abc.abstractmethod
    def keep_answer(self, org: str, key: str, owner: str, answer: bytes) -> None: ...

    @abc.abstractmethod
    def mark_done(self, org: str, key: str, owner: str) -> None:
        """The write committed: the key is never freed nor taken over again."""

    @abc.abstractmethod
    def forget(self, org: str, key: str, owner: str) -> None:
        """Remove the record while it has no answer and is not done, so the key can be used again."""

    @abc.abstractmethod
    def expire(self, created_before: datetime, limit: int) -> int:
        """Remove up to `limit` records created before the cut-off; returns how many."""


@dataclass(frozen=True)
class OutboxEvent:
    """A published event as the outbox keeps it (CONTRACT §10)."""

    org: str
    id: str
    type: str
    occurred_at: datetime
    data: dict
    """As core.image_documents.event_data makes it: storage keys where the URLs go."""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    """The event's place in its org's feed: 1, 2, ... in commit order, never reused."""
    event: OutboxEvent


@dataclass(frozen=True)
class FeedBounds:
    last: int
    """The org's latest event (0: none yet)."""
    pruned_through: int
    """Events up to this one were removed after the retention time (0: none)."""


class EventRepository(abc.ABC):
    """The outbox: published events, in the same transaction as the changes they tell of."""

    @abc.abstractmethod
    def add(self, events: Sequence[OutboxEvent]) -> None:
        """Append, numbering each org's events on from its last; the numbers follow commit order (two
        transactions adding events of one org take turns)."""

    @abc.abstractmethod
    def after(self, org: str, seq: int, limit: int) -> list[StoredEvent]:
        """The org's events after `seq`, oldest first."""

    @abc.abstractmethod
    def numbered(self, org: str, seqs: Sequence[int]) -> list[StoredEvent]:
        """The org's events of these numbers that are still kept, in order."""

    @abc.abstractmethod
    def bounds(self, org: str) -> FeedBounds: ...

    @abc.abstractmethod
    def prune(self, occurred_before: datetime, limit: int) -> int:
        """Remove up to `limit` events that occurred before the cut-off; returns how many."""

    @abc.abstractmethod
    def lock_fan_out(self, org: str) -> int:
        """How far the org's events were handed to its webhooks; held until the unit of work ends, so
        two fan-outs of one org take turns."""

    @abc.abstractmethod
    def set_fan_out(self, org: str, seq: int) -> None: ...

    @abc.abstractmethod
    def not_fanned_out(self, limit: int) -> list[str]:
        """Orgs with events not yet handed to their webhooks."""


class PhotoIndex(abc.ABC):
    """The org's photos by perceptual hash and by bytes, kept by the realty repository as images are saved
    and deleted (CONTRACT §11)."""

    @abc.abstractmethod
    def duplicates(self, org: str, images: Sequence[Image], max_distance: int) -> dict[UUID, list[Duplicate]]:
        """For each of `images` (by uuid), the org's other images within `max_distance` bits of its perceptual
        hash or with the same bytes, nearest first. Found through an index, never by reading the org's images."""


class UnitOfWork(abc.ABC):
    """One transaction over every repository. Leaving the block without `commit()` rolls back."""

    realties: RealtyRepository
    media: MediaRepository
    photos: PhotoIndex
    rooms: RoomRepository
    grants: GrantRepository
    tombstones: TombstoneRepository
    blobs: BlobRepository
    processing: ProcessingRepository
    requests: RequestRepository
    events: EventRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class UnitOfWorkFactory(abc.ABC):
    @abc.abstractmethod
    def __call__(self, write: bool = True) -> UnitOfWork:
        """A new unit of work; `write` ones serialize writers from their start where the database needs it."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise when the database does not answer."""



class WebhookRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, webhook: Webhook) -> None: ...

    @abc.abstractmethod
    def get(self, org: str, webhook_id: UUID) -> Webhook | None: ...

    @abc.abstractmethod
    def list(self, org: str) -> list[Webhook]:
        """The org's webhooks, oldest first."""

    @abc.abstractmethod
    def count(self, org: str) -> int: ...

    @abc.abstractmethod
    def update(self, webhook: Webhook) -> None:
        """Write its failure streak and whether it is disabled."""

    @abc.abstractmethod
    def delete(self, org: str, webhook_id: UUID) -> bool:
        """Remove it with its deliveries; False when it did not exist."""


class DeliveryRepository(abc.ABC):
    """Events due to webhooks, and the log of every attempt."""

    @abc.abstractmethod
    def add(self, webhook_id: UUID, event_seqs: Sequence[int], due: datetime) -> int:
        """Make these events due to the webhook (one delivery per event, however often asked); returns
        how many were new."""

    @abc.abstractmethod
    def claim(self, webhook_id: UUID, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Deliveries of the webhook due by `now`, oldest event first, each made due again only at
        `lease_until` (so a claimer that dies leaves them for a later one). Two claimers at once never
        get the same delivery."""

    @abc.abstractmethod
    def settle(self, attempts: Sequence[tuple[Delivery, Attempt]]) -> None:
        """Record each attempt in the log, and what is due next for its delivery: nothing (delivered or
        given up), or the delivery again at `attempt.next_attempt_at`."""

    @abc.abstractmethod
    def postpone(self, deliveries: Sequence[Delivery], until: datetime) -> None:
        """Make claimed deliveries due again at `until`, as not attempted."""

    @abc.abstractmethod
    def next_due(self, webhook_id: UUID) -> datetime | None:
        """When the webhook's earliest pending delivery is due."""

    @abc.abstractmethod
    def overdue(self, due_before: datetime, limit: int) -> list[tuple[str, UUID]]:
        """The org and id of webhooks with deliveries due before the cut-off: their jobs were lost."""

    @abc.abstractmethod
    def attempts(self, webhook_id: UUID, limit: int) -> list[Attempt]:
        """The latest attempts, newest first."""

    @abc.abstractmethod
    def prune(self, before: datetime, limit: int) -> int:
        """Forget deliveries settled, and attempts made, before the cut-off; returns how many rows."""

    @abc.abstractmethod
    def give_up(self, webhook_id: UUID, now: datetime, reason: str) -> int:
        """End every pending delivery of a disabled webhook as failed; returns how many."""
