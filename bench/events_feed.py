"""The change feed's page time as one org's events grow: PostgreSQL, 10,000 vs --feed-events (1,000,000
by default; 10,000,000 with `--feed-events 10000000`, which loads in minutes and takes ~15 GB of disk).

Two scratch databases next to --pg-url, the app's own tables in each (the gateway's start-up creates
them), filled with SQL alone (INSERT ... SELECT generate_series, in batches of 1,000,000 rows): events
shaped like real ones (`image.processed` with the image as the listing shows it, renditions included,
~1.3 KB of JSON each), all of one org. Then `GET /events?after=...&limit=100` through the REST app, at
the middle of each feed and at its end (a follower reading the newest), timed interleaved round by
round so that the shared machine's noise weighs on both sizes alike; then EXPLAIN (ANALYZE, BUFFERS)
of the SQL a page sends at the larger size. The databases are dropped at the end.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Callable

from bench.scratch_postgres import NoPostgres, explain_selects, scratch_databases

ORG = "bench-feed-org"
SECRET = "bench-secret-0123456789abcdef0123456789"
SMALL = 10_000
BATCH = 1_000_000
RUNS = 40
LIMIT = 100
GOAL = 1.2


def _template() -> str:
    """An event's stored `data` (core/image_documents.event_data), with %1$s (PostgreSQL's format()) for
    the image's UUID."""
    key = {"storageKey": "images/%1$s/original.jpg"}
    renditions = {name: {"url": {"storageKey": f"images/%1$s/{name}.jpg"}, "width": w, "height": h,
                         "contentType": "image/jpeg"}
                  for name, w, h in (("thumbnail", 320, 213), ("web", 1280, 853), ("large", 2048, 1365))}
    image = {"realtyImageId": "%1$s", "description": "Living room with a view over the park, south facing",
             "originalFileName": "IMG_4711.jpg", "contentType": "image/jpeg", "width": 4000, "height": 2667,
             "fileSize": 2512345, "imageHash": "9e107d9d372bb6826bd81d3542a419d6", "url": key,
             "category": "ROOM", "hero": False, "published": True, "creationTime": "2026-12-01T10:00:00+00:00",
             "modificationTime": "2026-12-01T10:00:05+00:00", "graphqlId": "eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MX0=",
             "renditions": renditions, "processing": "READY", "processingError": None}
    data = {"realtyId": "0b7f1c9e-2d4a-4c51-9a57-3f1e8d2c6b10", "realtyImageId": "%1$s",
            "graphqlId": "eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MX0=", "image": image}
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


FILL = """
INSERT INTO event (org, seq, event_id, type, occurred_at, data)
SELECT %s, g, md5(g::text)::uuid::text, 'image.processed', now() - interval '1 day' + g * interval '1 millisecond',
       format(%s, md5('image' || g)::uuid)
FROM generate_series(%s, %s) g
"""


class _Feed:
    def __init__(self, url: str, size: int, storage: str) -> None:
        from config import Settings
        from wsgi import create_app

        self.app = create_app(Settings(database_url=url, storage_url=f"file://{storage}", jwt_secret=SECRET))
        gateway = self.app.extensions["realty"]
        self.token = gateway.authenticator.issue("bench-agent", ORG, 3600)
        self.client = self.app.test_client()
        self.url, self.size = url, size

    def fill(self) -> str:
        import psycopg2

        started = time.perf_counter()
        connection = psycopg2.connect(self.url)
        connection.autocommit = True
        try:
            with connection.cursor() as cur:
                cur.execute("SET synchronous_commit = off")
                for first in range(1, self.size + 1, BATCH):
                    cur.execute(FILL, (ORG, _template(), first, min(self.size, first + BATCH - 1)))
                cur.execute("INSERT INTO event_feed (org, last_seq, pruned_through, fanned_out_through) "
                            "VALUES (%s, %s, 0, %s)", (ORG, self.size, self.size))
                loaded = time.perf_counter() - started
                cur.execute("VACUUM ANALYZE event")
                cur.execute("CHECKPOINT")  # the fill's writes reach the disk now, not while timing
                cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('event')) FROM event")
                rows, table_size = cur.fetchone()
        finally:
            connection.close()
        return (f"{rows:>10,} events of one org ({table_size} with indexes; INSERT ... generate_series "
                f"{loaded:.0f} s, {rows / max(loaded, 1e-9):,.0f} rows/s; with VACUUM ANALYZE and CHECKPOINT "
                f"{time.perf_counter() - started:.0f} s)")

    def page(self, after: int) -> Callable[[], None]:
        def get() -> None:
            response = self.client.get(f"/events?after={after}&limit={LIMIT}",
                                       headers={"Authorization": f"Bearer {self.token}"})
            body = response.get_json()
            assert response.status_code == 200 and len(body["events"]) == min(LIMIT, self.size - after), body
            assert body["events"][0]["data"]["image"]["url"].startswith("http"), body["events"][0]
        return get

    def close(self) -> None:
        self.app.extensions["realty"].close()


def _interleaved_ms(calls: dict[str, Callable[[], None]]) -> dict[str, list[float]]:
    for call in calls.values():
        for _ in range(5):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RUNS):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def run(admin_url: str, large: int) -> tuple[list[tuple], bool] | None:
    """Rows for the table (metric, measured, baseline, ratio, goal, ok, noise); None when no PostgreSQL."""
    try:
        with scratch_databases(admin_url, (SMALL, large), prefix="realty_bench_events") as urls:
            return _measure(urls)
    except NoPostgres as exc:
        print(f"\nfeed part SKIPPED: {exc}")
        return None


def _measure(urls: dict[int, str]) -> tuple[list[tuple], bool]:
    small, large = min(urls), max(urls)
    print(f"\n[feed] GET /events?after=...&limit={LIMIT} at {small:,} and {large:,} events of one org "
          f"(PostgreSQL, two databases, timed interleaved, {RUNS} rounds)", flush=True)
    rows, met = [], True
    with tempfile.TemporaryDirectory() as tmp:
        feeds = {size: _Feed(url, size, f"{tmp}/{size}") for size, url in urls.items()}
        try:
            for feed in feeds.values():
                print("  filled " + feed.fill(), flush=True)
            positions = {"middle": lambda size: size // 2, "end": lambda size: size - LIMIT}
            calls = {f"{where} {size}": feeds[size].page(at(size)) for size in (small, large)
                     for where, at in positions.items()}
            times = _interleaved_ms(calls)
            for where in positions:
                base, big = times[f"{where} {small}"], times[f"{where} {large}"]
                ratio = statistics.median(big) / statistics.median(base)
                ok = ratio <= GOAL
                met = met and ok
                rows.append((f"feed page ({LIMIT}) at the {where}, {large:,} vs {small:,} events",
                             f"{statistics.median(big):.1f} ms", f"{statistics.median(base):.1f} ms",
                             ratio, f"<= {GOAL}x", ok,
                             f"{min(big):.1f}/{statistics.median(big):.1f}/{max(big):.1f} vs "
                             f"{min(base):.1f}/{statistics.median(base):.1f}/{max(base):.1f} ms"))
            _explain(feeds[large], positions["middle"](large))
        finally:
            for feed in feeds.values():
                feed.close()
    return rows, met


def _explain(feed: _Feed, after: int) -> None:
    explain_selects(feed.url, feed.page(after), indent="  ")
