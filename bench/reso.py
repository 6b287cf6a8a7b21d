"""Does a RESO replication page slow down as the image table grows, and how fast does it hand out records
beside the REST listing? PostgreSQL, 10,000 vs 1,000,000 image rows (CONTRACT §13).

    python -m bench.reso [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Makes two scratch databases, creates the app's tables in each and fills them with generate_series (realties
of 200 images, three in four published, change stamps spread over a year, renditions included), with the
same first realties in both. Then, interleaved round by round so the shared machine weighs on all alike, it
times through the app (the whole HTTP answer, URLs signed): GET /reso/Media?$top=1000 (the first page in
replication order), the page a nextLink resumes at (its $skiptoken), and GET /realty/{id}/images (a REST
listing of 200 of the same images). It prints the medians, the spread (quartiles), the ratio between the
two sizes (goal <= 1.2x) and RESO's records per second against REST's (goal >= 0.5x), then the EXPLAIN
(ANALYZE, BUFFERS) of the SQL a RESO page sends at 1,000,000 rows. The scratch databases are dropped.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.listing_scale import _RENDITIONS  # noqa: E402 - the listing bench's renditions
from bench.scratch_postgres import NoPostgres, explain_selects, scratch_databases  # noqa: E402

IMAGES_PER_REALTY = 200
SIZES = (10_000, 1_000_000)
ORG = "bench-org"
SECRET = "bench-secret-0123456789abcdef0123456789"
RUNS = 25
PAGE = 1000
SCALE_GOAL, RATE_GOAL = 1.2, 0.5

FILL_REALTIES = ("INSERT INTO realty (uuid, org, name, created_at, version) "
                 "SELECT gen_random_uuid(), %s, 'Realty ' || g, now(), 0 FROM generate_series(%s, %s) g")
FILL_IMAGES = f"""
INSERT INTO image (uuid, realty_id, room_id, kind, position, storage_key, content_type, width, height, file_size, md5,
                   description, original_file_name, category, hero, status, created_at, modified_at, renditions,
                   processing, processing_attempts, org, changed_at, media_changed_at)
SELECT u, rid, NULL, 'PROPERTY', p, 'images/' || u || '/original.jpg', 'image/jpeg', 4000, 2667, 2500000 + p,
       md5(u::text), 'Photo ' || p || ' of realty ' || rid, 'IMG_' || (1000 + p) || '.jpg', 'GENERAL', p = 0,
       CASE WHEN p %% 4 = 3 THEN 'PENDING' ELSE 'APPROVED' END, now() - interval '400 days', now(),
       format('{_RENDITIONS}', u), 'READY', 0, %s, stamp, stamp - interval '1 hour'
FROM (SELECT r.id AS rid, p, md5(r.id || '/' || p)::uuid AS u, now() - random() * interval '365 days' AS stamp
      FROM realty r CROSS JOIN generate_series(0, {IMAGES_PER_REALTY - 1}) p WHERE r.id BETWEEN %s AND %s) s
"""


class _Gateway:
    """One scratch database filled to `size` image rows, and the requests timed on it."""

    def __init__(self, url: str, size: int, storage: str) -> None:
        from config import Settings
        from wsgi import create_app

        self.app = create_app(Settings(database_url=url, storage_url=f"file://{storage}", jwt_secret=SECRET))
        token = self.app.extensions["realty"].authenticator.issue("bench-agent", ORG, 3600)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client, self.url, self.size = self.app.test_client(), url, size

    def fill(self) -> str:
        import psycopg2

        started = time.perf_counter()
        connection = psycopg2.connect(self.url)
        connection.autocommit = True  # VACUUM runs outside a transaction
        try:
            with connection.cursor() as cur:
                realties = self.size // IMAGES_PER_REALTY
                for first in range(1, realties + 1, 500):
                    last = min(realties, first + 499)
                    cur.execute(FILL_REALTIES, (ORG, first, last))
                    cur.execute(FILL_IMAGES, (ORG, first, last))
                cur.execute("VACUUM ANALYZE")
                cur.execute("CHECKPOINT")
                cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'APPROVED'), "
                            "pg_size_pretty(pg_total_relation_size('image')) FROM image")
                rows, published, table_size = cur.fetchone()
                cur.execute("SELECT uuid FROM realty WHERE id = %s", (SIZES[0] // IMAGES_PER_REALTY // 2,))
                self.realty = str(cur.fetchone()[0])
        finally:
            connection.close()
        self.resumed = urlsplit(self._get(f"/reso/Media?$top={PAGE}")["@odata.nextLink"])
        return (f"{rows:>9,} image rows, {published:,} published ({table_size}, filled in "
                f"{time.perf_counter() - started:.0f} s)")

    def _get(self, path: str) -> dict:
        response = self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def reso_first(self) -> None:
        assert len(self._get(f"/reso/Media?$top={PAGE}")["value"]) == PAGE

    def reso_resumed(self) -> None:
        assert len(self._get(f"{self.resumed.path}?{self.resumed.query}")["value"]) == PAGE

    def rest(self) -> None:
        assert len(self._get(f"/realty/{self.realty}/images")["realtyImages"]) == IMAGES_PER_REALTY

    def close(self) -> None:
        self.app.extensions["realty"].close()


def run(admin_url: str) -> bool:
    try:
        with scratch_databases(admin_url, SIZES) as urls:
            return _measure(urls)
    except NoPostgres as exc:
        print(f"\nRESO bench SKIPPED: {exc}")
        return True


def _interleaved_ms(calls: dict[str, Callable[[], object]]) -> dict[str, tuple[float, float, float]]:
    """(first quartile, median, third quartile) of each call in ms, measured round by round."""
    for call in calls.values():
        for _ in range(3):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RUNS):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: tuple(statistics.quantiles(values, n=4)) for name, values in times.items()}


def _measure(urls: dict[int, str]) -> bool:
    print(f"\nRESO Media pages of {PAGE} at {SIZES[0]:,} and {SIZES[-1]:,} image rows, beside the REST listing of "
          f"{IMAGES_PER_REALTY} (PostgreSQL, two databases, interleaved, {RUNS} rounds)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        gateways = {size: _Gateway(url, size, f"{tmp}/{size}") for size, url in urls.items()}
        try:
            for gateway in gateways.values():
                print("  filled " + gateway.fill(), flush=True)
            kinds = ("reso_first", "reso_resumed", "rest")
            times = _interleaved_ms({f"{kind} {size}": getattr(g, kind) for size, g in gateways.items()
                                     for kind in kinds})
            records = {"reso_first": PAGE, "reso_resumed": PAGE, "rest": IMAGES_PER_REALTY}
            print(f"  {'request':<34} {'rows':>9} {'median ms':>10} {'q1..q3 ms':>15} {'records/s':>10}")
            for size in SIZES:
                for kind in kinds:
                    q1, median, q3 = times[f"{kind} {size}"]
                    print(f"  {_LABELS[kind]:<34} {size:>9,} {median:>10.1f} {f'{q1:.1f}..{q3:.1f}':>15} "
                          f"{records[kind] / median * 1000:>10,.0f}")
            small, large = SIZES
            scale = max(times[f"{k} {large}"][1] / times[f"{k} {small}"][1] for k in ("reso_first", "reso_resumed"))
            rate = min((PAGE / times[f"{k} {large}"][1]) / (IMAGES_PER_REALTY / times[f"rest {large}"][1])
                       for k in ("reso_first", "reso_resumed"))
            print(f"  RESO page at {large:,} rows vs {small:,}: {scale:.2f}x (goal <= {SCALE_GOAL}x); "
                  f"RESO records/s vs REST at {large:,}: {rate:.2f}x (goal >= {RATE_GOAL}x)")
            _explain(gateways[large])
        finally:
            for gateway in gateways.values():
                gateway.close()
    met = scale <= SCALE_GOAL and rate >= RATE_GOAL
    print("goals (scale, records/s):", "met" if met else "NOT MET")
    return met


_LABELS = {"reso_first": "GET /reso/Media?$top=1000", "reso_resumed": "  the page its nextLink resumes at",
           "rest": "GET /realty/{id}/images (REST)"}


def _explain(gateway: _Gateway) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each SELECT on images a resumed RESO page (with $count) sends."""
    def send() -> None:
        gateway._get(f"{gateway.resumed.path}?{gateway.resumed.query}&$count=true")
        gateway._get("/reso/Media?$top=1000&$filter=ModificationTimestamp%20gt%202000-01-01T00:00:00Z")
    explain_selects(gateway.url, send, wanted=lambda statement: "image" in statement)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return 0 if run(parser.parse_args().pg_url) else 1


if __name__ == "__main__":
    sys.exit(main())
