"""Listing-ready photos (CONTRACT §11): what a render job measures on an image's pixels, and what the
gateway concludes from it. Every threshold a person may want to read or tune is in this module.

The measuring is the image adapter's (it has the pixels); the judging is here, so a change of threshold
needs no new render: issues are worked out from the stored measurements whenever an image is shown.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from itertools import combinations
from typing import Iterator
from uuid import UUID

# --- what is measured, and on what ---------------------------------------------------------------------

MEASURE_SIDE = 1280
"""Sharpness is measured on the largest rendition whose longer side is at most this (the `web` one): the
variance of a Laplacian depends on scale, and a phone's 12 MP original would look blurrier than the same
picture at the size pages show it. Exposure is measured on the smallest rendition (it is a mean)."""

SHARPNESS_CONTRAST = 50.0
"""The Laplacian's variance grows with the square of contrast, so a dim (or hazy) but perfectly focused photo
would read as blurry: it is measured as if the luma's standard deviation were this (a typical photo's),
counting at least 10 so a nearly flat picture's noise is not magnified."""
DARK_LEVEL = 16
"""Luma (0-255) at or below which a pixel counts as clipped dark."""
BRIGHT_LEVEL = 250
"""Luma at or above which a pixel counts as clipped bright (blown out)."""

# --- the thresholds of the issues ----------------------------------------------------------------------

BLURRY_BELOW = 100.0
"""Variance of the 3×3 Laplacian of the luma, at MEASURE_SIDE and SHARPNESS_CONTRAST. The usual cut-off for
photos: a sharp room shot scores several hundred, a shaken or out-of-focus one tens."""
DARK_BELOW = 60.0
"""Mean luma: under this the picture reads as a night shot (a well-lit room is around 100-160)."""
DARK_CLIPPED_OVER = 0.5
"""...or when more than this share of pixels is clipped dark."""
OVEREXPOSED_ABOVE = 215.0
"""Mean luma over this is washed out..."""
OVEREXPOSED_CLIPPED_OVER = 0.25
"""...as is a picture with more than this share of blown-out pixels (a white sky behind a window is less)."""
LOW_RESOLUTION_BELOW = (1024, 683)
"""Longer and shorter side (landscape or portrait) under which portals show a photo small or not at all:
the minimum most channels publish (Airbnb, Vrbo; see core/channels.py)."""


class QualityIssue(str, enum.Enum):
    BLURRY = "BLURRY"
    DARK = "DARK"
    OVEREXPOSED = "OVEREXPOSED"
    LOW_RESOLUTION = "LOW_RESOLUTION"


@dataclass(frozen=True)
class PhotoChecks:
    """What a render job measured on an image's pixels."""

    perceptual_hash: int
    """64-bit DCT hash of the picture as displayed: near pictures have hashes a few bits apart."""
    blurhash: str
    """A placeholder to paint while the image loads (blurha.sh)."""
    sharpness: float
    """Variance of the Laplacian of the luma, at MEASURE_SIDE."""
    brightness: float
    """Mean luma, 0-255."""
    dark_fraction: float
    """Share of pixels at or below DARK_LEVEL."""
    bright_fraction: float
    """Share of pixels at or above BRIGHT_LEVEL."""

    @property
    def perceptual_hash_hex(self) -> str:
        return f"{self.perceptual_hash:016x}"


def quality_issues(checks: PhotoChecks, width: int, height: int) -> list[QualityIssue]:
    """The issues of a photo of `width`×`height` (as displayed) measured as `checks`, in a fixed order."""
    issues = []
    if checks.sharpness < BLURRY_BELOW:
        issues.append(QualityIssue.BLURRY)
    if checks.brightness < DARK_BELOW or checks.dark_fraction > DARK_CLIPPED_OVER:
        issues.append(QualityIssue.DARK)
    if checks.brightness > OVEREXPOSED_ABOVE or checks.bright_fraction > OVEREXPOSED_CLIPPED_OVER:
        issues.append(QualityIssue.OVEREXPOSED)
    long_min, short_min = LOW_RESOLUTION_BELOW
    if max(width, height) < long_min or min(width, height) < short_min:
        issues.append(QualityIssue.LOW_RESOLUTION)
    return issues


# --- duplicates ----------------------------------------------------------------------------------------

DUPLICATE_DISTANCE = 6
"""Default of the setting of that name: hashes at most this many bits apart are the same photo. Resizing,
re-encoding at quality 60 and a 5% crop stay within it (bench/photo_checks.py measures recall and false
pairs)."""

MAX_DUPLICATES = 20
"""Duplicates named per image, the nearest: beyond a few, more names say nothing an agent acts on."""

HASH_BITS = 64
BANDS = 4
BAND_BITS = HASH_BITS // BANDS
"""Multi-index hashing: the hash is cut in BANDS bands, each stored as an indexed integer. Two hashes at
most d bits apart differ, by pigeonhole, in at most d // BANDS bits in some band: so a lookup probes every
band at each value within that many bits, and every true match is among the rows it finds. 4 bands of
16 bits: for d = 6 that is 17 probes a band (the value and its 16 one-bit neighbours), each finding
1/65536 of the org's photos: 8 bands of 8 would find 1/256 of them per probe, ~4,000 rows at 1,000,000."""


@dataclass(frozen=True)
class Duplicate:
    """Another image of the same org showing the same photo."""

    realty_uuid: UUID
    image_uuid: UUID
    distance: int
    """Bits between the perceptual hashes (0 for the same bytes)."""
    identical: bool = False
    """The same bytes (same imageHash)."""


def bands(perceptual_hash: int) -> list[int]:
    """The hash's bands, band 0 the lowest bits."""
    mask = (1 << BAND_BITS) - 1
    return [(perceptual_hash >> (BAND_BITS * n)) & mask for n in range(BANDS)]


def probes(perceptual_hash: int, max_distance: int) -> Iterator[tuple[int, int]]:
    """(band number, band value) pairs among which every hash within `max_distance` bits has at least one."""
    flips = max_distance // BANDS
    for band_no, value in enumerate(bands(perceptual_hash)):
        for count in range(flips + 1):
            for bits in combinations(range(BAND_BITS), count):
                flipped = value
                for bit in bits:
                    flipped ^= 1 << bit
                yield band_no, flipped


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def signed64(value: int) -> int:
    """An unsigned 64-bit hash as a signed one (what a BIGINT column holds), and back with `unsigned64`."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value
