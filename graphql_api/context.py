"""Per-request state: who is calling, and a small cache so nested fields do not query (or sign) per item.

A property is read once with all its images (the core's repository loads them together); images,
rooms and their `property` fields then resolve from this cache. Rooms are fetched for every
property seen so far in one `rooms_of` call. Mutations clear the cache after they change data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from core.domain import Image, Realty, Room
from core.photo_checks import Duplicate
from core.ports import Caller
from core.api import CoreApi
from core.views import Views


class Loaders:
    def __init__(self, views: Views, caller: Caller) -> None:
        self._views = views
        self._caller = caller
        self.clear()

    def clear(self) -> None:
        self._by_uuid: dict[UUID, Realty | None] = {}
        self._by_id: dict[int, Realty | None] = {}
        self._rooms: dict[UUID, list[Room]] = {}
        self._room_by_id: dict[int, Room | None] = {}
        self._image_ids: dict[UUID, int | None] = {}
        self._urls: dict[str, str] = {}
        self._duplicates: dict[UUID, list[Duplicate]] = {}

    def url(self, storage_key: str) -> str:
        """A signed download URL. The first one asked for signs those of every image read so far at once,
        so a listing of 200 images signs in one batch rather than 800 times."""
        if storage_key not in self._urls:
            keys = {key: None for realty in self._by_uuid.values() if realty is not None
                    for image in realty.images for key in image.blob_keys if key not in self._urls}
            keys[storage_key] = None
            self._urls.update(zip(keys, self._views.urls(list(keys))))
        return self._urls[storage_key]

    def duplicates(self, image: Image) -> list[Duplicate]:
        """The image's duplicates. The first one asked for looks up those of every image read so far at
        once: a property of 200 images costs one lookup, not 200."""
        if image.uuid not in self._duplicates:
            images = {i.uuid: i for realty in self._by_uuid.values() if realty is not None
                      for i in realty.images if i.uuid not in self._duplicates}
            images[image.uuid] = image
            self._duplicates.update(self._views.duplicates(self._caller, list(images.values())))
        return self._duplicates.get(image.uuid, [])

    def prime(self, realty: Realty) -> Realty:
        self._by_uuid[realty.uuid] = realty
        if realty.id is not None:
            self._by_id[realty.id] = realty
        return realty

    def realty(self, ref: UUID | int) -> Realty | None:
        cache = self._by_uuid if isinstance(ref, UUID) else self._by_id
        if ref not in cache:
            realty = self._views.find_realty(self._caller, ref)
            if realty is None:
                cache[ref] = None
            else:
                self.prime(realty)
        return cache[ref]

    def realties(self, ids: list[int]) -> dict[int, Realty]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._by_id]
        if missing:
            found = {r.id: r for r in self._views.realties(self._caller, missing)}
            for number in missing:
                if number in found:
                    self.prime(found[number])
                else:
                    self._by_id[number] = None
        return {i: self._by_id[i] for i in ids if self._by_id.get(i) is not None}

    def rooms(self, realty_uuid: UUID) -> list[Room]:
        if realty_uuid not in self._rooms:
            # Fetch the rooms of every property loaded so far at once: a list of N properties
            # asking for `rooms` costs one query, not N.
            wanted = [u for u, r in self._by_uuid.items() if r is not None and u not in self._rooms]
            if realty_uuid not in wanted:
                wanted.append(realty_uuid)
            for uuid in wanted:
                self._rooms[uuid] = []
            for room in self._views.rooms_of(self._caller, wanted):
                self._rooms.setdefault(room.realty_uuid, []).append(room)
                self._room_by_id[room.id] = room
        return self._rooms[realty_uuid]

    def room(self, room_id: int, realty_uuid: UUID | None = None) -> Room | None:
        if room_id not in self._room_by_id and realty_uuid is not None:
            self.rooms(realty_uuid)
        if room_id not in self._room_by_id:
            self._room_by_id[room_id] = self._views.find_room(self._caller, room_id)
        return self._room_by_id[room_id]

    def image_id(self, image: Image) -> int | None:
        """The numeric id of an image whose object was built before the repository assigned one."""
        if image.id is not None:
            return image.id
        if image.uuid not in self._image_ids:
            found = self._views.find_image(self._caller, image.uuid)
            self._image_ids[image.uuid] = found.id if found else None
        return self._image_ids[image.uuid]


@dataclass
class GraphQLContext:
    core: CoreApi
    caller: Caller
    max_file_bytes: int
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.core.views, self.caller)

    def handle(self, command):
        """Run a command of this request (core/commands.py)."""
        return self.core.bus.handle(command)
