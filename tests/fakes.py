"""In-memory implementations of the core's ports, for the core's unit tests.

The unit of work works on a private copy of the data and publishes it on commit, and writers hold
one lock from start to end (like SQLite's BEGIN IMMEDIATE), so the service's transactional
behaviour is exercised for real.
"""
from __future__ import annotations

import copy
import enum
import hashlib
import operator
import threading
import time
import uuid
import re
from dataclasses import dataclass, field, is_dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Sequence
from uuid import UUID

from core.domain import ImageKind, Processing, Realty, Room, UploadGrant
from core.media_query import AllOf, AnyOf, MediaField, MediaPage, MediaRecord, Negation
from core.webhooks import Attempt, Delivery, Webhook
from core.errors import TimedOut, Unavailable, UnsupportedImageType, UploadRejected
from core.photo_checks import MAX_DUPLICATES, Duplicate, PhotoChecks, distance
from core.ports import (
    BlobChanged, BlobContent, BlobStore, Clock, DeliveryJob, FanOutJob, IdGenerator, ImageFacts, ImageInspector,
    JobQueue, RenderedImage, RenderJob, RenderResult, RenditionSpec, SendResult, UploadForm, WebhookMessage, WebhookSender,
)
from core.repositories import (
    BlobRepository, DeliveryRepository, EventRepository, FeedBounds, GrantRepository, PhotoIndex, ProcessingRepository,
    MediaRepository, RealtyRepository, RequestRecord, RequestRepository, RoomRepository, StoredEvent,
    TombstoneRepository, UnitOfWork,
    UnitOfWorkFactory, WebhookRepository,
)


_IMMUTABLE = (str, bytes, int, float, type(None), UUID, datetime, timedelta, enum.Enum)


def _clone(value):
    """A copy sharing nothing mutable with `value`: what copy.deepcopy makes of the plain data held here
    (dataclasses, lists, dicts, sets, tuples of immutable values), ten times faster. Anything else is
    deep-copied."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    if isinstance(value, dict):
        return {_clone(k): _clone(v) for k, v in value.items()}
    if isinstance(value, set):
        return {_clone(v) for v in value}
    if is_dataclass(value) and not isinstance(value, type):
        clone = copy.copy(value)
        for name, field_value in vars(value).items():  # the fields, and what a cached_property keeps
            object.__setattr__(clone, name, _clone(field_value))
        return clone
    return copy.deepcopy(value)


@dataclass
class _Data:
    realties: dict[UUID, Realty] = field(default_factory=dict)
    rooms: dict[int, Room] = field(default_factory=dict)
    grants: dict[str, UploadGrant] = field(default_factory=dict)
    tombstones: set[str] = field(default_factory=set)
    blob_refs: dict[str, int] = field(default_factory=dict)
    blob_reserved_at: dict[str, datetime] = field(default_factory=dict)
    queued_at: dict[UUID, datetime] = field(default_factory=dict)
    """When each image's render job was last queued or started (set on insert, like the real repository)."""
    render_attempts: dict[UUID, int] = field(default_factory=dict)
    requests: dict[tuple[str, str], RequestRecord] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    feeds: dict[str, FeedBounds] = field(default_factory=dict)
    fanned_out: dict[str, int] = field(default_factory=dict)
    webhooks: dict[UUID, Webhook] = field(default_factory=dict)
    deliveries: dict[int, dict] = field(default_factory=dict)
    """Delivery id -> {"webhook", "seq", "attempts", "due"}."""
    attempts: list[Attempt] = field(default_factory=list)
    stamps: dict[UUID, tuple[datetime, datetime]] = field(default_factory=dict)
    """Image uuid -> (changed_at, media_changed_at), stamped as the real repository does."""
    media_clock: dict[str, datetime] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class _Realties(RealtyRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def get(self, org, ref):
        found = self._d.realties.get(ref) if isinstance(ref, UUID) else \
            next((r for r in self._d.realties.values() if r.id == ref), None)
        return _clone(found) if found and found.org == org else None

    def get_many(self, org, ids):
        return [r for i in ids if (r := self.get(org, i))]

    def lock(self, org, uuid, created_at=None):
        if uuid not in self._d.realties and created_at is not None:
            self.add(Realty(uuid=uuid, org=org, created_at=created_at))
        return self.get(org, uuid)

    def add(self, realty):
        realty.id = self._d.new_id()
        self._d.realties[realty.uuid] = _clone(replace(realty, events=[], images=[]))
        if realty.images:
            self.save_images(realty)

    def save_images(self, realty):
        before = {i.uuid: i for i in self._d.realties[realty.uuid].images}
        stamp = None
        for image in realty.images:
            if image.id is None:
                image.id = self._d.new_id()
                self._d.queued_at[image.uuid] = image.created_at
            old = before.get(image.uuid)
            if old is None or old != image:
                if stamp is None:  # writers hold one lock here, so stamps rise in commit order
                    last = self._d.media_clock.get(realty.org, datetime.min.replace(tzinfo=timezone.utc))
                    stamp = max(datetime.now(timezone.utc), last + timedelta(microseconds=1))
                    self._d.media_clock[realty.org] = stamp
                files_changed = old is None or (old.storage_key, old.renditions) != (image.storage_key, image.renditions)
                self._d.stamps[image.uuid] = (stamp, stamp if files_changed else self._d.stamps[image.uuid][1])
        self._d.realties[realty.uuid].images = _clone(realty.images)

    def _all_images(self, org):
        return [i for r in self._d.realties.values() if r.org == org for i in r.images]

    def find_image(self, org, ref):
        attr = "uuid" if isinstance(ref, UUID) else "id"
        return _clone(next((i for i in self._all_images(org) if getattr(i, attr) == ref), None))

    def realty_of_image(self, org, ref):
        image = self.find_image(org, ref)
        return image.realty_uuid if image else None


class _Media(MediaRepository):
    """The feed evaluated in Python over every image: the real repository does it in SQL by an index."""

    def __init__(self, data: _Data) -> None:
        self._d = data

    def published(self, org, query):
        records = [MediaRecord.of(i, *self._d.stamps[i.uuid]) for r in self._d.realties.values()
                   if r.org == org for i in r.images if i.published]
        matching = [r for r in records if query.where is None or _holds(query.where, r)]
        page = sorted(matching, key=lambda r: _order_key(query, r))
        if query.after is not None:
            mark = (query.after.changed_at, query.after.image)
            page = [r for r in page if ((r.changed_at, r.image) < mark if query.order[0].descending
                                        else (r.changed_at, r.image) > mark)]
        page = page[query.offset:query.offset + query.limit + 1]
        return MediaPage(page[:query.limit], more=len(page) > query.limit,
                         total=len(matching) if query.count else None)


def _media_value(field, record):
    return {MediaField.IMAGE: record.image, MediaField.REALTY: record.realty, MediaField.CHANGED_AT: record.changed_at,
            MediaField.FLOOR_PLAN: record.kind is ImageKind.FLOOR_PLAN, MediaField.HERO: record.hero,
            MediaField.POSITION: record.position}[field]


def _order_key(query, record):
    class Key:  # one direction per field: compare field by field, flipped where descending
        def __lt__(self, other):
            for o in query.order:
                a, b = _media_value(o.field, record), _media_value(o.field, other.record)
                if a != b:
                    return (a > b) if o.descending else (a < b)
            return False
    key = Key()
    key.record = record
    return key


def _holds(condition, record) -> bool:
    if isinstance(condition, AllOf):
        return all(_holds(c, record) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(_holds(c, record) for c in condition.conditions)
    if isinstance(condition, Negation):
        return not _holds(condition.condition, record)
    compare = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
               "le": operator.le}[condition.operator.value]
    return compare(_media_value(condition.field, record), condition.value)


class _Photos(PhotoIndex):
    """A scan of the org's images: what the real index must answer, found the slow way."""

    def __init__(self, data: _Data) -> None:
        self._d = data

    def duplicates(self, org, images, max_distance):
        others = [(r.uuid, i) for r in self._d.realties.values() if r.org == org for i in r.images]
        answer = {}
        for image in images:
            matches = []
            for realty_uuid, other in others:
                if other.uuid == image.uuid:
                    continue
                near = (distance(image.checks.perceptual_hash, other.checks.perceptual_hash)
                        if image.checks and other.checks else None)
                near = near if near is not None and near <= max_distance else None
                same = other.md5 == image.md5
                if same or near is not None:
                    matches.append(Duplicate(realty_uuid, other.uuid, near or 0, same))
            answer[image.uuid] = sorted(matches, key=lambda m: (m.distance, str(m.realty_uuid), str(m.image_uuid)))[
                :MAX_DUPLICATES]
        return answer


class _Rooms(RoomRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def get(self, org, room_id):
        room = self._d.rooms.get(room_id)
        return _clone(room) if room and room.org == org else None

    def list_for(self, org, realty_uuids):
        return [_clone(r) for r in self._d.rooms.values() if r.org == org and r.realty_uuid in realty_uuids]

    def add(self, room):
        room.id = self._d.new_id()
        self._d.rooms[room.id] = _clone(room)


class _Grants(GrantRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, grant):
        self._d.grants[grant.key] = _clone(grant)

    def get_many(self, keys):
        return {k: _clone(self._d.grants[k]) for k in keys if k in self._d.grants}

    def claim(self, org, keys, now):
        claimed = 0
        for key in keys:
            g = self._d.grants.get(key)
            if g and g.org == org and g.used_at is None and g.expires_at > now:
                g.used_at = now
                claimed += 1
        return claimed

    def stale(self, created_before, limit):
        return [_clone(g) for g in self._d.grants.values() if g.created_at < created_before][:limit]

    def delete(self, keys):
        for key in keys:
            self._d.grants.pop(key, None)


class _Tombstones(TombstoneRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, keys, now):
        self._d.tombstones.update(keys)

    def list(self, limit):
        return sorted(self._d.tombstones)[:limit]

    def remove(self, keys):
        self._d.tombstones.difference_update(keys)


class _Blobs(BlobRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def reserve(self, keys, now):
        for key in keys:
            if key not in self._d.blob_refs:
                self._d.blob_refs[key] = 0
                self._d.blob_reserved_at[key] = now

    def use(self, keys):
        counts = {k: list(keys).count(k) for k in set(keys)}
        known = [k for k in counts if k in self._d.blob_refs]
        for key in known:
            self._d.blob_refs[key] += counts[key]
        return len(known)

    def release(self, keys):
        gone = []
        for key in set(keys):
            if key in self._d.blob_refs:
                self._d.blob_refs[key] -= list(keys).count(key)
                if self._d.blob_refs[key] <= 0:
                    self._forget(key)
                    gone.append(key)
        return sorted(gone)

    def unused(self, keys):
        gone = sorted(k for k in set(keys) if self._d.blob_refs.get(k, 0) <= 0)
        for key in gone:
            self._forget(key)
        return gone

    def abandoned(self, reserved_before, limit):
        return sorted(k for k, n in self._d.blob_refs.items()
                      if n == 0 and self._d.blob_reserved_at[k] < reserved_before)[:limit]

    def recorded(self, keys):
        return [k for k in dict.fromkeys(keys) if k in self._d.blob_refs]

    def _forget(self, key):
        self._d.blob_refs.pop(key, None)
        self._d.blob_reserved_at.pop(key, None)


class _Processing(ProcessingRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def start(self, org, image_uuid, now):
        realty = next((r for r in self._d.realties.values()
                       if r.org == org and any(i.uuid == image_uuid for i in r.images)), None)
        if realty is None or realty.image(image_uuid).processing is not Processing.PENDING:
            return None
        self._d.render_attempts[image_uuid] = self._d.render_attempts.get(image_uuid, 0) + 1
        self._d.queued_at[image_uuid] = now
        return self._d.render_attempts[image_uuid]

    def claim_stale(self, queued_before, now, limit):
        jobs = []
        for realty in self._d.realties.values():
            for image in realty.images:
                if image.processing is Processing.PENDING and self._d.queued_at[image.uuid] < queued_before:
                    jobs.append(RenderJob(realty.org, realty.uuid, image.uuid))
        for job in jobs[:limit]:
            self._d.queued_at[job.image_uuid] = now
        return jobs[:limit]

    def oldest_pending(self):
        return min((image.created_at for realty in self._d.realties.values() for image in realty.images
                    if image.processing is Processing.PENDING), default=None)


class _Requests(RequestRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def claim(self, record, expired_before):
        slot = (record.org, record.key)
        holder = self._d.requests.get(slot)
        if holder is None or holder.created_at < expired_before:
            self._d.requests[slot] = holder = record
        return holder

    def take_over(self, org, key, owner, new_owner, now):
        holder = self._d.requests.get((org, key))
        if holder is None or holder.owner != owner or holder.answer is not None or holder.done:
            return False
        self._d.requests[(org, key)] = replace(holder, owner=new_owner, created_at=now)
        return True

    def keep_answer(self, org, key, owner, answer):
        holder = self._d.requests.get((org, key))
        if holder is not None and holder.owner == owner:
            self._d.requests[(org, key)] = replace(holder, answer=bytes(answer))

    def mark_done(self, org, key, owner):
        holder = self._d.requests.get((org, key))
        if holder is not None and holder.owner == owner:
            self._d.requests[(org, key)] = replace(holder, done=True)

    def forget(self, org, key, owner):
        holder = self._d.requests.get((org, key))
        if holder is not None and holder.owner == owner and holder.answer is None and not holder.done:
            del self._d.requests[(org, key)]

    def expire(self, created_before, limit):
        old = [slot for slot, r in self._d.requests.items() if r.created_at < created_before][:limit]
        for slot in old:
            del self._d.requests[slot]
        return len(old)


class _Events(EventRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, events):
        for event in events:
            feed = self._d.feeds.get(event.org, FeedBounds(0, 0))
            self._d.feeds[event.org] = replace(feed, last=feed.last + 1)
            self._d.events.append(StoredEvent(feed.last + 1, _clone(event)))

    def after(self, org, seq, limit):
        return [e for e in self._d.events if e.event.org == org and e.seq > seq][:limit]

    def bounds(self, org):
        return self._d.feeds.get(org, FeedBounds(0, 0))

    def numbered(self, org, seqs):
        return [e for e in self._d.events if e.event.org == org and e.seq in set(seqs)]

    def lock_fan_out(self, org):
        return self._d.fanned_out.get(org, 0)

    def set_fan_out(self, org, seq):
        self._d.fanned_out[org] = max(seq, self._d.fanned_out.get(org, 0))

    def not_fanned_out(self, limit):
        return sorted(o for o, f in self._d.feeds.items() if self._d.fanned_out.get(o, 0) < f.last)[:limit]

    def prune(self, occurred_before, limit):
        old = [e for e in self._d.events if e.event.occurred_at < occurred_before][:limit]
        for stored in old:
            self._d.events.remove(stored)
            feed = self._d.feeds[stored.event.org]
            self._d.feeds[stored.event.org] = replace(feed, pruned_through=max(feed.pruned_through, stored.seq))
        return len(old)


class _Webhooks(WebhookRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, webhook):
        self._d.webhooks[webhook.id] = _clone(webhook)

    def get(self, org, webhook_id):
        found = self._d.webhooks.get(webhook_id)
        return _clone(found) if found is not None and found.org == org else None

    def list(self, org):
        return [_clone(w) for w in self._d.webhooks.values() if w.org == org]

    def count(self, org):
        return len(self.list(org))

    def update(self, webhook):
        self._d.webhooks[webhook.id] = _clone(webhook)

    def delete(self, org, webhook_id):
        if self.get(org, webhook_id) is None:
            return False
        del self._d.webhooks[webhook_id]
        for key in [k for k, d in self._d.deliveries.items() if d["webhook"] == webhook_id]:
            del self._d.deliveries[key]
        return True


class _Deliveries(DeliveryRepository):
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, webhook_id, event_seqs, due):
        known = {(d["webhook"], d["seq"]) for d in self._d.deliveries.values()}
        new = [seq for seq in event_seqs if (webhook_id, seq) not in known]
        for seq in new:
            self._d.deliveries[self._d.new_id()] = {"webhook": webhook_id, "seq": seq, "attempts": 0, "due": due}
        return len(new)

    def claim(self, webhook_id, now, lease_until, limit):
        due = sorted((d["seq"], key) for key, d in self._d.deliveries.items()
                     if d["webhook"] == webhook_id and d["due"] is not None and d["due"] <= now)[:limit]
        for _, key in due:
            self._d.deliveries[key]["due"] = lease_until
        return [Delivery(key, webhook_id, seq, self._d.deliveries[key]["attempts"]) for seq, key in due]

    def settle(self, attempts):
        for delivery, attempt in attempts:
            self._d.deliveries[delivery.id].update(attempts=attempt.attempt, due=attempt.next_attempt_at)
            self._d.attempts.append(attempt)

    def postpone(self, deliveries, until):
        for delivery in deliveries:
            self._d.deliveries[delivery.id]["due"] = until

    def next_due(self, webhook_id):
        return min((d["due"] for d in self._d.deliveries.values()
                    if d["webhook"] == webhook_id and d["due"] is not None), default=None)

    def overdue(self, due_before, limit):
        hooks = sorted({d["webhook"] for d in self._d.deliveries.values() if d["due"] is not None
                        and d["due"] < due_before})
        return [(self._d.webhooks[h].org, h) for h in hooks if h in self._d.webhooks][:limit]

    def attempts(self, webhook_id, limit):
        return [a for a in reversed(self._d.attempts) if a.webhook_id == webhook_id][:limit]

    def prune(self, before, limit):
        old = [a for a in self._d.attempts if a.at < before][:limit]
        for attempt in old:
            self._d.attempts.remove(attempt)
        return len(old)

    def give_up(self, webhook_id, now, reason):
        pending = [d for d in self._d.deliveries.values() if d["webhook"] == webhook_id and d["due"] is not None]
        for delivery in pending:
            delivery["due"] = None
        return len(pending)


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, factory: "InMemoryDatabase", write: bool) -> None:
        self._factory = factory
        self._write = write
        self._done = False

    def __enter__(self):
        if self._factory.down:
            raise Unavailable("database down")
        if self._write:
            while self._factory.before_write:
                self._factory.before_write.pop(0)()  # what another request does just before this one
            self._factory.writer.acquire()
        self._data = _clone(self._factory.data)
        self.realties, self.rooms = _Realties(self._data), _Rooms(self._data)
        self.media = _Media(self._data)
        self.photos = _Photos(self._data)
        self.grants, self.tombstones = _Grants(self._data), _Tombstones(self._data)
        self.blobs, self.processing = _Blobs(self._data), _Processing(self._data)
        self.requests, self.events = _Requests(self._data), _Events(self._data)
        self.webhooks, self.deliveries = _Webhooks(self._data), _Deliveries(self._data)
        return self

    def commit(self):
        self._factory.data = self._data
        self._factory.commits += 1
        self._finish()
        self._factory.committed()

    def rollback(self):
        self._finish()

    def _finish(self):
        if not self._done and self._write:
            self._factory.writer.release()
        self._done = True


class InMemoryDatabase(UnitOfWorkFactory):
    def __init__(self) -> None:
        self.data = _Data()
        self.writer = threading.Lock()
        self.commits = 0
        self.down = False
        self.before_write: list = []
        """One-shot callables run as the next write unit of work starts: a concurrent request's work."""
        self.down_after_commits: int | None = None
        """Stop answering once this many more commits are done: the network dropping just after a
        write committed, before whatever the request does next."""

    def __call__(self, write: bool = True) -> UnitOfWork:
        return InMemoryUnitOfWork(self, write)

    def ping(self) -> None:
        if self.down:
            raise ConnectionError("database down")

    def committed(self) -> None:
        if self.down_after_commits is not None:
            self.down_after_commits -= 1
            if self.down_after_commits <= 0:
                self.down, self.down_after_commits = True, None


class InMemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_puts_after: int | None = None
        self.fail_copies_after: int | None = None
        self.before_copy: list = []
        """One-shot callables run as the next copy starts: what a client does meanwhile."""
        self.fail_deletes = False
        self.hanging = False
        """Every call that reaches storage fails as one to a storage that does not answer would."""
        self.hang_seconds = 0.0
        """How long a call to hanging storage waits before it fails (its timeout)."""
        self.delete_calls = 0
        self.read_calls = 0
        self.after_put = lambda key: None
        """Runs after each object is stored: what happens elsewhere meanwhile."""

    def _answer(self) -> None:
        if self.hanging:
            time.sleep(self.hang_seconds)
            raise TimedOut("storage did not answer in time")

    def upload_form(self, key, content_type, max_bytes, expires_in):
        return UploadForm(url="memory://upload", fields={"key": key, "Content-Type": content_type},
                          expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in))

    def read_version(self, key, max_bytes):
        self.read_calls += 1
        self._answer()
        if key not in self.objects:
            return None
        data = self.objects[key]
        return BlobContent(size=len(data), version=_version(data), data=data if len(data) <= max_bytes else None)

    def read(self, key):
        self._answer()
        if key not in self.objects:
            raise FileNotFoundError(key)
        return self.objects[key]

    def put(self, key, data, content_type):
        self._answer()
        if self.fail_puts_after is not None:
            if self.fail_puts_after <= 0:
                raise Unavailable("storage is full")
            self.fail_puts_after -= 1
        self.objects[key] = data if isinstance(data, bytes) else data.read()
        self.after_put(key)

    def copy(self, source, target, if_version):
        while self.before_copy:
            self.before_copy.pop(0)()
        self._answer()
        if source not in self.objects:
            raise FileNotFoundError(source)
        if _version(self.objects[source]) != if_version:
            raise BlobChanged(source)
        if self.fail_copies_after is not None:
            if self.fail_copies_after <= 0:
                raise Unavailable("storage does not answer")
            self.fail_copies_after -= 1
        self.objects[target] = self.objects[source]

    def delete(self, keys):
        self.delete_calls += 1
        self._answer()
        if self.fail_deletes:
            raise Unavailable("storage refuses deletes")
        for key in keys:
            self.objects.pop(key, None)

    def download_url(self, key, expires_in):
        return f"memory://{key}?ttl={expires_in}"

    def ping(self):
        pass


def _version(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # what S3 uses as the ETag of a simple upload


class RecordingJobQueue(JobQueue):
    """A queue a test drains by hand: `run(processor)` runs the render jobs that wait, in order, like one
    worker; `run_webhook_jobs(bus)` the fan-outs and deliveries (those whose delay has passed, by `clock`)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.waiting: list[RenderJob] = []
        self.webhook_jobs: list[tuple[datetime, FanOutJob | DeliveryJob]] = []
        self.down = False
        self._clock = clock

    def enqueue(self, jobs):
        if self.down:
            raise ConnectionError("queue down")
        for job in jobs:
            if isinstance(job, RenderJob):
                self.waiting.append(job)
            else:
                now = self._clock.now() if self._clock else datetime.now(timezone.utc)
                self.webhook_jobs.append((now + timedelta(seconds=getattr(job, "delay_seconds", 0)), job))

    def run_webhook_jobs(self, bus) -> int:
        from core.commands import DeliverEvents, FanOut

        done = 0
        while due := [entry for entry in self.webhook_jobs if entry[0] <= self._clock.now()]:
            self.webhook_jobs.remove(due[0])
            job = due[0][1]
            bus.handle(FanOut(job.org) if isinstance(job, FanOutJob) else DeliverEvents(job.org, job.webhook_id))
            done += 1
        return done

    def backlog(self):
        return len(self.waiting)

    def run(self, processor) -> int:
        done = 0
        while self.waiting:
            processor.render(self.waiting.pop(0))
            done += 1
        return done


def fake_image(content_type: str = "image/png", width: int = 40, height: int = 30, salt: str = "") -> bytes:
    """Bytes the fake inspector reads as an image of the given type and size."""
    return f"FAKE:{content_type}:{width}x{height}:{salt}".encode()


class FakeInspector(ImageInspector):
    """Reads `fake_image` bytes; anything else is not an image."""

    def inspect(self, data, max_pixels):
        try:
            tag, content_type, size, _ = data.decode().split(":", 3)
            width, height = (int(n) for n in size.split("x"))
        except ValueError:
            raise UnsupportedImageType("file type error") from None
        if tag != "FAKE":
            raise UnsupportedImageType("file type error")
        if width * height > max_pixels:
            raise UploadRejected(f"{width * height} pixels exceeds the limit of {max_pixels}")
        return ImageFacts(content_type, width, height)

    def render(self, data, specs: Sequence[RenditionSpec]):
        facts = self.inspect(data, 10**12)
        if data.endswith(b":unrenderable"):
            # What a real decoder may do: accept a file on inspection, then fail to make pictures of it.
            raise UploadRejected("the image cannot be rendered")
        out = []
        for spec in specs:
            scale = min(1.0, spec.max_side / max(facts.width, facts.height))
            out.append(RenderedImage(b"rendition:" + spec.name.encode(), round(facts.width * scale),
                                     round(facts.height * scale), spec.content_type))
        return out

    def render_checked(self, data, specs: Sequence[RenditionSpec]):
        """`render`, with checks of a sharp, well-exposed photo whose perceptual hash is the salt's
        `phash=<16 hex digits>` if it has one, else one derived from the bytes."""
        rendered = self.render(data, specs)
        salt = data.decode().split(":", 3)[3]
        found = re.search(r"phash=([0-9a-f]{16})", salt)
        phash = int(found.group(1), 16) if found else int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
        return RenderResult(rendered, PhotoChecks(perceptual_hash=phash, blurhash="L00000fQfQfQfQfQfQfQfQfQfQfQ",
                                                  sharpness=500.0, brightness=128.0, dark_fraction=0.0,
                                                  bright_fraction=0.0))


class FakeClock(Clock):
    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)) -> None:
        self.current = start
        self.while_sleeping: list = []

    def now(self):
        return self.current

    def advance(self, **delta) -> None:
        self.current += timedelta(**delta)

    def sleep(self, seconds: float) -> None:
        """Time passes at once; meanwhile runs the next of `while_sleeping` (what others do meanwhile)."""
        self.current += timedelta(seconds=seconds)
        if self.while_sleeping:
            self.while_sleeping.pop(0)()


class SequentialIds(IdGenerator):
    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def new(self):
        with self._lock:
            self._n += 1
            return uuid.UUID(int=self._n)


class RecordingWebhookSender(WebhookSender):
    """Endpoints on a pretend network: `addresses` is the DNS (host -> IPs, a public one by default),
    `answer(message)` what the endpoint says (200 unless changed); every message sent is kept."""

    def __init__(self) -> None:
        self.addresses: dict[str, list[str]] = {}
        self.answer = lambda message: SendResult(200, 3)
        self.sent: list[WebhookMessage] = []

    def resolve(self, host, port):
        return self.addresses.get(host, ["93.184.216.34"])

    def send(self, message, timeout):
        self.sent.append(message)
        return self.answer(message)
