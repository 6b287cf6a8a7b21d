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
            self._lookup(org, images[start:start + LOOKUP_BATCH], max_distance, found)
        answer: dict[UUID, list[Duplicate]] = {}
        for image in images:
            matches = sorted(found.get(image.uuid, {}).values(),
                             key=lambda m: (m.distance, str(m.realty_uuid), str(m.image_uuid)))
            answer[image.uuid] = matches[:MAX_DUPLICATES]
        return answer

    def _lookup(self, org: str, images: Sequence[Image], max_distance: int,
                found: dict[UUID, dict[UUID, Duplicate]]) -> None:
        """One statement, one round trip: the probes joined to the band index, and the same bytes by md5.

        On PostgreSQL the probes come as three arrays (unnest: planned in a fraction of the time of a long
        VALUES list) and only the rows within `max_distance` (bit_count) come back; SQLite, which has neither,
        takes a VALUES list and returns the candidates, checked here."""
        by_hash: dict[int, list[Image]] = defaultdict(list)
        by_md5: dict[str, list[Image]] = defaultdict(list)
        for image in images:
            by_md5[image.md5].append(image)
            if image.checks is not None:
                by_hash[signed64(image.checks.perceptual_hash)].append(image)
        probed = [(band_no, value, query) for query in by_hash
                  for band_no, value in dict.fromkeys(probes(unsigned64(query), max_distance))]
        postgres, p = is_postgres(self._db), self._db.param
        bands, image_table, realty_table = (f'"{model._meta.table_name}"' for model in (
            self._m.PerceptualBand, self._m.Image, self._m.Realty))
        params: list[Any] = []
        parts = []
        if probed:
            if postgres:
                source = f"unnest({p}::int[], {p}::int[], {p}::bigint[]) AS probe(band_no, band_value, query)"
                params += [list(column) for column in zip(*probed)]
                within = f"AND bit_count((b.perceptual_hash # probe.query)::bit(64)) <= {p}"
            else:
                rows = ", ".join([f"({p}, {p}, {p})"] * len(probed))
                source = f"(WITH probe(band_no, band_value, query) AS (VALUES {rows}) SELECT * FROM probe) probe"
                params += [value for probe in probed for value in probe]
                within = ""
            parts.append(f"SELECT probe.query, b.image_id, b.perceptual_hash, i.uuid, r.uuid, NULL "
                         f"FROM {source} JOIN {bands} b ON b.org = {p} AND b.band_no = probe.band_no "
                         f"AND b.band_value = probe.band_value {within} "
                         f"JOIN {image_table} i ON i.id = b.image_id JOIN {realty_table} r ON r.id = i.realty_id")
            params += [org, max_distance] if postgres else [org]
        md5s = sorted(by_md5)
        if postgres:
            # Each match's realty by its key: as a join PostgreSQL hashes the org's every realty (a scan that grows
            # with the org: 1 ms per lookup at 5,000 realties) to check a handful of rows. OFFSET 0 keeps the
            # planner from flattening the lateral subquery back into that join.
            parts.append(f"SELECT NULL, i.id, NULL, i.uuid, r.uuid, i.md5 FROM {image_table} i CROSS JOIN LATERAL "
                         f"(SELECT uuid FROM {realty_table} WHERE id = i.realty_id AND org = {p} OFFSET 0) r "
                         f"WHERE i.md5 = ANY({p})")
            params += [org, md5s]
        else:
            parts.append(f"SELECT NULL, i.id, NULL, i.uuid, r.uuid, i.md5 FROM {image_table} i "
                         f"JOIN {realty_table} r ON r.id = i.realty_id "
                         f"WHERE i.md5 IN ({', '.join([p] * len(md5s))}) AND r.org = {p}")
            params += md5s + [org]
        rows = self._db.execute_sql(" UNION ALL ".join(parts), params).fetchall()
        for query, image_id, match_hash, image_uuid, realty_uuid, md5 in rows:  # in no particular order
            match, realty = _uuid(image_uuid), _uuid(realty_uuid)
            if md5 is None:
                d = distance(unsigned64(query), unsigned64(match_hash))
                for image in by_hash[query] if d <= max_distance else ():
                    if image_id != image.id and match != image.uuid:
                        seen = found[image.uuid].get(match)
                        found[image.uuid][match] = Duplicate(realty, match, d, seen is not None and seen.identical)
                continue
            for image in by_md5[md5]:
                if image_id != image.id and match != image.uuid:
                    seen = found[image.uuid].get(match)
                    found[image.uuid][match] = Duplicate(realty, match, seen.distance if seen else 0, identical=True)


def _uuid(value: Any) -> UUID:
    """A uuid column as the driver returns it from raw SQL (a UUID, or text on SQLite and psycopg2)."""
    return value if isinstance(value, UUID) else UUID(str(value))
