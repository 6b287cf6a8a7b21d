"""How fast the gateway lists a realty's 200 images, against bare apps answering the same JSON.

    python -m bench.listing [--seconds 10] [--no-postgres]

Starts moto's threaded S3 server and a bucket, saves a realty of 200 small JPEGs through the core
service (originals and renditions really stored on moto), then serves the gateway under gunicorn with
one sync worker (`wsgi:app`, as in production; SQLite, STORAGE_URL=s3://bench-bucket, AWS_ENDPOINT_URL=moto).
Two floors run under the same gunicorn settings (bench/bare_apps.py): a bare Flask app answering the
gateway's own listing JSON, and bare Ariadne resolving the same images from memory. Each target gets
the same bounded load (wrk when installed, else a Python loop) one after the other, and a table of
req/s and ratios is printed. Operating costs (CONTRACT §12): the same gateway once with METRICS=0 and text
logs, once with metrics and LOG_FORMAT=json (one line a request, to a file), measured in turns (off, on,
on, off) so that drift on a shared machine falls on both; goal: on >= OPERATING_GOAL x off. Then the
PostgreSQL part (bench/listing_scale.py): one realty's listing at 10,000 and at 1,000,000 image rows, with
the EXPLAIN of its queries.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `python bench/listing.py` finds the packages
    sys.path.insert(0, str(ROOT))

from bench import bare_apps, listing_scale, load  # noqa: E402

IMAGES = 200
BUCKET = "bench-bucket"
SECRET = "bench-secret-0123456789abcdef0123456789"
ORG = "bench-org"
GOALS = {"REST": 0.5, "GraphQL": 0.8}
OPERATING_GOAL = 0.9


# --- servers -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(app: str, env: dict[str, str]) -> Iterator[str]:
    """`app` under gunicorn with one sync worker; yields its base URL."""
    port = _free_port()
    # A file, not a pipe: with LOG_FORMAT=json every request writes a line, and a pipe nobody reads fills.
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120", app],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{app} exited: {log.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _fetch(url: str, token: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers), response.read()


# --- the realty ------------------------------------------------------------------------------------

def _jpeg(n: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (n % 256, (n * 7) % 256, (n * 13) % 256)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def load_realty(env: dict[str, str]) -> tuple[str, str]:
    """Save a realty of IMAGES images through the core's bus; returns (realty uuid, property id)."""
    from config import Settings
    from core.domain import ImageCategory
    from core.global_ids import PROPERTY, encode
    from core.ports import Caller
    from core.commands import CreateProperty, DirectUpload, UploadImage
    from wsgi import create_app

    app = create_app(Settings.from_env(env))
    try:
        blobs, bus = app.extensions["realty"].blobs, app.extensions["realty"].core.bus
        blobs.create_bucket()
        caller = Caller(sub="bench-agent", org=ORG)
        realty = bus.handle(CreateProperty(caller, "Bench House"))
        for n in range(IMAGES):
            bus.handle(UploadImage(caller, realty.uuid, DirectUpload(
                data=_jpeg(n), filename=f"photo-{n}.jpg", category=ImageCategory.GENERAL, hero=n == 0,
                description=f"Photo {n} of the bench house")))
        app.extensions["realty"].jobs.join()  # the renditions, made in this process's job threads
        return str(realty.uuid), encode(PROPERTY, realty.id)
    finally:
        app.extensions["realty"].close()


def _wait_for_renditions(base: str, realty: str, token: str) -> bytes:
    """The listing once every image has its renditions (they may be rendered after the save)."""
    deadline = time.monotonic() + 120
    while True:
        _, _, body = _fetch(f"{base}/realty/{realty}/images", token)
        items = json.loads(body)["realtyImages"]
        if len(items) == IMAGES and all(len(i["renditions"]) == 3 for i in items):
            return body
        if time.monotonic() > deadline:
            raise RuntimeError("renditions were not ready within 120 s")
        time.sleep(0.5)


# --- the run ----------------------------------------------------------------------------------------

def run(seconds: float) -> bool:
    from adapters.jwt_auth import JwtAuthenticator
    from moto.server import ThreadedMotoServer

    token = JwtAuthenticator(SECRET).issue("bench-agent", ORG, 24 * 3600)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/realty.db", "STORAGE_URL": f"s3://{BUCKET}",
               "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1",
               "AUTH_JWT_SECRET": SECRET}
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "REDIS_URL", "PUBLIC_URL"):
            env.pop(name, None)
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})  # boto3 reads os.environ

        started = time.perf_counter()
        realty, property_id = load_realty(env)
        gateway = stack.enter_context(gunicorn("wsgi:app", env))
        listing = _wait_for_renditions(gateway, realty, token)
        print(f"saved a realty of {IMAGES} images on moto's S3 in {time.perf_counter() - started:.1f} s; "
              f"its listing is {len(listing):,} bytes", flush=True)

        query = json.dumps({"query": bare_apps.graphql_query(), "variables": {"id": property_id}}).encode()
        _, _, graphql_answer = _fetch(f"{gateway}/graphql", token, query)
        assert len(json.loads(graphql_answer)["data"]["property"]["images"]) == IMAGES, graphql_answer[:500]
        (Path(tmp) / "listing.json").write_bytes(listing)
        (Path(tmp) / "graphql.json").write_bytes(graphql_answer)
        bare_env = {**env, "BENCH_LISTING": f"{tmp}/listing.json", "BENCH_GRAPHQL": f"{tmp}/graphql.json"}
        gateway_off = stack.enter_context(gunicorn("wsgi:app", {**env, "METRICS": "0", "LOG_FORMAT": "text"}))
        gateway_on = stack.enter_context(gunicorn("wsgi:app", {**env, "METRICS": "1", "LOG_FORMAT": "json"}))
        flask_floor = stack.enter_context(gunicorn("bench.bare_apps:bare_flask()", bare_env))
        ariadne_floor = stack.enter_context(gunicorn("bench.bare_apps:bare_ariadne()", bare_env))

        auth = (("Authorization", f"Bearer {token}"),)
        as_json = (("Content-Type", "application/json"),)
        _, headers, _ = _fetch(f"{gateway}/realty/{realty}/images", token)
        etag = headers.get("ETag")
        targets = {
            "REST gateway": load.Target(f"{gateway}/realty/{realty}/images", headers=auth),
            "REST bare Flask": load.Target(f"{flask_floor}/realty/{realty}/images"),
            "GraphQL gateway": load.Target(f"{gateway}/graphql", "POST", query, auth + as_json),
            "GraphQL bare Ariadne": load.Target(f"{ariadne_floor}/graphql", "POST", query, as_json),
        }
        if etag:
            targets["REST gateway, 304"] = load.Target(f"{gateway}/realty/{realty}/images",
                                                       headers=auth + (("If-None-Match", etag),), status=304)
        print(f"load: {load.tool()}, {seconds:.0f} s per target, gunicorn with 1 sync worker each; "
              f"the machine may be shared, so compare the ratios of one run\n", flush=True)
        results = {}
        for name, target in targets.items():
            results[name] = load.measure(target, seconds)
            print(f"  measured {name}: {results[name].requests_per_second:.1f} req/s", flush=True)
        operating = _measure_operating(gateway_off, gateway_on, realty, query, auth + as_json, seconds)

    ratios = {"REST": results["REST gateway"].requests_per_second / results["REST bare Flask"].requests_per_second,
              "GraphQL": (results["GraphQL gateway"].requests_per_second
                          / results["GraphQL bare Ariadne"].requests_per_second)}
    print(f"\n{'target':<24} {'req/s':>8} {'p50 ms':>8} {'ratio to floor':>15} {'goal':>6}")
    for name, result in results.items():
        kind = name.split()[0]
        is_gateway = "gateway" in name and "304" not in name
        ratio = f"{ratios[kind]:.2f}x" if is_gateway else ""
        goal = f">={GOALS[kind]}x" if is_gateway else ""
        p50 = f"{result.p50_ms:.1f}" if result.p50_ms is not None else "-"
        print(f"{name:<24} {result.requests_per_second:>8.1f} {p50:>8} {ratio:>15} {goal:>6}")
    met = all(ratios[kind] >= goal for kind, goal in GOALS.items())
    print(f"\ngoals (REST >= {GOALS['REST']}x bare Flask, GraphQL >= {GOALS['GraphQL']}x bare Ariadne):",
          "met" if met else "NOT MET")
    return _print_operating(operating) and met


def _measure_operating(off: str, on: str, realty: str, query: bytes, headers: tuple[tuple[str, str], ...],
                       seconds: float) -> dict[str, list[tuple[float, float]]]:
    """(off, on) req/s per API, twice: off then on, then on then off."""
    auth = headers[:1]
    targets = {"REST": lambda base: load.Target(f"{base}/realty/{realty}/images", headers=auth),
               "GraphQL": lambda base: load.Target(f"{base}/graphql", "POST", query, headers)}
    runs: dict[str, list[tuple[float, float]]] = {}
    for api, target in targets.items():
        for order in ((off, on), (on, off)):
            measured = {base: load.measure(target(base), seconds).requests_per_second for base in order}
            runs.setdefault(api, []).append((measured[off], measured[on]))
            print(f"  measured {api} metrics+JSON logs off/on: {measured[off]:.1f} / {measured[on]:.1f} req/s",
                  flush=True)
    return runs


def _print_operating(runs: dict[str, list[tuple[float, float]]]) -> bool:
    print(f"\noperating costs (CONTRACT §12): metrics and LOG_FORMAT=json on vs METRICS=0 and text logs")
    print(f"{'API':<8} {'run':>4} {'off req/s':>10} {'on req/s':>10} {'on/off':>7}")
    met = True
    for api, pairs in runs.items():
        for number, (off, on) in enumerate(pairs, 1):
            print(f"{api:<8} {number:>4} {off:>10.1f} {on:>10.1f} {on / off:>6.2f}x")
        off_total, on_total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        ratio = on_total / off_total
        spread = max(p[0] for p in pairs) / min(p[0] for p in pairs) - 1
        print(f"{api:<8} {'all':>4} {off_total / len(pairs):>10.1f} {on_total / len(pairs):>10.1f} {ratio:>6.2f}x"
              f"   (off runs differ by {spread:.0%}: the noise)")
        met = met and ratio >= OPERATING_GOAL
    print(f"goal (on >= {OPERATING_GOAL}x off for both APIs):", "met" if met else "NOT MET")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="load time per target (default 10)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL scale part")
    parser.add_argument("--pg-url", default=os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an admin connection for the scratch database")
    args = parser.parse_args()
    ok = run(args.seconds)
    if not args.no_postgres:
        ok = listing_scale.run(args.pg_url) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
