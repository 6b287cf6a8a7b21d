"""Recently read realties' images, by realty and version, so a listing reads one row, not two hundred.

Every change of a realty's images goes through `save_images`, which bumps the realty's `version` in
the same transaction. A reader still asks the database for the realty row every time (in its own
snapshot), and takes the cached images only when the version matches: so the cache can never serve
what the database no longer holds, whatever other processes wrote. Only read-only units of work use
it; writers always load what they lock.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from core.domain import Image


class ImageCache:
    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[int, tuple[Image, ...]]] = OrderedDict()

    def get(self, realty_id: int, version: int) -> list[Image] | None:
        with self._lock:
            entry = self._entries.get(realty_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(realty_id)
        return [_copy(image) for image in entry[1]]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def put(self, realty_id: int, version: int, images: list[Image]) -> None:
        kept = tuple(_copy(image) for image in images)
        for image in kept:
            # Derived once per cached version, handed to every copy: a GraphQL listing asks for them all.
            image.source  # noqa: B018 - computes and keeps filename and extension too
        with self._lock:
            current = self._entries.get(realty_id)
            if current is not None and current[0] > version:
                return  # a slower reader of an older snapshot must not replace a newer entry
            self._entries[realty_id] = (version, kept)
            self._entries.move_to_end(realty_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _copy(image: Image) -> Image:
    """A copy, since callers may change what they get. Every field of an image is immutable, so a
    shallow copy is a whole one; made field by field, it costs a quarter of `copy.copy`."""
    clone = object.__new__(Image)
    clone.__dict__.update(image.__dict__)
    return clone
