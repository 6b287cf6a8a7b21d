"""The org's photos by perceptual hash (multi-index hashing over `perceptual_band`) and by bytes (`image.md5`).

A lookup is a handful of index range scans: for each band of each hash, the band's value and its
neighbours within `max_distance // BANDS` bits (core/photo_checks.py says why that finds every match).
Candidates carry their whole hash, so they are verified by popcount without reading their images; only
the matches are then read, to name them. Deleted images take their bands with them in the same
transaction, so a lookup is always current.
"""
from __future__ import annotations

import operator
from collections import defaultdict
from functools import reduce
from typing import Any, Iterable, Sequence
from uuid import UUID

import peewee

from adapters.peewee_database import db_errors
from adapters.peewee_session import Repository
from core.domain import Image
from core.photo_checks import MAX_DUPLICATES, Duplicate, bands, distance, probes, signed64, unsigned64
from core.repositories import PhotoIndex

LOOKUP_BATCH = 50
"""Images per lookup query: 50 × 4 bands × 17 probes stays far within SQLite's bound-parameter limit."""


class PeeweePhotoIndex(Repository, PhotoIndex):
    def index(self, org: str, images: Sequence[Image]) -> None:
        """(Re)write the bands of `images`, which are saved already (they have ids)."""
        if not images:
            return
        Band = self._m.PerceptualBand
        self.forget([image.id for image in images])
        rows = [{"org": org, "band_no": band_no, "band_value": value, "image": image.id,
                 "perceptual_hash": signed64(image.checks.perceptual_hash)}
                for image in images if image.checks is not None
                for band_no, value in enumerate(bands(image.checks.perceptual_hash))]
        for start in range(0, len(rows), 500):
            Band.insert_many(rows[start:start + 500]).as_rowcount().execute()

    def forget(self, image_ids: Iterable[int] | peewee.SelectQuery) -> None:
        """Drop the bands of images about to be deleted, or re-indexed."""
        ids = image_ids if isinstance(image_ids, peewee.SelectQuery) else list(image_ids)
        if isinstance(ids, list) and not ids:
            return
        Band = self._m.PerceptualBand
        Band.delete().where(Band.image.in_(ids)).execute()

    @db_errors
    def duplicates(self, org: str, images: Sequence[Image], max_distance: int) -> dict[UUID, list[Duplicate]]:
        found: dict[int, dict[int, tuple[int, bool]]] = defaultdict(dict)  # image id -> match id -> (distance, same bytes)
        for start in range(0, len(images), LOOKUP_BATCH):
            batch = images[start:start + LOOKUP_BATCH]
            self._near(org, batch, max_distance, found)
            self._same_bytes(org, batch, found)
        names = self._names(org, {match for matches in found.values() for match in matches})
        answer: dict[UUID, list[Duplicate]] = {}
        for image in images:
            matches = [Duplicate(*names[match], distance=d, identical=same)
                       for match, (d, same) in found.get(image.id, {}).items()
                       if match in names and names[match][1] != image.uuid]
            matches.sort(key=lambda m: (m.distance, str(m.realty_uuid), str(m.image_uuid)))
            answer[image.uuid] = matches[:MAX_DUPLICATES]
        return answer

    def _near(self, org: str, images: Sequence[Image], max_distance: int,
              found: dict[int, dict[int, tuple[int, bool]]]) -> None:
        hashed = [image for image in images if image.checks is not None]
        if not hashed:
            return
        Band = self._m.PerceptualBand
        wanted: dict[int, set[int]] = defaultdict(set)
        for image in hashed:
            for band_no, value in probes(image.checks.perceptual_hash, max_distance):
                wanted[band_no].add(value)
        where = reduce(operator.or_, [
            (Band.band_no == band_no) & Band.band_value.in_(sorted(values)) for band_no, values in wanted.items()])
        rows = (Band.select(Band.image, Band.perceptual_hash).distinct()
                .where(Band.org == org, where).tuples())
        for match_id, match_hash in rows:
            for image in hashed:
                d = distance(image.checks.perceptual_hash, unsigned64(match_hash))
                if match_id != image.id and d <= max_distance:
                    found[image.id][match_id] = (d, False)

    def _same_bytes(self, org: str, images: Sequence[Image], found: dict[int, dict[int, tuple[int, bool]]]) -> None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        by_md5: dict[str, list[Image]] = defaultdict(list)
        for image in images:
            by_md5[image.md5].append(image)
        rows = (ImageModel.select(ImageModel.id, ImageModel.md5).join(RealtyModel)
                .where(ImageModel.md5.in_(sorted(by_md5)), RealtyModel.org == org).tuples())
        for match_id, md5 in rows:
            for image in by_md5[md5]:
                if match_id != image.id:
                    near = found[image.id].get(match_id)
                    found[image.id][match_id] = (near[0] if near else 0, True)

    def _names(self, org: str, ids: set[int]) -> dict[int, tuple[UUID, UUID]]:
        if not ids:
            return {}
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        rows: Any = (ImageModel.select(ImageModel.id, RealtyModel.uuid, ImageModel.uuid).join(RealtyModel)
                     .where(ImageModel.id.in_(sorted(ids)), RealtyModel.org == org).tuples())
        return {image_id: (realty_uuid, image_uuid) for image_id, realty_uuid, image_uuid in rows}
