"""What decoding costs a process, measured in a process of its own. Two probes, each printing JSON on its
last line:

    python -m tests.decode_memory_probe save PICTURE REST_SAVES GRAPHQL_UPLOADS

A gateway app configured from the environment like the real thing (`Settings.from_env`) saves
REST_SAVES uploads of PICTURE in one REST request while GRAPHQL_UPLOADS direct uploads of it go
through GraphQL at the same time: by how many MB that raised the process's peak resident set size.

    python -m tests.decode_memory_probe estimate PICTURE inspect|render

One decode by a PillowInspector: the growth of the peak RSS against the inspector's own estimate
(what it held of its decode budget).

A process of its own because the kernel's high-water mark (VmHWM, reset by writing 5 to
/proc/self/clear_refs) is per process: a test's would mix in every other test. tracemalloc cannot see
this memory at all: Pillow, libwebp, libjpeg and zlib allocate in C.
"""
from __future__ import annotations

import gc
import io
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from PIL import Image

from adapters.decode_memory import DecodeBudget
from adapters.pillow_images import PillowInspector
from core.processing import RENDITIONS
from tests import images

MB = 1024 * 1024


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


PICTURES: dict[str, tuple[str, Callable[[], bytes]]] = {
    # name: (content type, maker)
    "flat-png-100mp": ("image/png", lambda: images.make_one_colour_png(10_000, 10_000)),
    "webp-6mp": ("image/webp", lambda: _encode(images.quadrants(3000, 2000), "WEBP", quality=80)),
    "progressive-jpeg-444-12mp": ("image/jpeg", lambda: _encode(images.quadrants(4000, 3000), "JPEG",
                                                                progressive=True, subsampling=0)),
    "rgba-png-12mp": ("image/png", lambda: _encode(images.quadrants(4000, 3000, "RGBA"), "PNG", compress_level=1)),
    "grey-16-bit-png-12mp": ("image/png", lambda: images.make_png16(4000, 3000)),
    "paletted-png-12mp": ("image/png", lambda: _encode(images.quadrants(4000, 3000, "P"), "PNG", compress_level=1)),
    "bmp-12mp": ("image/bmp", lambda: _encode(images.quadrants(4000, 3000), "BMP")),
}


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def save(picture: str, rest_saves: int, graphql_uploads: int) -> dict[str, float]:
    # Here, not at the top: the `estimate` probe, run many times, needs none of the app.
    import jwt

    from config import Settings
    from tests.graphql_support import create_property, upload_property_image
    from tests.rest_support import RestCaller
    from wsgi import create_app

    settings = Settings.from_env()
    app = create_app(settings)
    app.config["TESTING"] = True
    token = jwt.encode({"sub": "probe", "org": "probe", "exp": int(time.time()) + 3600}, settings.jwt_secret,
                       "HS256")
    content_type, make = PICTURES[picture]
    data = make()
    rest = RestCaller(app.test_client(), token)
    keys = [rest.upload(data, content_type) for _ in range(rest_saves)]
    property_id = create_property(app.test_client(), token)["id"]
    # Warm up what is built on first use (schemas, connections, the save pool's threads), so the
    # measurement is of the decoding, not of the first request.
    small = images.make_png(64, 48)
    rest.save_ok(str(uuid.uuid4()), [rest.upload(small)])
    upload_property_image(app.test_client(), token, property_id, small, "small.png")

    before = _reset_peak()
    started = time.perf_counter()
    with ThreadPoolExecutor(1 + graphql_uploads) as requests:
        saved = requests.submit(rest.save_ok, str(uuid.uuid4()), keys)
        uploaded = [requests.submit(upload_property_image, app.test_client(), token, property_id, data, "picture")
                    for _ in range(graphql_uploads)]
        assert len(saved.result()) == rest_saves
        assert all(image.result()["realtyImageId"] for image in uploaded)
    return {"peak_growth_mb": status_mb("VmHWM") - before, "seconds": time.perf_counter() - started}


def estimate(picture: str, operation: str) -> dict[str, float]:
    data = PICTURES[picture][1]()
    warm_up = images.make_png(64, 48)
    PillowInspector().inspect(warm_up, 10 ** 9)
    PillowInspector().render(warm_up, RENDITIONS)
    inspector = PillowInspector(render_max_pixels=10 ** 9, decode_budget=DecodeBudget.unbounded())
    before = _reset_peak()
    if operation == "inspect":
        inspector.inspect(data, 10 ** 9)
    else:
        inspector.render(data, RENDITIONS)
    return {"peak_growth_mb": status_mb("VmHWM") - before, "estimate_mb": inspector.decode_budget.peak / MB}


if __name__ == "__main__":
    probe, picture, *rest = sys.argv[1:]
    result = (save(picture, int(rest[0]), int(rest[1])) if probe == "save" else estimate(picture, rest[0]))
    print(json.dumps(result))
