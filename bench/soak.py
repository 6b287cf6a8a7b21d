"""Soak test: the production layout under mixed REST and GraphQL load while backends fail and processes die.

    python -m bench.soak [--seconds 300] [--clients 30] [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

On this machine, as the README's production section runs it: gunicorn (gunicorn.conf.py) and
`flask --app wsgi worker --processes 2` render workers, reaching a scratch PostgreSQL database, moto's
S3 server and a Redis of the soak's own through TCP fault proxies (bench/soak_stack.py).

For --seconds, --clients agents of three orgs write and read over both APIs (bench/soak_client.py):
grants, presigned POST uploads and saves of batches, listings with If-None-Match, PUT reorders and
metadata, publish and unpublish, deletes and copies over REST; createProperty, createPropertyImage
(multipart), updateImage, reorderImages, publishImages, deleteImage, copyImages and queries over GraphQL.
Each write carries a Request-ID or Idempotency-Key, and is sent again with it after a 503,
SERVICE_UNAVAILABLE, CONFLICT or a lost connection, as a real client would.

Meanwhile (bench/soak_faults.py) PostgreSQL, S3 and Redis are each cut and frozen twice for a few
seconds, a render worker process and a gunicorn worker are killed with SIGKILL (twice each: once on
their own, once during a PostgreSQL fault), and `gc` runs every 30 s. Then everything is restored, the
gateway gets a bounded time to recover, `gc` runs a last time, and every invariant is checked against
the database and the bucket, read directly (bench/soak_checks.py). The tables count requests by kind
and status, faults, and violations per invariant; the exit status is 1 on any violation.

The processes' logs stay in a temporary directory, printed at the start, when anything was violated.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import jwt
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/soak.py` as well as `python -m bench.soak`, from anywhere
    sys.path.insert(0, str(ROOT))

from bench.soak_api import RETRY_FOR, Api, photo  # noqa: E402
from bench.soak_checks import (  # noqa: E402
    check_accounts, check_files, check_models, check_requests, check_snapshot, final_gc, recover, stall_bound,
)
from bench.soak_client import Client  # noqa: E402
from bench.soak_faults import FaultSchedule  # noqa: E402
from bench.soak_model import RealtyModel  # noqa: E402
from bench.soak_report import print_report  # noqa: E402
from bench.soak_snapshot import take  # noqa: E402
from bench.soak_stack import BUCKET, SECRET, Layout, Stack  # noqa: E402
from bench.soak_tally import Tally  # noqa: E402

ORGS = ("soak-org-a", "soak-org-b", "soak-org-c")
PROGRESS_EVERY = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="an admin connection: the soak makes (and drops) a scratch database beside it")
    args = parser.parse_args()
    missing = _missing_prerequisites(args.pg_url)
    if missing:
        print(f"soak: SKIPPED, {missing}")
        return 0

    logs = Path(tempfile.mkdtemp(prefix="soak-"))
    logging.basicConfig(filename=logs / "soak.log", level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
    print(f"soak: {args.clients} clients for {args.seconds:.0f} s; logs in {logs}", flush=True)
    tally, stack = Tally(), Stack(Layout(pg_admin_url=args.pg_url), logs)
    load = Load()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started where SIGINT was ignored (`cmd &`)
        signal.signal(signum, _interrupt)
    try:
        stack.start()
        warm_up(stack, tally)
        print(f"soak: up (gunicorn {stack.base}, scratch database {stack.database}); load {_load()}", flush=True)
        clients = run(stack, tally, args.seconds, args.clients, load)
        facts = finish(stack, tally, clients, load)
    except KeyboardInterrupt:
        print("soak: interrupted; stopping everything it started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
    print_report(tally, [("clients, seconds", f"{args.clients}, {args.seconds:.0f}"), *facts])
    violated = sum(len(v) for v in tally.violations.values()) + tally.notes["bench errors (see soak.log)"]
    if violated:
        print(f"\nsoak: VIOLATIONS; logs kept in {logs}")
        return 1
    shutil.rmtree(logs, ignore_errors=True)
    print("\nsoak: no violation")
    return 0


class Load:
    """The machine's load average, sampled while the soak runs: its numbers mean little without it."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def sample(self) -> None:
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        return f"1-min load average {min(self.samples):.1f}..{max(self.samples):.1f} on {os.cpu_count()} cores"


def run(stack: Stack, tally: Tally, seconds: float, count: int, load: Load) -> list[Client]:
    """The clients, the fault schedule and the periodic gc, for `seconds`; then wait for the clients to
    finish the write each is on (its retries included)."""
    tokens = _tokens()
    hot = {org: RealtyModel(str(uuid.uuid4()), shared=True) for org in ORGS}
    stop = threading.Event()
    clients = [Client(f"c{n:02d}", Api(stack.base, tokens[ORGS[n % len(ORGS)]], tally), tally,
                      hot[ORGS[n % len(ORGS)]], stop) for n in range(count)]
    faults = FaultSchedule(stack, tally, seconds, stop)
    threads = [threading.Thread(target=c.run, name=c.name, daemon=True) for c in clients]
    helpers = [threading.Thread(target=faults.run, name="faults", daemon=True),
               threading.Thread(target=faults.gc_loop, name="gc", daemon=True)]
    started = time.monotonic()
    for thread in threads + helpers:
        thread.start()
    while not stop.wait(min(PROGRESS_EVERY, max(0.0, started + seconds - time.monotonic()))):
        load.sample()
        elapsed = time.monotonic() - started
        print(f"soak: {elapsed:4.0f} s, {sum(tally.requests.values())} requests, faults {sum(tally.faults.values())}, "
              f"load {_load()}", flush=True)
        if elapsed >= seconds:
            stop.set()
    for thread in helpers:
        thread.join(60)
    deadline = time.monotonic() + RETRY_FOR + 60
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        tally.violation("resolved", f"{sum(t.is_alive() for t in threads)} clients still busy long after the end")
    faults.join_watchers(60)
    return clients


def warm_up(stack: Stack, tally: Tally, timeout: float = 180) -> None:
    """One image saved and rendered before the clock starts: every process has booted and the whole
    path works, so the first fault meets a running system rather than one still starting."""
    api, realty, key = Api(stack.base, _tokens()[ORGS[0]], tally), str(uuid.uuid4()), str(uuid.uuid4())
    grant = api.rest("warm-up", "GET", "/uploadGrants?type=image/jpeg")
    if not (grant.ok and api.upload(grant.body, photo("image/jpeg", "warm-up"), "image/jpeg")):
        raise RuntimeError(f"warm-up: no upload ({grant.label})")
    saved = api.rest("warm-up", "POST", f"/realty/{realty}/images", key,
                     json={"uploadedImages": [{"key": grant.body["fields"]["key"]}]})
    if not saved.ok:
        raise RuntimeError(f"warm-up: the save answered {saved.label}")
    tally.made([i["realtyImageId"] for i in saved.body["realtyImages"]], realty, "warm-up", key)
    deadline = time.monotonic() + timeout
    while api.rest("warm-up", "GET", f"/realty/{realty}/images").body["realtyImages"][0]["processing"] != "READY":
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: the image was not rendered within {timeout:.0f} s")
        time.sleep(0.5)


def finish(stack: Stack, tally: Tally, clients: list[Client], load: Load) -> list[tuple[str, str]]:
    """Everything restored: recover, collect garbage, then check every invariant. Returns facts to print."""
    load.sample()
    recovered, backlog = recover(stack, tally)
    final_gc(stack, tally)
    snap = take(stack.direct_database_url, stack.s3, BUCKET)
    check_snapshot(snap, tally)
    check_accounts(snap, tally)
    check_models(snap, tally, [model for client in clients for model in client.own])
    check_requests(tally)
    items = check_files(snap, tally, stack.base, _tokens())
    load.sample()
    bound = stall_bound(stack.layout.stale_after)
    return [
        ("machine", load.summary()),
        ("layout", f"gunicorn {stack.layout.gunicorn_workers}x{stack.layout.gunicorn_threads}, render workers "
                   f"{stack.layout.render_processes}x{stack.layout.render_threads}, BACKEND_TIMEOUT "
                   f"{stack.layout.backend_timeout:.0f} s, PROCESSING_STALE_AFTER {stack.layout.stale_after} s"),
        ("PENDING after the load, all rendered in", f"{backlog}, {recovered:.0f} s" if recovered is not None
         else f"{backlog}, NOT: rendering stood still for {bound:.0f} s"),
        ("realties, images, listed items checked", f"{len(snap.realties)}, {len(snap.images)}, {items}"),
        ("images of the three largest realties", ", ".join(map(str, sorted(map(len, snap.by_realty().values()))[-3:]))),
        ("bucket objects, blob rows, grants", f"{len(snap.objects)}, {len(snap.blobs)}, {len(snap.grants)}"),
    ]


def _tokens() -> dict[str, str]:
    expires = int(time.time()) + 4 * 3600
    return {org: jwt.encode({"sub": f"{org}-agent", "org": org, "exp": expires}, SECRET, "HS256") for org in ORGS}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _missing_prerequisites(pg_url: str) -> str | None:
    for program in ("redis-server",):
        if shutil.which(program) is None:
            return f"no {program} on PATH"
    if not (Path(sys.executable).parent / "moto_server").exists():
        return "no moto_server beside this Python (pip install 'moto[server]')"
    try:
        psycopg2.connect(pg_url, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"no PostgreSQL answers at {pg_url} ({str(exc).strip()})"
    return None


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
