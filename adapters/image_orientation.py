"""The orientation a picture is displayed in, read from its metadata as cheaply as possible."""
from __future__ import annotations

import re

_ORIENTATION_TAG = 0x0112
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')
_EXIF_VALUE_SIZE = {3: 2, 4: 4}  # SHORT, LONG: the types an orientation may have


def orientation_of(info: dict) -> int:
    """The EXIF orientation (or, when EXIF has none, XMP's tiff:Orientation, as Pillow's
    `exif_transpose` reads it); 1 when absent or nonsense.

    Read here rather than with `getexif()`: Pillow loads the value of every IFD0 entry and warns about
    each broken one, which an EXIF block of 65 535 bogus entries (PNG and WebP allow megabytes) turns
    into a second of work and 65 535 log lines. This reads one entry and never raises.
    """
    value = _exif_orientation(_exif_block(info))
    if value is None:
        xmp = info.get("XML:com.adobe.xmp") or info.get("xmp")
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8", "replace")
        match = _XMP_ORIENTATION.search(xmp) if isinstance(xmp, bytes) else None
        value = int(match[2]) if match else None
    return value if value is not None and 1 <= value <= 8 else 1



def _exif_block(info: dict) -> bytes:
    """The TIFF structure of the image's EXIF, if any: from the JPEG APP1 / PNG eXIf / WebP EXIF block,
    or from the hex "Raw profile type exif" text ImageMagick puts in PNGs."""
    exif = info.get("exif")
    if exif is None and isinstance(raw := info.get("Raw profile type exif"), str):
        try:
            exif = bytes.fromhex("".join(raw.split("\n")[3:]))
        except ValueError:
            return b""
    if not isinstance(exif, bytes):
        return b""
    return exif[6:] if exif.startswith(b"Exif\x00\x00") else exif


def _exif_orientation(tiff: bytes) -> int | None:
    """Orientation from IFD0 of a TIFF structure: None when there is no such tag, 0 when it is unusable."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd:ifd + 2], order)
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        if int.from_bytes(tiff[entry:entry + 2], order) == _ORIENTATION_TAG:
            size = _EXIF_VALUE_SIZE.get(int.from_bytes(tiff[entry + 2:entry + 4], order))
            values = int.from_bytes(tiff[entry + 4:entry + 8], order)
            if size is None or not 1 <= values <= 4 // size:
                return 0  # not a number stored in the entry itself: nonsense
            return int.from_bytes(tiff[entry + 8:entry + 8 + size], order)
    return None
