"""The org's photos by perceptual hash (multi-index hashing over `perceptual_band`) and by bytes (`image.md5`).

A lookup is a handful of index range scans: for each band of each hash, the band's value and its
neighbours within `max_distance // BANDS` bits (core/photo_checks.py says why that finds every match).
Candidates carry their whole hash, so they are verified by popcount (on PostgreSQL in the statement itself)
before their images are read to name them. Deleted images take their bands with them in the same
transaction, so a lookup is always current.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence
from uuid import UUID

import peewee

from adapters.peewee_database import db_errors, is_postgres
from adapters.peewee_session import Repository
from core.domain import Image
from core.photo_checks import MAX_DUPLICATES, Duplicate, bands, distance, probes, signed64, unsigned64
from core.repositories import PhotoIndex

LOOKUP_BATCH = 50
"""Images per lookup statement: 50 × 4 bands × 17 probes × 3 values stays within SQLite's bound-parameter limit."""


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
        # image uuid -> match uuid -> the match
        found: dict[UUID, dict[UUID, Duplicate]] = defaultdict(dict)
        for start in range(0, len(images), LOOKUP_BATCH):
            batch = images[start:start + LOOKUP_BATCH]
            self._near(org, batch, max_distance, found)
            self._same_bytes(org, batch, found)
        answer: dict[UUID, list[Duplicate]] = {}
        for image in images:
            matches = sorted(found.get(image.uuid, {}).values(),
                             key=lambda m: (m.distance, str(m.realty_uuid), str(m.image_uuid)))
            answer[image.uuid] = matches[:MAX_DUPLICATES]
        return answer

    def _near(self, org: str, images: Sequence[Image], max_distance: int,
              found: dict[UUID, dict[UUID, Duplicate]]) -> None:
        """One statement: the probes as a VALUES list joined to the band index. PostgreSQL keeps only the
        rows within `max_distance` (bit_count), so only matches cross the wire; SQLite, which has no
        bit_count, returns the candidates and they are checked here."""
        by_hash: dict[int, list[Image]] = defaultdict(list)
        for image in images:
            if image.checks is not None:
                by_hash[signed64(image.checks.perceptual_hash)].append(image)
        if not by_hash:
            return
        postgres = is_postgres(self._db)
        param = self._db.param
        row = f"({param}::int, {param}::int, {param}::bigint)" if postgres else f"({param}, {param}, {param})"
        probed = [(band_no, value, query) for query in by_hash
                  for band_no, value in dict.fromkeys(probes(unsigned64(query), max_distance))]
        Band, ImageModel, RealtyModel = self._m.PerceptualBand, self._m.Image, self._m.Realty
        within = (f"WHERE bit_count((b.perceptual_hash # probe.query)::bit(64)) <= {param}" if postgres else "")
        sql = (f"WITH probe(band_no, band_value, query) AS (VALUES {', '.join([row] * len(probed))}) "
               f"SELECT probe.query, b.image_id, b.perceptual_hash, i.uuid, r.uuid "
               f'FROM probe JOIN "{Band._meta.table_name}" b ON b.org = {param} AND b.band_no = probe.band_no '
               f"AND b.band_value = probe.band_value "
               f'JOIN "{ImageModel._meta.table_name}" i ON i.id = b.image_id '
               f'JOIN "{RealtyModel._meta.table_name}" r ON r.id = i.realty_id {within}')
        params: list[Any] = [value for probe in probed for value in probe] + [org]
        if postgres:
            params.append(max_distance)
        for query, image_id, match_hash, image_uuid, realty_uuid in self._db.execute_sql(sql, params).fetchall():
            d = distance(unsigned64(query), unsigned64(match_hash))
            if d > max_distance:
                continue
            for image in by_hash[query]:
                match_uuid = _uuid(image_uuid)
                if image_id != image.id and match_uuid != image.uuid:
                    found[image.uuid][match_uuid] = Duplicate(_uuid(realty_uuid), match_uuid, d)

    def _same_bytes(self, org: str, images: Sequence[Image], found: dict[UUID, dict[UUID, Duplicate]]) -> None:
        ImageModel, RealtyModel = self._m.Image, self._m.Realty
        by_md5: dict[str, list[Image]] = defaultdict(list)
        for image in images:
            by_md5[image.md5].append(image)
        rows = (ImageModel.select(ImageModel.id, ImageModel.md5, ImageModel.uuid, RealtyModel.uuid).join(RealtyModel)
                .where(ImageModel.md5.in_(sorted(by_md5)), RealtyModel.org == org).tuples())
        for match_id, md5, match_uuid, realty_uuid in rows:
            for image in by_md5[md5]:
                if match_id != image.id and match_uuid != image.uuid:
                    near = found[image.uuid].get(match_uuid)
                    found[image.uuid][match_uuid] = Duplicate(realty_uuid, match_uuid, near.distance if near else 0,
                                                              identical=True)


def _uuid(value: Any) -> UUID:
    """A uuid column as the driver returns it from raw SQL (a UUID, or text on SQLite and psycopg2)."""
    return value if isinstance(value, UUID) else UUID(str(value))
