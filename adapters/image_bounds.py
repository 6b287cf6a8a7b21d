"""Cheap walks of an upload's structure that bound how much WORK its decoder would do.

The pixel limit bounds a decode's memory, not its time. Some structures cost work per element (a
JPEG segment or scan, a PNG chunk) that a file of a few kilobytes can repeat millions of times:
libjpeg walks every block of the picture once per progressive scan, and Pillow parses JPEG and PNG
headers in Python. Each limit below sits far above what real encoders write; these walks read bytes
only (no decoder, no pixel memory) and refuse a file over a limit with an UploadRejected, before the
bytes reach the decoder. Anything merely malformed is left to the decoder to report.
"""
from __future__ import annotations

import re

from core.errors import UploadRejected

MAX_JPEG_SEGMENTS = 4096
"""Marker segments in a JPEG's first image. Real files have tens; depth maps spread over extended
XMP, or a big ICC profile, a few hundred at most."""

MAX_JPEG_FILL_BYTES = 64 * 1024
"""Fill (0xFF) and stray bytes between a JPEG's header segments: Pillow skips them one at a time."""

JPEG_SCAN_PASSES = 16
"""How often, over all its scans, a JPEG may make libjpeg visit each 8x8 block. Sequential files
visit each block once; libjpeg's progressive scripts 5-6 times, mozjpeg's at most ~10."""

JPEG_MIN_SCAN_WORK = 4_000_000
"""Block visits always allowed (~0.25 s), so small pictures may have many cheap scans."""

MAX_PNG_CHUNKS = 32_768
"""Chunks up to IEND. libpng writes 8 KiB IDATs (~3 200 for 25 MiB), most other encoders 32 KiB or more."""

_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
"""The next marker: 0xFF then a code that is not stuffing (00), fill (FF) or a restart (D0-D7)."""
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # minus DHT, JPG, DAC
_JPEG_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_JPEG_NO_LENGTH = frozenset({0x01, 0xD8})  # TEM, SOI: markers without a length field
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_jpeg_work(data: bytes) -> None:
    """Walk the first image's markers (not its entropy-coded data) and refuse a JPEG whose header
    Pillow would parse for long, or whose scans would have libjpeg visit every block too often.

    Anything malformed is left to the decoder to report: this walk only ever refuses on work.
    """
    pos, size = 2, len(data)
    segments = stray = work = 0
    budget: int | None = None
    blocks: dict[int, int] = {}  # component id -> 8x8 blocks
    in_header = True  # before the first scan, where Pillow walks byte by byte
    while (found := _JPEG_MARKER.search(data, pos)) is not None:
        start, code = found.start(), data[found.start() + 1]
        if in_header:
            stray += start - pos
            if stray > MAX_JPEG_FILL_BYTES:
                raise UploadRejected(f"the JPEG has more than {MAX_JPEG_FILL_BYTES} fill or stray bytes "
                                     "between its header segments")
        if code == _JPEG_EOI:
            return
        if code in _JPEG_NO_LENGTH:
            pos = start + 2
            continue
        if start + 4 >= size:
            return  # truncated inside a marker: the decoder reports it
        end = start + 2 + int.from_bytes(data[start + 2:start + 4], "big")
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise UploadRejected(f"the JPEG has more than {MAX_JPEG_SEGMENTS} marker segments; "
                                 "no camera or editor writes that many")
        if code in _JPEG_SOF and budget is None:
            blocks = _jpeg_component_blocks(data[start + 4:end])
            budget = max(JPEG_MIN_SCAN_WORK, JPEG_SCAN_PASSES * sum(blocks.values()))
        elif code == _JPEG_SOS:
            in_header = False
            if budget is None:
                return  # a scan before any frame header: the decoder refuses it
            largest = max(blocks.values(), default=0)
            components = data[start + 5:min(end, start + 5 + 2 * data[start + 4])][::2]  # Ns, then (Cs, Td/Ta)...
            work += sum(blocks.get(component, largest) for component in components)
            if work > budget:
                raise UploadRejected(f"the JPEG has too many scans: decoding them would go over the picture more "
                                     f"than {JPEG_SCAN_PASSES} times (encoders need at most about 10)")
        pos = max(end, start + 2)


def jpeg_coefficient_bytes(data: bytes) -> int:
    """Memory libjpeg takes for the whole picture's DCT coefficients, whatever scale it decodes to.

    A progressive JPEG, or a sequential one whose first scan lacks some components, cannot output a
    row before its last scan: libjpeg keeps every 8x8 block's 64 coefficients, 2 bytes each, until
    then (300 MB for 100 megapixels in 4:2:0). A sequential JPEG is decoded a row of blocks at a time: 0.
    """
    pos, size = 2, len(data)
    blocks: dict[int, int] | None = None
    progressive = False
    while (found := _JPEG_MARKER.search(data, pos)) is not None:
        start, code = found.start(), data[found.start() + 1]
        if code == _JPEG_EOI:
            break
        if code in _JPEG_NO_LENGTH:
            pos = start + 2
            continue
        if start + 4 >= size:
            break
        end = start + 2 + int.from_bytes(data[start + 2:start + 4], "big")
        if code in _JPEG_SOF and blocks is None:
            blocks, progressive = _jpeg_component_blocks(data[start + 4:end]), code in _JPEG_PROGRESSIVE
        elif code == _JPEG_SOS and blocks is not None:
            if progressive or start + 4 >= size or data[start + 4] < len(blocks):
                return 64 * 2 * sum(blocks.values())
            break
        pos = max(end, start + 2)
    return 0


def _jpeg_component_blocks(frame: bytes) -> dict[int, int]:
    """8x8 blocks per component, from a frame header's payload (P, Y, X, Nf, then Nf × (C, HV, Tq))."""
    if len(frame) < 6:
        return {}
    height, width = int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:5], "big")
    components = [(frame[i], frame[i + 1] >> 4, frame[i + 1] & 15) for i in range(6, len(frame) - 2, 3)]
    h_max = max((h for _, h, _ in components), default=1) or 1
    v_max = max((v for _, _, v in components), default=1) or 1
    return {cid: _ceil_div(_ceil_div(width * h, h_max), 8) * _ceil_div(_ceil_div(height * v, v_max), 8)
            for cid, h, v in components}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_png_work(data: bytes) -> None:
    """Count the chunks up to IEND: Pillow reads each one in Python, so millions of empty ones take long."""
    pos, size, chunks = 8, len(data), 0
    while pos + 8 <= size:
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise UploadRejected(f"the PNG has more than {MAX_PNG_CHUNKS} chunks; no encoder writes that many")
        if data[pos + 4:pos + 8] == b"IEND":
            return
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
