"""Does listing one realty slow down as the image table grows? PostgreSQL, 10,000 then 1,000,000 rows.

    python -m bench.listing_scale [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Makes a scratch database, creates the app's own tables (PeeweeUnitOfWorkFactory.create_tables), fills
them with generate_series (realties of 200 images each, rows shaped like real ones, renditions
included), and times listing one realty of 200 images through the REST app (GET
/realty/{id}/images, the whole answer) and through the core service alone (ImageService.realty: the
database part), first at 10,000 image rows, then at 1,000,000. Then prints EXPLAIN (ANALYZE,
BUFFERS) of the SQL the listing sends, captured from peewee's query log. The scratch database is
dropped at the end; without PostgreSQL the part is skipped with a message.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

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
                   processing)
SELECT u, rid, NULL, 'PROPERTY', p, 'images/' || u || '/original.jpg', 'image/jpeg', 4000, 2667, 2500000 + p,
       md5(u::text), 'Photo ' || p || ' of realty ' || rid, 'IMG_' || (1000 + p) || '.jpg', 'GENERAL', p = 0,
       'EXTERNAL_NEW', now() - interval '1 day', now(), format('{_RENDITIONS}', u), 'READY'
FROM (SELECT r.id AS rid, p, md5(r.id || '/' || p)::uuid AS u
      FROM realty r CROSS JOIN generate_series(0, {IMAGES_PER_REALTY - 1}) p WHERE r.id BETWEEN %s AND %s) s
"""


class _SqlLog(logging.Handler):
    """peewee logs every statement as (sql, params) at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append((record.msg[0], tuple(record.msg[1] or ())))


def _median_ms(call: Callable[[], object]) -> float:
    for _ in range(5):
        call()  # warm the caches (PostgreSQL's, the signer's)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(admin_url: str) -> bool:
    try:
        import psycopg2
        from psycopg2 import sql

        admin = psycopg2.connect(admin_url, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no PostgreSQL here"
        print(f"\nPostgreSQL part SKIPPED: no PostgreSQL answers at {admin_url} ({exc.__class__.__name__})")
        return True
    admin.autocommit = True
    name = f"realty_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        return _measure(url)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        print(f"dropped the scratch database {name}")


def _measure(url: str) -> bool:
    import psycopg2

    from config import Settings
    from core.ports import Caller
    from wsgi import create_app

    print(f"\nPostgreSQL: one realty of {IMAGES_PER_REALTY} images listed at {SIZES[0]:,} and {SIZES[-1]:,} image rows "
          f"(median of {RUNS})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=url, storage_url=f"file://{tmp}", jwt_secret=SECRET))
        try:
            service, database = app.extensions["realty"].service, app.extensions["realty"].database
            token = app.extensions["realty"].authenticator.issue("bench-agent", ORG, 3600)
            client, caller = app.test_client(), Caller("bench-agent", ORG)
            connection = psycopg2.connect(url)
            connection.autocommit = True
            cur = connection.cursor()
            filled, target, timings = 0, None, {}
            for size in SIZES:
                started = time.perf_counter()
                realties = size // IMAGES_PER_REALTY
                for first in range(filled + 1, realties + 1, 500):  # batches keep memory and WAL bursts small
                    last = min(realties, first + 499)
                    cur.execute(FILL_REALTIES, (ORG, first, last))
                    cur.execute(FILL_IMAGES, (first, last))
                filled = realties
                cur.execute("VACUUM ANALYZE")
                cur.execute("CHECKPOINT")  # the fill's writes reach the disk now, not while timing
                cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('image')) FROM image")
                rows, table_size = cur.fetchone()
                if target is None:  # a realty in the middle of the first ones: at 1M rows it is deep inside
                    cur.execute("SELECT uuid FROM realty WHERE id = %s", (realties // 2,))
                    target = str(cur.fetchone()[0])
                path = f"/realty/{target}/images"

                def rest() -> None:
                    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 200 and len(response.get_json()["realtyImages"]) == 200

                def cold() -> None:
                    # What a realty's first read costs: its images from the database, not the cache.
                    database.image_cache.clear()
                    service.realty(caller, uuid.UUID(target))

                timings[size] = (_median_ms(rest), _median_ms(cold))
                print(f"  {rows:>9,} image rows ({table_size}, filled in {time.perf_counter() - started:.0f} s): "
                      f"REST listing {timings[size][0]:.1f} ms, core service reading the database "
                      f"{timings[size][1]:.1f} ms", flush=True)
            small, large = timings[SIZES[0]], timings[SIZES[-1]]
            ratios = (large[0] / small[0], large[1] / small[1])
            print(f"  at {SIZES[-1]:,} rows vs {SIZES[0]:,}: REST listing {ratios[0]:.2f}x, core service reading the "
                  f"database {ratios[1]:.2f}x (goal <= {GOAL}x)")
            database.image_cache.clear()
            _explain(cur, lambda: service.realty(caller, uuid.UUID(target)))
            connection.close()
        finally:
            database.close()
    met = max(ratios) <= GOAL
    print(f"goal (list latency at {SIZES[-1]:,} rows <= {GOAL}x at {SIZES[0]:,}):", "met" if met else "NOT MET")
    return met


def _explain(cur, listing: Callable[[], object]) -> None:
    log, logger = _SqlLog(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        listing()
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)
    for statement, params in log.statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) {cur.mogrify(statement, params).decode()}")
        for (line,) in cur.fetchall():
            print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return 0 if run(parser.parse_args().pg_url) else 1


if __name__ == "__main__":
    sys.exit(main())
