"""The measurements of CONTRACT §11 on decoded renditions (numpy and Pillow): a render job makes them from
the pictures it has already decoded and resized, so they cost no decode of their own."""
from __future__ import annotations

from functools import lru_cache

import blurhash
import numpy as np
from PIL import Image

from core.photo_checks import BRIGHT_LEVEL, DARK_LEVEL, SHARPNESS_CONTRAST, PhotoChecks

HASH_SIDE = 32
"""The picture is shrunk to HASH_SIDE² grey pixels and its 8×8 lowest DCT frequencies kept: the classic
pHash (Zauner 2010; what the `imagehash` package computes), robust to scaling and re-encoding."""
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SIDE = 32
"""The placeholder has 4×3 components: a 32 px picture has all the detail they can hold."""


def measure(sharpness_source: Image.Image, small: Image.Image) -> PhotoChecks:
    """`sharpness_source`: an RGB rendition at most MEASURE_SIDE; `small`: the smallest rendition."""
    luma = np.asarray(small.convert("L"), dtype=np.uint8)
    pixels = luma.size
    return PhotoChecks(
        perceptual_hash=perceptual_hash(small),
        blurhash=placeholder(small),
        sharpness=round(sharpness(sharpness_source), 1),
        brightness=round(float(luma.mean()), 1),
        dark_fraction=round(float(np.count_nonzero(luma <= DARK_LEVEL)) / pixels, 4),
        bright_fraction=round(float(np.count_nonzero(luma >= BRIGHT_LEVEL)) / pixels, 4),
    )


def perceptual_hash(img: Image.Image) -> int:
    grey = img.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix()
    low = (dct @ pixels @ dct.T)[:8, :8]
    bits = (low > np.median(low)).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def sharpness(img: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the luma, at a contrast of SHARPNESS_CONTRAST."""
    luma = np.asarray(img.convert("L"), dtype=np.float32)
    if luma.shape[0] < 3 or luma.shape[1] < 3:
        return 0.0
    lap = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]) - 4 * luma[1:-1, 1:-1]
    contrast = max(float(luma.std()), 10.0)
    return float(lap.var()) * (SHARPNESS_CONTRAST / contrast) ** 2


def placeholder(img: Image.Image) -> str:
    tiny = img.convert("RGB")
    tiny.thumbnail((BLURHASH_SIDE, BLURHASH_SIDE), Image.Resampling.BOX)
    if tiny is img:  # the package closes what it is given
        tiny = tiny.copy()
    return blurhash.encode(tiny, *BLURHASH_COMPONENTS)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """The orthonormal DCT-II matrix of size HASH_SIDE (no SciPy for one 32×32 transform)."""
    n = HASH_SIDE
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.sqrt(2 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2)
    return matrix
