"""Events out (CONTRACT §10): what the outbox costs a save, and how fast webhooks and the feed are.

    python -m bench.events [--rounds 4] [--throughput-runs 2] [--feed-events 1000000] [--pg-url URL]
                           [--no-postgres] [--only-feed]

One run, side by side, in the production layout on this machine: the gateway under gunicorn (2 processes
of 4 threads, as gunicorn.conf.py has it), PostgreSQL (a scratch database next to --pg-url; SQLite
without one), a redis-server of its own, `flask --app wsgi worker` processes (Dramatiq on that Redis,
2 threads each, the CLI's default), the local file store, and a receiver on 127.0.0.1 (a threaded
http.server) that verifies every POST with the `standardwebhooks` library (bench/events_receiver.py).

1. save: rounds of 200 REST saves of one image each (`POST /realty/{id}/images`, the upload made
   beforehand, untimed), by an org with one webhook subscribed to every event and by an org with none,
   in turn save by save; 2 worker processes render and deliver meanwhile. Goal: <= 1.05x,
   on the wall time (the median of each round's ratio) and on the gateway's CPU per save (its gunicorn
   workers', from /proc: what the request path costs, whatever else the shared machine does).
2. latency: from an event's `occurredAt` (taken before its commit, so this errs long) to the receiver
   having verified it; for image.created of saves made one at a time, 4 a second, with the workers
   otherwise idle (goal p50 <= 0.5 s), and of the saves of part 1 (under load, for information).
3. throughput: 10,000 image.updated events (50 PUTs of 200 descriptions) committed while no worker
   runs, then delivered by 1 and by 2 worker processes (runs alternated 1, 2, 2, 1): events / seconds
   from the first receipt to the last (the start-up of the processes excluded; from their start in the
   notes), and the CPU each delivered event cost the workers and the receiver. Goal: >= 500/s with 2.
4. feed: `GET /events` page time at 10,000 vs --feed-events events of one org (bench/events_feed.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import events_feed  # noqa: E402
from bench.bulk_save import Bench, gunicorn_workers, wait_http  # noqa: E402
from bench.events_receiver import Receiver  # noqa: E402
from bench.scratch_postgres import NoPostgres, scratch_databases  # noqa: E402
from tests.redis_server import own_redis_server, redis_server_binary  # noqa: E402

SECRET = "bench-secret-0123456789abcdef0123456789"
SAVES = 200
PACED_SAVES = 40
PACE_SECONDS = 0.25
THROUGHPUT_EVENTS = 10_000
GOALS = {"save": 1.05, "latency": 0.5, "throughput": 500.0}


def _jpeg(n: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (n % 256, (n * 7) % 256, (n * 13) % 256)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


class Org:
    """One organisation's REST client."""

    def __init__(self, base: str, name: str) -> None:
        self.base, self.name = base, name
        token = jwt.encode({"sub": "bench", "org": name, "exp": int(time.time()) + 7200}, SECRET, "HS256")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def rest(self, method: str, path: str, expect: int = 200, **kwargs) -> requests.Response:
        response = self.http.request(method, self.base + path, headers={"Request-ID": str(uuid.uuid4())},
                                     timeout=300, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response

    def upload(self, data: bytes) -> str:
        grant = self.rest("GET", "/uploadGrants?type=image/jpeg").json()
        parts = [(k, (None, v)) for k, v in grant["fields"].items()] + [("file", ("photo.jpg", data, "image/jpeg"))]
        posted = self.http.post(grant["url"], files=parts, timeout=120)
        assert posted.status_code in (200, 201, 204), posted.text
        return grant["fields"]["key"]

    def uploads(self, count: int) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        tag = uuid.uuid4().int
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda n: self.upload(_jpeg(tag + n)), range(count)))

    def save(self, realty: str, keys: list[str]) -> tuple[float, float]:
        """(seconds the save took, time.time() when its 201 came)."""
        started = time.perf_counter()
        self.rest("POST", f"/realty/{realty}/images", 201, json={"uploadedImages": [{"key": k} for k in keys]})
        return time.perf_counter() - started, time.time()

    def images(self, realty: str) -> list[dict]:
        return self.rest("GET", f"/realty/{realty}/images").json()["realtyImages"]

    def wait_ready(self, realty: str, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = [i["processing"] for i in self.images(realty)]
            if len(states) == count and "PENDING" not in states:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{realty}: not all {count} images processed within {timeout:.0f} s")
            time.sleep(0.3)

    def subscribe(self, url: str, events: list[str] | None = None) -> tuple[str, str]:
        body = {"url": url, **({"events": events} if events else {})}
        created = self.rest("POST", "/webhooks", 201, json=body).json()
        return created["id"], created["secret"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU of this process's children that ended and were waited for (a worker tree once stopped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _spread(values: list[float], unit: str, digits: int = 1) -> str:
    return (f"{min(values):.{digits}f}/{statistics.median(values):.{digits}f}/{max(values):.{digits}f} {unit}"
            f" (n={len(values)})")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_stack(bench: Bench, receiver: Receiver, rounds: int, throughput_runs: int) -> list[tuple]:
    plain, hooked, busy = (Org(bench.base, f"bench-events-{n}") for n in ("plain", "hooked", "throughput"))
    rows: list[tuple] = []

    # The throughput org's realty of 200 images: one save of 200, rendered before anything is timed.
    workers = bench.workers(2)
    realty_t = str(uuid.uuid4())
    seconds, _ = busy.save(realty_t, busy.uploads(SAVES))
    print(f"[setup] a save of {SAVES} images in one request: {seconds:.2f} s", flush=True)
    busy.wait_ready(realty_t, SAVES)

    # 1. Saves with one webhook subscribed and with none, interleaved round by round.
    hook_id, secret = hooked.subscribe(receiver.base + "/hooked")
    receiver.add("hooked", secret)
    totals: dict[str, list[float]] = {"plain": [], "hooked": []}
    cpu: dict[str, list[float]] = {"plain": [], "hooked": []}
    each: dict[str, list[float]] = {"plain": [], "hooked": []}
    under_load: list[float] = []
    gateway = gunicorn_workers(bench.gunicorn.pid)
    print(f"[save] {rounds} rounds of {SAVES} saves of one image per org, the orgs in turn save by save; the "
          f"gateway's CPU is its gunicorn workers' (/proc, 10 ms ticks summed over the round)", flush=True)
    for round_ in range(rounds):
        # Save by save, the two orgs in turn (who goes first alternates): both meet the same machine.
        orgs = {"plain": plain, "hooked": hooked}
        keys = {name: org.uploads(SAVES) for name, org in orgs.items()}
        realties = {name: str(uuid.uuid4()) for name in orgs}
        times: dict[str, list[float]] = {"plain": [], "hooked": []}
        ticks: dict[str, float] = {"plain": 0.0, "hooked": 0.0}
        for n in range(SAVES):
            for name in (("plain", "hooked") if (n + round_) % 2 == 0 else ("hooked", "plain")):
                cpu_before = sum(map(_cpu_seconds, gateway))
                times[name].append(orgs[name].save(realties[name], [keys[name][n]])[0])
                ticks[name] += sum(map(_cpu_seconds, gateway)) - cpu_before
        for name in orgs:
            cpu[name].append(ticks[name] / SAVES * 1000)
            totals[name].append(sum(times[name]))
            each[name] += times[name]
            print(f"  round {round_ + 1} {name:<6}: {totals[name][-1]:.2f} s, p50 "
                  f"{statistics.median(times[name]) * 1000:.1f} ms per save, gateway CPU {cpu[name][-1]:.1f} ms "
                  f"per save", flush=True)
        for name, org in orgs.items():
            org.wait_ready(realties[name], SAVES)  # each round starts with the workers idle
        done = len(totals["hooked"]) * SAVES
        got = receiver.wait_for("hooked", done, 600, "image.created")
        receiver.wait_for("hooked", done, 600, "image.processed")
        under_load = [r.at - r.occurred_at for r in got]
    paired = [h / p for h, p in zip(totals["hooked"], totals["plain"])]
    ratio = statistics.median(paired)
    rows.append((f"{SAVES} saves of 1 image, 1 webhook vs none (wall)", f"{statistics.median(totals['hooked']):.2f} s",
                 f"{statistics.median(totals['plain']):.2f} s", ratio, f"<= {GOALS['save']}x",
                 ratio <= GOALS["save"], f"ratio per round {_spread(paired, 'x', 2)}; round totals "
                 f"{_spread(totals['hooked'], 's', 2)} vs {_spread(totals['plain'], 's', 2)}; per save p50 "
                 f"{statistics.median(each['hooked']) * 1000:.1f} vs {statistics.median(each['plain']) * 1000:.1f} ms"))
    cpu_ratio = statistics.median(cpu["hooked"]) / statistics.median(cpu["plain"])
    rows.append(("gateway CPU per save, 1 webhook vs none", f"{statistics.median(cpu['hooked']):.1f} ms",
                 f"{statistics.median(cpu['plain']):.1f} ms", cpu_ratio, f"<= {GOALS['save']}x",
                 cpu_ratio <= GOALS["save"], f"{_spread(cpu['hooked'], 'ms')} vs {_spread(cpu['plain'], 'ms')}"))

    # 2. Commit-to-receiver latency, saves one at a time with the workers otherwise idle.
    keys, realty = hooked.uploads(PACED_SAVES), str(uuid.uuid4())
    before = receiver.count("hooked", "image.created")
    for key in keys:
        hooked.save(realty, [key])
        time.sleep(PACE_SECONDS)
    got = receiver.wait_for("hooked", before + PACED_SAVES, 120, "image.created")
    ours = {i["realtyImageId"] for i in hooked.images(realty)}
    paced = [r.at - r.occurred_at for r in got if r.realty_image_id in ours]
    p50, p95 = _percentile(paced, 0.5), _percentile(paced, 0.95)
    rows.append(("commit -> verified receipt, p50 (paced saves)", f"{p50:.3f} s", "", None,
                 f"<= {GOALS['latency']} s", p50 <= GOALS["latency"],
                 f"p95 {p95:.3f} s; min/median/max {_spread(paced, 's', 3)}"))
    rows.append(("commit -> verified receipt, p50 (part 1, under load)", f"{_percentile(under_load, 0.5):.3f} s",
                 "", None, "info", None, f"p95 {_percentile(under_load, 0.95):.3f} s; {_spread(under_load, 's', 3)}"))
    hooked.wait_ready(realty, PACED_SAVES)
    bench.stop(workers)
    hooked.rest("DELETE", f"/webhooks/{hook_id}")

    # 3. Delivery throughput: a backlog of 10,000 events, then 1 or 2 worker processes, alternated.
    images = busy.images(realty_t)
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    receiving: list[float] = []
    for run_, processes in enumerate((1, 2, 2, 1)[:2 * throughput_runs]):
        name = f"throughput-{run_}"
        hook_id, secret = busy.subscribe(f"{receiver.base}/{name}", ["image.updated"])
        receiver.add(name, secret)
        for batch in range(THROUGHPUT_EVENTS // len(images)):
            busy.rest("PUT", f"/realty/{realty_t}/images", json={"realtyImages": [
                {"realtyImageId": i["realtyImageId"], "description": f"{name} {batch} {n}"}
                for n, i in enumerate(images)]})
        started, workers_cpu, receiver_cpu = time.time(), _children_cpu(), _own_cpu()
        workers = bench.workers(processes)
        got = receiver.wait_for(name, THROUGHPUT_EVENTS, 900)
        receiving.append((_own_cpu() - receiver_cpu) / len(got) * 1000)
        bench.stop(workers)
        cpu[processes].append((_children_cpu() - workers_cpu) / len(got) * 1000)
        busy.rest("DELETE", f"/webhooks/{hook_id}")
        span = got[-1].at - got[0].at
        rates[processes].append((len(got) - 1) / span)
        print(f"[throughput] {processes} worker process(es): {len(got):,} events in {span:.1f} s from the first "
              f"receipt ({rates[processes][-1]:.0f}/s); {got[-1].at - started:.1f} s from starting the processes "
              f"({len(got) / (got[-1].at - started):.0f}/s); CPU per event: workers {cpu[processes][-1]:.2f} ms "
              f"(start-up included), receiver {receiving[-1]:.2f} ms", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    rows.append((f"delivery of {THROUGHPUT_EVENTS:,} events, 2 worker processes", f"{two:.0f}/s", f"{one:.0f}/s",
                 two / one, f">= {GOALS['throughput']:.0f}/s", two >= GOALS["throughput"],
                 f"{_spread(rates[2], '/s', 0)} vs 1 process {_spread(rates[1], '/s', 0)}"))
    all_cpu = cpu[1] + cpu[2]
    rows.append(("CPU per delivered event: workers / receiver", f"{statistics.median(all_cpu):.2f} ms",
                 f"{statistics.median(receiving):.2f} ms", None, "info", None,
                 f"workers {_spread(all_cpu, 'ms', 2)}, their start-up included"))
    rows.append(("receiver refused (bad signature)", str(receiver.refused), "", None, "0", receiver.refused == 0, ""))
    return rows


def print_table(rows: list[tuple]) -> bool:
    print(f"\n{'metric':<58} {'measured':>10} {'baseline':>10} {'ratio':>6} {'goal':>11}  result  "
          "noise (min/median/max)")
    met = True
    for metric, measured, baseline, ratio, goal, ok, noise in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        met = met and ok is not False
        ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"{metric:<58} {measured:>10} {baseline:>10} {ratio_text:>6} {goal:>11}  {verdict:<6}  {noise}")
    print("\ngoals:", "met" if met else "NOT MET")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="save rounds per org (default 4)")
    parser.add_argument("--throughput-runs", type=int, default=2, choices=(1, 2),
                        help="delivery runs per worker count (default 2, alternated 1, 2, 2, 1 processes)")
    parser.add_argument("--feed-events", type=int, default=1_000_000,
                        help="events of the large feed (default 1,000,000; 10,000,000 loads in minutes)")
    parser.add_argument("--pg-url", default=os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--no-postgres", action="store_true", help="SQLite for parts 1-3, and no feed part")
    parser.add_argument("--only-feed", action="store_true", help="part 4 only")
    args = parser.parse_args()
    rows: list[tuple] = []
    if not args.only_feed:
        if redis_server_binary() is None:
            print("events: parts 1-3 SKIPPED, no redis-server binary on PATH (apt-get install redis-server)")
        else:
            rows += _run_parts_1_to_3(args)
    if not args.no_postgres:
        feed = events_feed.run(args.pg_url, args.feed_events)
        if feed is not None:
            rows += feed[0]
    return 0 if print_table(rows) else 1


def _run_parts_1_to_3(args: argparse.Namespace) -> list[tuple]:
    with contextlib.ExitStack() as scratch:
        database = None
        if not args.no_postgres:
            try:
                database = scratch.enter_context(scratch_databases(args.pg_url, [0], "realty_bench_events"))[0]
            except NoPostgres as exc:
                print(f"{exc}: parts 1-3 run on SQLite")
        return _run_on(args, database)


def _run_on(args: argparse.Namespace, database: str | None) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp, own_redis_server(Path(tmp) / "redis") as redis_url:
        bench = Bench(Path(tmp), 1, redis_url)
        bench.env.update({"DATABASE_URL": database or f"sqlite:///{tmp}/realty.db",
                          "STORAGE_URL": f"file://{tmp}/storage", "WEBHOOK_ALLOW_HTTP": "1",
                          "WEBHOOK_ALLOW_PRIVATE": "1", "PUBLIC_URL": bench.base})
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            bench.env.pop(name, None)
        receiver = Receiver()
        try:
            bench.gunicorn = bench.spawn([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2",
                                          "--threads", "4", "--bind", f"127.0.0.1:{bench.port}", "wsgi:app"],
                                         "gunicorn.log")
            wait_http(bench.base + "/healthz")
            print(f"gateway: gunicorn 2x4 on {'PostgreSQL' if database else 'SQLite'}, Redis {redis_url}, "
                  f"receiver {receiver.base}", flush=True)
            return run_stack(bench, receiver, args.rounds, args.throughput_runs)
        finally:
            bench.close()
            receiver.close()


if __name__ == "__main__":
    sys.exit(main())
