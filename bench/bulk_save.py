"""Saving N phone photos in one request, and rendering them, against the floor of reading them.

    python -m bench.bulk_save [--n 200] [--megapixels 12]

Everything runs side by side in one run, on this machine, as in production: moto's S3 server in its
own process, the gateway under gunicorn as the README runs it (`--workers 2 --threads 4`), Redis, and
`flask --app wsgi worker` processes (one thread each, so processes are what scale).

1. floor: one thread GETs each of the N uploads from S3 and fully decodes it with Pillow;
2. save N: `POST /realty/{id}/images` with all N keys, until the 201 (no worker running);
3. ready, 1 worker / 2 workers: from starting the worker processes until all N images are READY
   (a fresh batch of N each time);
4. the gateway's peak RSS during a save of N=50 and N=200: the kernel's high-water mark of each
   gunicorn worker, reset just before the save;
5. the same during a save of 4 and of 8 one-colour 100-megapixel PNGs (a few hundred KB each, which a
   decoder that holds the whole bitmap turns into 400 MB apiece).

Goals: save <= 1.0x the floor; ready with 2 workers <= 0.6x ready with 1; peak RSS <= 400 MB and not
growing with N, whatever the pictures are.

    python -m bench.bulk_save --memory-only      (steps 4 and 5 only, with N=--small-n)
"""
from __future__ import annotations

import argparse
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import jwt
import requests
from botocore.config import Config
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.renditions import photo  # noqa: E402
from tests.redis_server import own_redis_server, redis_server_binary  # noqa: E402

BUCKET = "bench-bulk-save"
SECRET = "bench-secret-0123456789abcdef0123456789"
BASE_PHOTOS = 4
"""Distinct pictures; each upload is one of them with a unique JPEG comment, so no two uploads are the
same bytes, yet every one costs what a real photo costs to decode."""
FLAT_PNG_SAVES = (4, 8)
"""Saves of one-colour 100-megapixel PNGs, each all in one request."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same JPEG with a COM segment after SOI: other bytes, the same decoding work."""
    payload = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


class Bench:
    def __init__(self, tmp: Path, megapixels: float, redis_url: str) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        self.size = (width, int(width * 3 / 4))
        s3_port, self.port = free_port(), free_port()
        self.s3_url = f"http://127.0.0.1:{s3_port}"
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.s3_url,
                    "DATABASE_URL": f"sqlite:///{tmp}/realty.db", "STORAGE_URL": f"s3://{BUCKET}",
                    "AUTH_JWT_SECRET": SECRET, "REDIS_URL": redis_url}
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            self.env.pop(name, None)
        self.s3 = boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1", aws_access_key_id="bench",
                               aws_secret_access_key="bench", config=Config(max_pool_connections=16))
        token = jwt.encode({"sub": "bench", "org": "bench", "exp": int(time.time()) + 7200}, SECRET, "HS256")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    # --- processes ---------------------------------------------------------------------------------

    def spawn(self, args: list[str], log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self.spawn([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                    self.s3_url.rsplit(":", 1)[1]], "moto.log")
        wait_http(self.s3_url)
        self.s3.create_bucket(Bucket=BUCKET)
        self.gunicorn = self.spawn([str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--threads",
                                    "4", "--bind", f"127.0.0.1:{self.port}", "wsgi:app"], "gunicorn.log")
        wait_http(self.base + "/healthz")

    def workers(self, processes: int) -> subprocess.Popen:
        return self.spawn([str(Path(sys.executable).with_name("flask")), "--app", str(ROOT / "wsgi.py"), "worker",
                           "--processes", str(processes), "--threads", "1"], f"worker-{processes}.log")

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)

    # --- the API -----------------------------------------------------------------------------------

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.base + path, headers={"Request-ID": str(uuid.uuid4())},
                                 timeout=600, **kwargs)

    def upload(self, data: bytes, content_type: str = "image/jpeg") -> str:
        grant = self.rest("GET", f"/uploadGrants?type={content_type}").json()
        parts = [(k, (None, v)) for k, v in grant["fields"].items()] + [("file", ("photo", data, content_type))]
        posted = requests.post(grant["url"], files=parts, timeout=120)
        assert posted.status_code in (200, 201, 204), posted.text
        return grant["fields"]["key"]

    def upload_batch(self, photos: list[bytes], n: int) -> list[str]:
        tag = uuid.uuid4().hex
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda i: self.upload(with_comment(photos[i % len(photos)], f"{tag}-{i}")),
                                 range(n)))

    def save(self, keys: list[str]) -> tuple[str, float, float]:
        """(realty, seconds, peak RSS MB of the gateway's workers during the save)."""
        realty = str(uuid.uuid4())
        pids = gunicorn_workers(self.gunicorn.pid)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        started = time.perf_counter()
        response = self.rest("POST", f"/realty/{realty}/images", json={"uploadedImages": [{"key": k} for k in keys]})
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text[:500]
        assert {i["processing"] for i in response.json()["realtyImages"]} == {"PENDING"}
        peak = max(status_mb(pid, "VmHWM") for pid in pids)
        return realty, elapsed, peak

    def states(self, realty: str) -> list[str]:
        listed = self.http.get(f"{self.base}/realty/{realty}/images", timeout=60)
        return [i["processing"] for i in listed.json()["realtyImages"]]

    def time_to_ready(self, realty: str, processes: int) -> float:
        started = time.perf_counter()
        proc = self.workers(processes)
        try:
            while True:
                states = self.states(realty)
                if "PENDING" not in states:
                    assert set(states) == {"READY"}, states
                    return time.perf_counter() - started
                if proc.poll() is not None:
                    raise RuntimeError(f"the workers exited; see {self.tmp}/worker-{processes}.log")
                time.sleep(0.25)
        finally:
            self.stop(proc)

    def floor(self, keys: list[str]) -> float:
        started = time.perf_counter()
        for key in keys:
            body = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            with Image.open(io.BytesIO(body)) as img:
                img.load()
        return time.perf_counter() - started


def one_colour_png(megapixels: float = 100) -> bytes:
    """A flat-colour PNG, as a graphics program saves a blank canvas: tiny on disk, huge once decoded."""
    side = int((megapixels * 1e6) ** 0.5)
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (40, 90, 160)).save(buf, "PNG")
    return buf.getvalue()


def gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--small-n", type=int, default=50)
    parser.add_argument("--megapixels", type=float, default=12)
    parser.add_argument("--memory-only", action="store_true", help="only the peak RSS measurements (4 and 5)")
    args = parser.parse_args()
    if redis_server_binary() is None:  # the queue runs on a redis-server of its own, never on a shared one
        print("bulk_save: SKIPPED, no redis-server binary on PATH (apt-get install redis-server)")
        return 0
    print(__doc__.strip().split("\n\n")[2].replace("\n", " "), "\n", flush=True)

    with tempfile.TemporaryDirectory() as tmp, own_redis_server(Path(tmp) / "redis") as redis_url:
        bench = Bench(Path(tmp), args.megapixels, redis_url)
        try:
            bench.start()
            rnd = random.Random(7)
            photos = []
            for n in range(BASE_PHOTOS):
                buf = io.BytesIO()
                photo(*bench.size, seed=rnd.randrange(1 << 30)).save(buf, "JPEG", quality=90)
                photos.append(buf.getvalue())
            mb = sum(map(len, photos)) / len(photos) / 1e6
            print(f"photos: {bench.size[0]}x{bench.size[1]} JPEG, {mb:.1f} MB each; N={args.n}", flush=True)

            if not args.memory_only:
                batch_a = bench.upload_batch(photos, args.n)
                floor = bench.floor(batch_a)
                print(f"floor (1 thread, GET + full decode of {args.n}): {floor:.1f} s", flush=True)
                realty_a, save_a, rss_a = bench.save(batch_a)
                print(f"save of {args.n}: {save_a:.1f} s", flush=True)
                ready_1 = bench.time_to_ready(realty_a, 1)
                print(f"all READY, 1 worker: {ready_1:.1f} s", flush=True)

                realty_b, save_b, rss_b = bench.save(bench.upload_batch(photos, args.n))
                print(f"save of {args.n} (again): {save_b:.1f} s", flush=True)
                ready_2 = bench.time_to_ready(realty_b, 2)
                print(f"all READY, 2 workers: {ready_2:.1f} s", flush=True)

            _, save_small, rss_small = bench.save(bench.upload_batch(photos, args.small_n))
            print(f"save of {args.small_n}: peak RSS {rss_small:.0f} MB", flush=True)
            flat = one_colour_png()
            print(f"one-colour 100 MP PNG: {len(flat) / 1e3:.0f} KB", flush=True)
            rss_flat = {}
            for count in FLAT_PNG_SAVES:
                keys = [bench.upload(flat, "image/png") for _ in range(count)]
                _, seconds, rss_flat[count] = bench.save(keys)
                print(f"save of {count} one-colour 100 MP PNGs: {seconds:.1f} s, peak RSS {rss_flat[count]:.0f} MB",
                      flush=True)
        finally:
            bench.close()

    print(f"\n{'measure':<52} {'value':>9} {'ratio':>8}  goal")
    rows, met = [], True
    if not args.memory_only:
        rows += [
            (f"floor: 1 thread reads + decodes {args.n}", f"{floor:.1f} s", "1.00", ""),
            (f"save of {args.n} (first)", f"{save_a:.1f} s", f"{save_a / floor:.2f}", "<= 1.0x floor"),
            (f"save of {args.n} (second)", f"{save_b:.1f} s", f"{save_b / floor:.2f}", "<= 1.0x floor"),
            (f"all {args.n} READY, 1 worker process", f"{ready_1:.1f} s", "1.00", ""),
            (f"all {args.n} READY, 2 worker processes", f"{ready_2:.1f} s", f"{ready_2 / ready_1:.2f}",
             "<= 0.6x 1 worker"),
        ]
        met = (max(save_a, save_b) <= floor and ready_2 <= 0.6 * ready_1 and max(rss_a, rss_b) <= 400
               and max(rss_a, rss_b) <= 1.25 * rss_small)
    rows.append((f"gateway peak RSS, save of {args.small_n}", f"{rss_small:.0f} MB", "1.00", "<= 400 MB"))
    if not args.memory_only:
        rows.append((f"gateway peak RSS, save of {args.n}", f"{max(rss_a, rss_b):.0f} MB",
                     f"{max(rss_a, rss_b) / rss_small:.2f}", "<= 400 MB, flat in N"))
    for count, rss in rss_flat.items():
        rows.append((f"gateway peak RSS, save of {count} one-colour 100 MP PNGs", f"{rss:.0f} MB",
                     f"{rss / rss_small:.2f}", "<= 400 MB"))
    met = met and max(rss_small, *rss_flat.values()) <= 400
    for name, value, ratio, goal in rows:
        print(f"{name:<52} {value:>9} {ratio:>8}  {goal}")
    print("\ngoals:", "met" if met else "NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
