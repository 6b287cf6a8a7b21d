"""Decoding at save is bounded in memory per process (issue 20, finding 7).

A one-colour 100-megapixel PNG is a few hundred KB; decoded whole it is 400 MB. Saves verify uploads on
SAVE_THREADS threads, and GraphQL uploads inline, all in one process: that must not multiply.
"""
from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.decode_memory import DecodeBudget
from config import Settings
from adapters.pillow_images import PillowInspector
from core.errors import UnsupportedImageType
from core.ports import ImageFacts
from core.processing import RENDITIONS
from tests import images
from tests.conftest import JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 100_000_000
MB = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_probe(*args: object, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.decode_memory_probe", *map(str, args)], cwd=ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def save_probe(database_url: str, tmp_path: Path, picture: str, rest_saves: int, graphql_uploads: int,
               **env: str) -> dict:
    return run_probe("save", picture, rest_saves, graphql_uploads, env={
        "DATABASE_URL": database_url, "STORAGE_URL": f"file://{tmp_path}/storage", "AUTH_JWT_SECRET": JWT_SECRET,
        "SAVE_THREADS": "8",
        # A production API process: jobs go to Redis for workers elsewhere, so this one renders nothing
        # and only saving is measured. Nobody listens there: the sweep would queue the jobs later.
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0", **env})


def test_one_colour_100_megapixel_pngs_saved_over_both_apis_at_once_cost_no_bitmap(database_url, tmp_path):
    # 4 in one REST save (on the save pool) and 2 GraphQL uploads (verified inline), at the same time:
    # decoded whole they would hold 6 x 400 MB. Verified by streaming, each holds about a megabyte.
    measured = save_probe(database_url, tmp_path, "flat-png-100mp", rest_saves=4, graphql_uploads=2)
    assert measured["peak_growth_mb"] < 100, measured


def test_full_decodes_of_a_save_and_of_graphql_uploads_share_one_budget(database_url, tmp_path):
    # A WebP is decoded whole: 6 MP hold ~92 MB. The budget admits one at a time, not 6 (~550 MB).
    measured = save_probe(database_url, tmp_path, "webp-6mp", rest_saves=4, graphql_uploads=2,
                          DECODE_MEMORY_BYTES=str(128 * MB))
    assert measured["peak_growth_mb"] < 128 + 40, measured


@pytest.mark.parametrize("picture, operation", [
    ("flat-png-100mp", "inspect"),
    ("webp-6mp", "inspect"),
    ("webp-6mp", "render"),
    ("progressive-jpeg-444-12mp", "inspect"),
    ("progressive-jpeg-444-12mp", "render"),
    ("rgba-png-12mp", "render"),
    ("grey-16-bit-png-12mp", "render"),
    ("paletted-png-12mp", "render"),
    ("bmp-12mp", "inspect"),
])
def test_a_decodes_estimate_covers_what_it_really_takes(picture, operation):
    # The budget bounds memory only as well as the estimates it is charged: each one is checked
    # against the growth of the peak RSS of a process doing just that decode.
    measured = run_probe("estimate", picture, operation)
    assert measured["peak_growth_mb"] <= measured["estimate_mb"], measured
    assert measured["estimate_mb"] <= 2 * measured["peak_growth_mb"] + 8, measured  # not so high it idles threads


# --- PNGs are verified by streaming their pixel data: what a full decode refuses is still refused -----

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, rows: bytes, interlaced: bool = False) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, int(interlaced))  # 8-bit grey
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


@pytest.fixture
def inspector() -> PillowInspector:
    return PillowInspector()


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_every_png_filter_type_is_accepted(inspector, filter_type):
    data = _png(16, 8, (bytes([filter_type]) + bytes(range(16))) * 8)
    assert inspector.inspect(data, LIMIT) == ImageFacts("image/png", 16, 8)


@pytest.mark.parametrize("row", [0, 5, 7])
def test_a_png_row_with_an_unknown_filter_type_is_refused(inspector, row):
    rows = [b"\x00" + bytes(range(16))] * 8
    rows[row] = b"\x05" + bytes(range(16))
    data = _png(16, 8, b"".join(rows))
    with pytest.raises(Exception):  # noqa: B017 - Pillow's decoder refuses it too, whatever it raises
        images.opened(data)
    with pytest.raises(UnsupportedImageType) as caught:
        inspector.inspect(data, LIMIT)
    assert "filter type" in caught.value.message


def test_an_interlaced_png_with_an_unknown_filter_type_in_its_last_pass_is_refused(inspector):
    whole = images.make_interlaced_png(64, 48)
    start = whole.index(b"IDAT") + 4
    length = int.from_bytes(whole[start - 8:start - 4], "big")
    rows = bytearray(zlib.decompress(whole[start:start + length]))
    rows[-(1 + 64 * 3)] = 7  # the filter byte of the last row of pass 7
    header = whole[8:8 + 25]
    data = PNG_SIGNATURE + header + _chunk(b"IDAT", zlib.compress(bytes(rows))) + _chunk(b"IEND", b"")
    assert inspector.inspect(PNG_SIGNATURE + header + _chunk(b"IDAT", zlib.compress(
        zlib.decompress(whole[start:start + length]))) + _chunk(b"IEND", b""), LIMIT).width == 64
    with pytest.raises(UnsupportedImageType):
        inspector.inspect(data, LIMIT)


def test_a_png_whose_pixel_data_fails_its_checksum_is_refused(inspector):
    # Pillow skips IDAT checksums; libpng, and so every browser, refuses such a file.
    whole = images.make_png(64, 48)
    at = whole.index(b"IDAT")
    end = at + 4 + int.from_bytes(whole[at - 4:at], "big")
    damaged = whole[:end] + bytes(4) + whole[end + 4:]
    with pytest.raises(UnsupportedImageType) as caught:
        inspector.inspect(damaged, LIMIT)
    assert "checksum" in caught.value.message


@pytest.mark.parametrize("size", [(1, 200_000), (200_000, 1)])
def test_pngs_of_extreme_proportions_are_verified_quickly(inspector, size):
    width, height = size
    data = _png(width, height, (b"\x00" + bytes(width)) * height)
    started = time.perf_counter()
    assert inspector.inspect(data, LIMIT) == ImageFacts("image/png", width, height)
    assert time.perf_counter() - started < 1


def test_an_animated_png_is_verified_by_its_default_image(inspector):
    frames = [images.quadrants(64, 48), images.quadrants(64, 48).rotate(180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    assert inspector.inspect(buffer.getvalue(), LIMIT) == ImageFacts("image/png", 64, 48)


def test_a_png_cut_inside_a_chunk_after_its_pixel_data_is_refused(inspector):
    # What Pillow's own load() refuses, reading the chunks after the pixels; a missing IEND it accepts.
    whole = images.make_png(64, 48)
    text = _chunk(b"tEXt", b"Title\x00" + b"Kitchen" * 20)
    with pytest.raises(UnsupportedImageType):
        inspector.inspect(whole[:-12] + text[:40], LIMIT)
    assert inspector.inspect(whole[:-12], LIMIT) == ImageFacts("image/png", 64, 48)


def test_xmp_orientation_after_the_pixel_data_is_read(inspector):
    whole = images.make_png(64, 48)
    xmp = _chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + b'<x tiff:Orientation="6"/>')
    assert inspector.inspect(whole[:-12] + xmp + whole[-12:], LIMIT) == ImageFacts("image/png", 48, 64)


# --- the budget: a weighted semaphore of bytes, first come first served --------------------------

def _started(budget: DecodeBudget, nbytes: int, holding: threading.Event) -> tuple[threading.Thread, threading.Event]:
    """A thread that holds `nbytes` of `budget` until `holding` is set; and an event set once it holds them."""
    admitted = threading.Event()

    def decode() -> None:
        with budget.hold(nbytes):
            admitted.set()
            holding.wait(10)

    thread = threading.Thread(target=decode, daemon=True)
    thread.start()
    return thread, admitted


def test_a_decode_waits_until_its_bytes_are_free():
    budget, first_done, second_done = DecodeBudget(100), threading.Event(), threading.Event()
    first, first_in = _started(budget, 60, first_done)
    assert first_in.wait(5)
    second, second_in = _started(budget, 60, second_done)
    assert not second_in.wait(0.2)
    first_done.set()
    assert second_in.wait(5)
    second_done.set()
    first.join(5), second.join(5)
    assert (budget.held, budget.peak) == (0, 60)


def test_decodes_that_fit_together_run_together():
    budget, done = DecodeBudget(100), threading.Event()
    threads = [_started(budget, 30, done) for _ in range(3)]
    assert all(admitted.wait(5) for _, admitted in threads)
    assert budget.held == 90
    done.set()
    for thread, _ in threads:
        thread.join(5)
    assert (budget.held, budget.peak) == (0, 90)


def test_a_decode_larger_than_the_whole_budget_runs_alone_once_nothing_else_holds_any():
    # Refusing it would refuse pictures within MAX_IMAGE_PIXELS; it waits for the others, then runs alone.
    budget, small_done, big_done = DecodeBudget(100), threading.Event(), threading.Event()
    small, small_in = _started(budget, 10, small_done)
    assert small_in.wait(5)
    big, big_in = _started(budget, 250, big_done)
    assert not big_in.wait(0.2)
    small_done.set()
    assert big_in.wait(5)
    late, late_in = _started(budget, 1, small_done)
    assert not late_in.wait(0.2)
    big_done.set()
    assert late_in.wait(5)
    for thread in (small, big, late):
        thread.join(5)
    assert (budget.held, budget.peak) == (0, 250)


def test_a_large_decode_is_not_overtaken_by_later_small_ones():
    budget, first_done, rest_done = DecodeBudget(100), threading.Event(), threading.Event()
    first, first_in = _started(budget, 50, first_done)
    assert first_in.wait(5)
    large, large_in = _started(budget, 80, rest_done)
    time.sleep(0.1)  # so that it comes first
    small, small_in = _started(budget, 10, rest_done)
    assert not small_in.wait(0.2)  # it would fit beside the first, but the large one came before it
    first_done.set()
    assert large_in.wait(5) and small_in.wait(5)
    rest_done.set()
    for thread in (first, large, small):
        thread.join(5)
    assert budget.peak == 90


def test_a_decode_that_fails_gives_its_bytes_back():
    budget = DecodeBudget(100)
    with pytest.raises(RuntimeError):
        with budget.hold(70):
            raise RuntimeError("corrupt")
    with budget.hold(100):
        assert budget.held == 100
    assert budget.held == 0


def test_verifications_and_renders_of_one_inspector_share_its_budget():
    # What a process does at once: save threads verify, GraphQL requests verify, render jobs render.
    webp = io.BytesIO()
    images.quadrants(1600, 1200).save(webp, "WEBP", quality=80)  # ~35 MB to decode
    png = images.make_png(1600, 1200)
    budget = DecodeBudget(80 * MB)
    inspector = PillowInspector(decode_budget=budget)
    calls = [lambda: inspector.inspect(webp.getvalue(), LIMIT), lambda: inspector.render(webp.getvalue(), RENDITIONS),
             lambda: inspector.inspect(png, LIMIT), lambda: inspector.render(png, RENDITIONS)] * 3
    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    unbounded = PillowInspector()
    unbounded.inspect(webp.getvalue(), LIMIT)
    one = unbounded.decode_budget.peak
    assert one < budget.peak <= budget.capacity  # more than one decode at a time, never over the budget
    assert budget.held == 0


def test_the_budget_is_a_setting():
    assert Settings().decode_memory_bytes == 256 * MB
    assert Settings.from_env({"DECODE_MEMORY_BYTES": str(64 * MB)}).decode_memory_bytes == 64 * MB
    with pytest.raises(SystemExit):
        Settings.from_env({"DECODE_MEMORY_BYTES": "0"})
