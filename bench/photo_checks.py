"""Listing-ready photos (CONTRACT §11): what they cost the render job, how duplicates are found at scale, and how
well the perceptual hash tells the same photo from another.

    python -m bench.photo_checks [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--pictures 1000]

1. Render: a 12 MP photo-like JPEG rendered as before (three JPEG renditions) and as now (the same, three WebP
   renditions, the perceptual hash, blurhash, sharpness and exposure), interleaved round by round on this shared
   machine; the goal is on the median of the rounds' ratios. Wall and CPU time are both shown.
2. Duplicates: two scratch PostgreSQL databases with the app's own tables, one org of 10,000 and one of
   1,000,000 images with random 64-bit hashes, indexed as the app indexes them. A lookup is Views.duplicates for
   an image near a stored one (0 to 6 bits flipped) through the real unit of work; the full scan is one SQL
   statement computing every stored hash's distance (bit_count) on the server. p50 of 200 lookups each.
3. Recall: generated pictures (tests.images.scene: gradients, shapes, grain), each hashed as the render job does,
   against three twins: resized to 50%, re-encoded at JPEG quality 60, and cropped by 5% (2.5% off each side).
   Recall is the share of twins within DUPLICATE_DISTANCE bits; false pairs the share of pairs of different
   pictures within it.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from adapters.pillow_images import PillowInspector  # noqa: E402
from bench.renditions import photo  # noqa: E402
from bench.scratch_postgres import NoPostgres, scratch_databases  # noqa: E402
from core.photo_checks import DUPLICATE_DISTANCE, PhotoChecks, distance  # noqa: E402
from core.processing import JPEG_RENDITIONS, RENDITIONS  # noqa: E402
from core.ports import RenditionSpec  # noqa: E402
from tests.images import encoded, scene  # noqa: E402

RENDER_ROUNDS = 9
RENDER_GOAL = 1.3
LOOKUPS = 200
LOOKUP_GOAL_MS = 5.0
LOOKUP_RATIO_GOAL = 1.5
SIZES = (10_000, 1_000_000)
IMAGES_PER_REALTY = 1_000
ORG = "bench-org"
RECALL_GOAL, FALSE_PAIRS_GOAL = 0.95, 0.01


# --- 1. the render job ----------------------------------------------------------------------------------

def bench_render() -> bool:
    data = encoded(photo(4000, 3000), quality=90)
    inspector = PillowInspector()
    calls = {"before (3 JPEG)": lambda: inspector.render(data, JPEG_RENDITIONS),
             "now (+3 WebP, checks)": lambda: inspector.render_checked(data, RENDITIONS)}
    for call in calls.values():
        call()
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RENDER_ROUNDS):
        for name, call in calls.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            call()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    before, now = calls
    ratios = [n / b for b, n in zip(wall[before], wall[now])]
    ratio = statistics.median(ratios)
    print(f"\n1. Render job, 12 MP JPEG ({len(data) // 1024} KB), {RENDER_ROUNDS} interleaved rounds")
    print(f"   {'':24} {'wall p50':>9} {'wall min':>9} {'wall max':>9} {'CPU p50':>9}")
    for name in calls:
        print(f"   {name:24} {_ms(statistics.median(wall[name])):>9} {_ms(min(wall[name])):>9} "
              f"{_ms(max(wall[name])):>9} {_ms(statistics.median(cpu[name])):>9}")
    cpu_ratio = statistics.median(cpu[now]) / statistics.median(cpu[before])
    ok = ratio <= RENDER_GOAL
    print(f"   ratio now/before: {ratio:.2f}x wall (median of rounds; spread {min(ratios):.2f}-{max(ratios):.2f}), "
          f"{cpu_ratio:.2f}x CPU; goal <= {RENDER_GOAL}x: {'met' if ok else 'MISSED'}")
    return ok


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# --- 2. duplicates at scale --------------------------------------------------------------------------------

FILL_REALTIES = ("INSERT INTO realty (uuid, org, name, created_at, version) "
                 "SELECT gen_random_uuid(), %s, 'Realty ' || g, now(), 0 FROM generate_series(%s, %s) g")
FILL_IMAGES = f"""
INSERT INTO image (uuid, realty_id, kind, position, storage_key, content_type, width, height, file_size, md5,
                   hero, status, created_at, modified_at, renditions, processing, processing_attempts)
SELECT u, rid, 'PROPERTY', p, 'images/' || u || '/original.jpg', 'image/jpeg', 4000, 3000, 2500000,
       md5(u::text), p = 0, 'EXTERNAL_NEW', now(), now(), '[]', 'READY', 1
FROM (SELECT r.id AS rid, p, md5(r.id || '/' || p)::uuid AS u
      FROM realty r CROSS JOIN generate_series(0, {IMAGES_PER_REALTY - 1}) p WHERE r.id BETWEEN %s AND %s) s
"""
# Random 64-bit hashes, cut in bands as core.photo_checks.bands does (PostgreSQL's >> on a bigint is arithmetic,
# so the mask keeps exactly the band's 16 bits of the two's complement, which is what signed64 stores).
FILL_BANDS = """
INSERT INTO perceptual_band (org, band_no, band_value, image_id, perceptual_hash)
SELECT %s, b, ((h >> (16 * b)) & 65535)::int, id, h
FROM (SELECT id, (((random() * 4294967295)::bigint << 32) | (random() * 4294967295)::bigint) AS h
      FROM image WHERE id BETWEEN %s AND %s) s CROSS JOIN generate_series(0, 3) b
"""
SCAN = ("SELECT image_id FROM perceptual_band WHERE org = %s AND band_no = 0 "
        "AND bit_count((perceptual_hash # %s)::bit(64)) <= %s")


def bench_lookups(admin_url: str) -> bool:
    try:
        with scratch_databases(admin_url, SIZES) as urls:
            return _lookups(urls)
    except NoPostgres as exc:
        print(f"\n2. Duplicate lookups SKIPPED: {exc}")
        return True


class _Org:
    """One scratch database holding one org of `size` indexed images."""

    def __init__(self, url: str, size: int, storage: str) -> None:
        from config import Settings
        from core.ports import Caller
        from wsgi import create_app

        app = create_app(Settings(database_url=url, storage_url=f"file://{storage}",
                                  jwt_secret="bench-secret-0123456789abcdef0123456789"))
        self.views, self.caller = app.extensions["realty"].core.views, Caller("bench-agent", ORG)
        self.url, self.size = url, size

    def fill(self) -> str:
        import psycopg2

        started = time.perf_counter()
        connection = psycopg2.connect(self.url)
        connection.autocommit = True
        try:
            with connection.cursor() as cur:
                realties = self.size // IMAGES_PER_REALTY
                for first in range(1, realties + 1, 100):
                    last = min(realties, first + 99)
                    cur.execute(FILL_REALTIES, (ORG, first, last))
                    cur.execute(FILL_IMAGES, (first, last))
                for first in range(1, self.size + 1, 100_000):
                    cur.execute(FILL_BANDS, (ORG, first, first + 99_999))
                cur.execute("VACUUM ANALYZE")
                cur.execute("CHECKPOINT")
                cur.execute("SELECT b.perceptual_hash, i.uuid FROM perceptual_band b JOIN image i ON i.id = b.image_id "
                            "WHERE b.band_no = 0 ORDER BY random() LIMIT %s", (LOOKUPS,))
                self.targets = cur.fetchall()
                cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('perceptual_band')) "
                            "FROM perceptual_band")
                rows, size = cur.fetchone()
        finally:
            connection.close()
        self.scan_connection = psycopg2.connect(self.url)
        return f"{self.size:>9,} images: {rows:,} band rows ({size}), filled in {time.perf_counter() - started:.0f} s"

    def queries(self, seed: int) -> list[tuple[int, uuid.UUID]]:
        """(hash, the stored image it should find) pairs: stored hashes with 0 to 6 bits flipped."""
        rng = random.Random(seed)
        out = []
        for stored, image_uuid in self.targets:
            value = stored + (1 << 64) if stored < 0 else stored
            for bit in rng.sample(range(64), rng.randrange(DUPLICATE_DISTANCE + 1)):
                value ^= 1 << bit
            out.append((value, uuid.UUID(str(image_uuid))))
        return out

    def lookup(self, value: int) -> set[uuid.UUID]:
        from core.domain import Image

        probe = Image(uuid=uuid.uuid4(), realty_uuid=uuid.uuid4(), storage_key="", content_type="image/jpeg",
                      width=1, height=1, file_size=1, md5="0" * 32, created_at=None, modified_at=None,  # type: ignore
                      checks=PhotoChecks(value, "", 0.0, 0.0, 0.0, 0.0), id=-1)
        return {d.image_uuid for d in self.views.duplicates(self.caller, [probe])[probe.uuid]}

    def scan(self, value: int) -> list[int]:
        signed = value - (1 << 64) if value >= 1 << 63 else value
        with self.scan_connection.cursor() as cur:
            cur.execute(SCAN, (ORG, signed, DUPLICATE_DISTANCE))
            return [row[0] for row in cur.fetchall()]


def _lookups(urls: dict[int, str]) -> bool:
    print(f"\n2. Duplicate lookups on PostgreSQL, one org, p50 of {LOOKUPS} (interleaved between the sizes)")
    with tempfile.TemporaryDirectory() as storage:
        orgs = {size: _Org(url, size, storage) for size, url in urls.items()}
        for org in orgs.values():
            print("   " + org.fill())
        found = {size: 0 for size in orgs}
        times: dict[tuple[int, str], list[float]] = {(size, way): [] for size in orgs for way in ("index", "scan")}
        queries = {size: org.queries(size) for size, org in orgs.items()}
        for size, org in orgs.items():  # warm both (PostgreSQL's caches, the app's first statements)
            for value, _ in queries[size][:10]:
                org.lookup(value), org.scan(value)
        for n in range(LOOKUPS):
            for size, org in orgs.items():
                value, target = queries[size][n]
                started = time.perf_counter()
                matches = org.lookup(value)
                times[(size, "index")].append(time.perf_counter() - started)
                started = time.perf_counter()
                org.scan(value)
                times[(size, "scan")].append(time.perf_counter() - started)
                found[size] += target in matches
        print(f"   {'images':>10} {'index p50':>10} {'index p90':>10} {'scan p50':>10} {'found':>8}")
        p50 = {}
        for size in orgs:
            index, scan = times[(size, "index")], times[(size, "scan")]
            p50[size] = statistics.median(index) * 1000
            p90 = statistics.quantiles(index, n=10)[-1] * 1000
            print(f"   {size:>10,} {p50[size]:>7.2f} ms {p90:>7.2f} ms {statistics.median(scan) * 1000:>7.1f} ms "
                  f"{found[size]:>4}/{LOOKUPS}")
        small, large = SIZES
        ratio = p50[large] / p50[small]
        ok = max(p50.values()) <= LOOKUP_GOAL_MS and ratio <= LOOKUP_RATIO_GOAL and all(
            n == LOOKUPS for n in found.values())
        print(f"   index 1,000,000 vs 10,000: {ratio:.2f}x; goals <= {LOOKUP_GOAL_MS} ms and <= {LOOKUP_RATIO_GOAL}x, "
              f"every near image found: {'met' if ok else 'MISSED'}")
        for org in orgs.values():
            org.scan_connection.close()
    return ok


# --- 3. recall and false pairs ----------------------------------------------------------------------------

def bench_recall(pictures: int) -> bool:
    inspector = PillowInspector()
    spec = [RenditionSpec("thumbnail", 320)]

    def hashed(img) -> int:
        return inspector.render_checked(encoded(img, quality=90), spec).checks.perceptual_hash

    started = time.perf_counter()
    originals, twins = [], {"resized 50%": [], "JPEG q60": [], "cropped 5%": []}
    for seed in range(pictures):
        img = scene(10_000 + seed, 800, 600)
        originals.append(hashed(img))
        twins["resized 50%"].append(hashed(img.resize((400, 300))))
        twins["JPEG q60"].append(inspector.render_checked(encoded(img, quality=60), spec).checks.perceptual_hash)
        twins["cropped 5%"].append(hashed(img.crop((10, 8, 790, 592))))
    print(f"\n3. Near duplicates among {pictures:,} generated pictures (hashed in {time.perf_counter() - started:.0f} s)")
    ok = True
    for name, hashes in twins.items():
        recall = sum(distance(a, b) <= DUPLICATE_DISTANCE for a, b in zip(originals, hashes)) / pictures
        spread = [distance(a, b) for a, b in zip(originals, hashes)]
        ok &= recall >= RECALL_GOAL
        print(f"   {name:12} recall {recall:7.1%}  (distance p50 {statistics.median(spread):.0f}, max {max(spread)})")
    values = np.array(originals, dtype=np.uint64)
    close = sum(int(np.count_nonzero(np.bitwise_count(values[i + 1:] ^ values[i]) <= DUPLICATE_DISTANCE))
                for i in range(pictures - 1))
    pairs = pictures * (pictures - 1) // 2
    ok &= close / pairs <= FALSE_PAIRS_GOAL
    print(f"   false pairs: {close:,} of {pairs:,} pairs of different pictures ({close / pairs:.3%}); "
          f"goals recall >= {RECALL_GOAL:.0%}, false pairs <= {FALSE_PAIRS_GOAL:.0%}: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pictures", type=int, default=1000)
    parser.add_argument("--skip", action="append", default=[], choices=["render", "lookups", "recall"])
    args = parser.parse_args()
    ok = True
    if "render" not in args.skip:
        ok &= bench_render()
    if "lookups" not in args.skip:
        ok &= bench_lookups(args.pg_url)
    if "recall" not in args.skip:
        ok &= bench_recall(args.pictures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
