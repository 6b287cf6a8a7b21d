"""A PNG's pixel data verified as it streams through zlib: whole and well-formed, never held.

Pillow decodes a PNG only into its full bitmap: a one-colour 100-megapixel PNG of 300 KB becomes
400 MB, and a save verifies several at once. Yet all that decoding can find wrong with the pixel data
shows in the inflated stream as it passes, a slice at a time:
- it does not inflate (zlib's own checks);
- a row starts with a filter type other than the five PNG has (the one thing unfiltering can refuse);
- it ends before the last row the header announces. Pillow's decoder takes the end of the zlib stream
  as the end of the image, so a stream closed early (at a row boundary, or after the first interlace
  pass) would otherwise pass, the missing rows black;
- an IDAT chunk's checksum is wrong. Pillow skips these checksums; libpng, and so browsers, refuse
  the file, which is what bytes damaged on their way look like.
Unfiltering and unpacking the rows cannot fail, so they are skipped. The memory is one slice of
inflated output and one of input, whatever the picture's size.
"""
from __future__ import annotations

import zlib
from typing import Iterator

from core.errors import UnsupportedImageType

_INFLATED_SLICE = 1 << 20
_COMPRESSED_SLICE = 1 << 16
WORKING_BYTES = _INFLATED_SLICE + _COMPRESSED_SLICE + (1 << 16)
"""What `verify_pixels` holds at most: its slices and zlib's window and state."""

_FILTER_TYPES = bytes(range(5))  # None, Sub, Up, Average, Paeth
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""The interlaced passes: (x0, y0, dx, dy)."""

Rows = tuple[int, int, int]
"""A run of rows of one length in the inflated stream: (offset of its first row, row length, count)."""


def verify_pixels(data: bytes) -> int:
    """Refuse (UnsupportedImageType) a PNG whose image data is damaged or ends early; return the offset
    of the first chunk after the image data (the IDAT chunks), where the chunks read after the pixels
    begin."""
    view = memoryview(data)
    rows: list[Rows] | None = None
    needed = produced = 0
    inflate = zlib.decompressobj()
    pos, seen_idat = 8, False
    try:
        for pos, kind, length in _chunks(data):
            if kind == b"IHDR" and rows is None:
                rows = _rows(data[pos + 8:pos + 8 + length])
                needed = sum(length * count for _, length, count in rows)
            elif kind == b"IDAT":
                seen_idat = True
                body = view[pos + 8:pos + 8 + length]
                _check_crc(view, pos, length)
                for start in range(0, length, _COMPRESSED_SLICE):
                    pending: bytes | memoryview = body[start:start + _COMPRESSED_SLICE]
                    while pending and not inflate.eof and produced < needed:
                        # In slices: a few bytes can inflate to gigabytes.
                        out = inflate.decompress(pending, _INFLATED_SLICE)
                        _check_filters(out, produced, rows or [])
                        produced += len(out)
                        pending = inflate.unconsumed_tail
            elif seen_idat:
                break  # the image data is one run of IDAT chunks
        else:
            pos = len(data)
        if rows is not None and produced < needed and not inflate.eof:
            out = inflate.flush()  # output still held back by the slicing (at most one match)
            _check_filters(out, produced, rows)
            produced += len(out)
    except zlib.error as exc:
        raise UnsupportedImageType(f"the image data is truncated or corrupt: {exc}") from exc
    if rows is not None and produced < needed:
        raise UnsupportedImageType(f"the image data is truncated or corrupt: it ends after {produced} of the "
                                   f"{needed} bytes of pixel data its header announces")
    return pos


def _chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(offset, type, data length) of each chunk whose header is whole."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        yield pos, kind, length
        pos += 12 + length


def _check_crc(view: memoryview, pos: int, length: int) -> None:
    stored = view[pos + 8 + length:pos + 12 + length]
    if len(stored) < 4:
        raise UnsupportedImageType("the image data is truncated: the file ends inside its pixel data")
    if zlib.crc32(view[pos + 4:pos + 8 + length]) != int.from_bytes(stored, "big"):
        raise UnsupportedImageType("the image data is corrupt: a chunk of its pixel data fails its checksum")


def _check_filters(out: bytes, offset: int, rows: list[Rows]) -> None:
    """Every row starting within `out` (which begins at `offset` of the inflated stream) has a filter type."""
    end = offset + len(out)
    for first, length, count in rows:
        last = first + length * count
        if last <= offset or first >= end:
            continue
        start = first + -(-max(0, offset - first) // length) * length  # the first row beginning in `out`
        if start < end and out[start - offset:min(end, last) - offset:length].translate(None, _FILTER_TYPES):
            raise UnsupportedImageType("the image data is corrupt: a row has an unknown filter type")


def _rows(ihdr: bytes) -> list[Rows] | None:
    """The runs of rows an IHDR announces: per row a filter byte and the packed samples."""
    if len(ihdr) < 13:
        return None
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    bits = _CHANNELS.get(ihdr[9], 1) * ihdr[8]
    passes = _ADAM7 if ihdr[12] else ((0, 0, 1, 1),)  # Adam7: seven reduced images
    runs, offset = [], 0
    for x0, y0, dx, dy in passes:
        columns, count = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and count > 0:
            length = 1 + -(-columns * bits // 8)
            runs.append((offset, length, count))
            offset += length * count
    return runs
