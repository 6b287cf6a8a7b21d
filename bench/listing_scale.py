"""Does listing one realty slow down as the image table grows? PostgreSQL, 10,000 vs 1,000,000 rows.

    python -m bench.listing_scale [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Makes two scratch databases, creates the app's own tables in each (PeeweeUnitOfWorkFactory.create_tables)
and fills them with generate_series (realties of 200 images each, rows shaped like real ones,
renditions included): one to 10,000 image rows, the other to 1,000,000, with the same first
realties. Then it times listing the same realty of 200 images in both, through the REST app (GET
/realty/{id}/images, the whole answer) and through the core service alone (Views.realty with
its cache emptied: the database part), interleaved round by round, so that whatever else the shared
machine does (PostgreSQL's own writeback after the fill included) weighs on both sizes alike. Then it
prints EXPLAIN (ANALYZE, BUFFERS) of the SQL the listing sends at 1,000,000 rows, captured from
peewee's query log. The scratch databases are dropped at the end; without PostgreSQL the part is
skipped with a message.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

from bench.scratch_postgres import NoPostgres, explain_selects, scratch_databases

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IMAGES_PER_REALTY = 200
SIZES = (10_000, 1_000_000)
ORG = "bench-org"
SECRET = "bench-secret-0123456789abcdef0123456789"
RUNS = 40
GOAL = 1.2

# The renditions column as the app writes it (JSON, keys sorted); %% is psycopg2's escaped %.
_RENDITIONS = "[" + ",".join(
    f'{{"content_type":"image/jpeg","height":{h},"name":"{name}","storage_key":"images/%%1$s/{name}.jpg",'
    f'"width":{w}}}' for name, w, h in (("thumbnail", 320, 213), ("web", 1280, 853), ("large", 2048, 1365))) + "]"
FILL_REALTIES = ("INSERT INTO realty (uuid, org, name, created_at, version) "
                 "SELECT gen_random_uuid(), %s, 'Realty ' || g, now(), 0 FROM generate_series(%s, %s) g")
FILL_IMAGES = f"""
INSERT INTO image (uuid, realty_id, room_id, kind, position, storage_key, content_type, width, height, file_size, md5,
                   description, original_file_name, category, hero, status, created_at, modified_at, renditions,
                   processing, processing_attempts)
SELECT u, rid, NULL, 'PROPERTY', p, 'images/' || u || '/original.jpg', 'image/jpeg', 4000, 2667, 2500000 + p,
       md5(u::text), 'Photo ' || p || ' of realty ' || rid, 'IMG_' || (1000 + p) || '.jpg', 'GENERAL', p = 0,
       'EXTERNAL_NEW', now() - interval '1 day', now(), format('{_RENDITIONS}', u), 'READY', 1
FROM (SELECT r.id AS rid, p, md5(r.id || '/' || p)::uuid AS u
      FROM realty r CROSS JOIN generate_series(0, {IMAGES_PER_REALTY - 1}) p WHERE r.id BETWEEN %s AND %s) s
"""


def run(admin_url: str) -> bool:
    try:
        with scratch_databases(admin_url, SIZES) as urls:
            return _measure(urls)
    except NoPostgres as exc:
        print(f"\nPostgreSQL part SKIPPED: {exc}")
        return True


class _Listing:
    """One scratch database filled to `size` image rows, and the two ways of listing its target realty."""

    def __init__(self, url: str, size: int, storage: str) -> None:
        from config import Settings
        from core.ports import Caller
        from wsgi import create_app

        self.app = create_app(Settings(database_url=url, storage_url=f"file://{storage}", jwt_secret=SECRET))
        gateway = self.app.extensions["realty"]
        self.views, self.database = gateway.core.views, gateway.database
        self.token = gateway.authenticator.issue("bench-agent", ORG, 3600)
        self.client, self.caller = self.app.test_client(), Caller("bench-agent", ORG)
        self.url, self.size = url, size

    def fill(self) -> str:
        """Fill to `size` rows; returns a line saying what was made."""
        import psycopg2

        started = time.perf_counter()
        connection = psycopg2.connect(self.url)
        connection.autocommit = True  # VACUUM runs outside a transaction
        try:
            with connection.cursor() as cur:
                realties = self.size // IMAGES_PER_REALTY
                for first in range(1, realties + 1, 500):  # batches keep memory and WAL bursts small
                    last = min(realties, first + 499)
                    cur.execute(FILL_REALTIES, (ORG, first, last))
                    cur.execute(FILL_IMAGES, (first, last))
                cur.execute("VACUUM ANALYZE")
                cur.execute("CHECKPOINT")  # the fill's writes reach the disk now, not while timing
                cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('image')) FROM image")
                rows, table_size = cur.fetchone()
                # A realty among the first ones, the same in both databases: at 1M rows it is deep inside.
                cur.execute("SELECT uuid FROM realty WHERE id = %s", (SIZES[0] // IMAGES_PER_REALTY // 2,))
                self.target = str(cur.fetchone()[0])
        finally:
            connection.close()
        return f"{rows:>9,} image rows ({table_size}, filled in {time.perf_counter() - started:.0f} s)"

    def rest(self) -> None:
        response = self.client.get(f"/realty/{self.target}/images", headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200 and len(response.get_json()["realtyImages"]) == IMAGES_PER_REALTY

    def cold(self) -> None:
        # What a realty's first read costs: its images from the database, not the cache.
        self.database.image_cache.clear()
        self.views.realty(self.caller, uuid.UUID(self.target))

    def close(self) -> None:
        self.app.extensions["realty"].close()


def _interleaved_medians_ms(calls: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median time of each call, measured round by round: every round times each call once, in turn."""
    for call in calls.values():
        for _ in range(5):
            call()  # warm the caches (PostgreSQL's, the signer's)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RUNS):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def _measure(urls: dict[int, str]) -> bool:
    print(f"\nPostgreSQL: one realty of {IMAGES_PER_REALTY} images listed at {SIZES[0]:,} and {SIZES[-1]:,} image rows "
          f"(two databases, timed interleaved, median of {RUNS})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        listings = {size: _Listing(url, size, f"{tmp}/{size}") for size, url in urls.items()}
        try:
            for listing in listings.values():
                print("  filled " + listing.fill(), flush=True)
            medians = _interleaved_medians_ms({f"{kind} {size}": getattr(listing, kind)
                                               for size, listing in listings.items() for kind in ("rest", "cold")})
            for size in SIZES:
                print(f"  {size:>9,} image rows: REST listing {medians[f'rest {size}']:.1f} ms, core service reading "
                      f"the database {medians[f'cold {size}']:.1f} ms")
            small, large = SIZES[0], SIZES[-1]
            ratios = (medians[f"rest {large}"] / medians[f"rest {small}"],
                      medians[f"cold {large}"] / medians[f"cold {small}"])
            print(f"  at {large:,} rows vs {small:,}: REST listing {ratios[0]:.2f}x, core service reading the "
                  f"database {ratios[1]:.2f}x (goal <= {GOAL}x)")
            _explain(listings[large])
        finally:
            for listing in listings.values():
                listing.close()
    met = max(ratios) <= GOAL
    print(f"goal (list latency at {SIZES[-1]:,} rows <= {GOAL}x at {SIZES[0]:,}):", "met" if met else "NOT MET")
    return met


def _explain(listing: _Listing) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each SELECT a cold listing sends."""
    explain_selects(listing.url, listing.cold)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return 0 if run(parser.parse_args().pg_url) else 1


if __name__ == "__main__":
    sys.exit(main())
