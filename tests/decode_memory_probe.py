"""A gateway process saving one-colour 100-megapixel PNGs over both APIs at once, and what that cost it.

    python -m tests.decode_memory_probe REST_SAVES GRAPHQL_UPLOADS

Configured from the environment like the real thing (`Settings.from_env`). The app saves REST_SAVES
uploads in one REST request while GRAPHQL_UPLOADS direct uploads go through GraphQL at the same time,
then prints, as JSON on its last line, by how many MB that raised the process's peak resident set size.

A process of its own because the kernel's high-water mark (VmHWM, reset by writing 5 to
/proc/self/clear_refs) is per process: a test's would mix in every other test. tracemalloc cannot see
this memory at all: Pillow and zlib allocate in C.
"""
from __future__ import annotations

import gc
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt

from config import Settings
from tests import images
from tests.graphql_support import create_property, upload_property_image
from tests.rest_support import RestCaller
from wsgi import create_app


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(rest_saves: int, graphql_uploads: int) -> dict[str, float]:
    settings = Settings.from_env()
    app = create_app(settings)
    app.config["TESTING"] = True
    token = jwt.encode({"sub": "probe", "org": "probe", "exp": int(time.time()) + 3600}, settings.jwt_secret,
                       "HS256")
    flat = images.make_one_colour_png(10_000, 10_000)
    rest = RestCaller(app.test_client(), token)
    keys = [rest.upload(flat) for _ in range(rest_saves)]
    property_id = create_property(app.test_client(), token)["id"]
    # Warm up what is built on first use (schemas, connections, the save pool's threads), so the
    # measurement is of the decoding, not of the first request.
    small = images.make_png(64, 48)
    rest.save_ok(str(uuid.uuid4()), [rest.upload(small)])
    upload_property_image(app.test_client(), token, property_id, small, "small.png")
    del small
    gc.collect()

    Path("/proc/self/clear_refs").write_text("5")
    before = status_mb("VmRSS")
    started = time.perf_counter()
    with ThreadPoolExecutor(1 + graphql_uploads) as requests:
        saved = requests.submit(rest.save_ok, str(uuid.uuid4()), keys)
        uploaded = [requests.submit(upload_property_image, app.test_client(), token, property_id, flat, "flat.png")
                    for _ in range(graphql_uploads)]
        assert len(saved.result()) == rest_saves
        assert all(image.result()["realtyImageId"] for image in uploaded)
    return {"peak_growth_mb": status_mb("VmHWM") - before, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
