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
import time
import zlib
from pathlib import Path

import pytest

from adapters.pillow_images import PillowInspector
from core.errors import UnsupportedImageType
from core.ports import ImageFacts
from tests import images
from tests.conftest import JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 100_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(database_url: str, tmp_path: Path, rest_saves: int, graphql_uploads: int, **env: str) -> dict:
    environ = {**os.environ, "DATABASE_URL": database_url, "STORAGE_URL": f"file://{tmp_path}/storage",
               "AUTH_JWT_SECRET": JWT_SECRET, "SAVE_THREADS": "8",
               # A production API process: jobs go to Redis for workers elsewhere, so this one renders
               # nothing and only saving is measured. Nobody listens there: the sweep queues them later.
               "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0", **env}
    done = subprocess.run([sys.executable, "-m", "tests.decode_memory_probe", str(rest_saves), str(graphql_uploads)],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_colour_100_megapixel_pngs_saved_over_both_apis_at_once_cost_no_bitmap(database_url, tmp_path):
    # 4 in one REST save (on the save pool) and 2 GraphQL uploads (verified inline), at the same time:
    # decoded whole they would hold 6 x 400 MB. Verified by streaming, each holds about a megabyte.
    measured = probe(database_url, tmp_path, rest_saves=4, graphql_uploads=2)
    assert measured["peak_growth_mb"] < 100, measured


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
