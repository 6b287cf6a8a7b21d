"""Memory for pixels: what one decode needs, and how much the decodes of one process may hold at once.

Verifying and rendering hold a picture's pixels, and a process runs several at once: a save's
SAVE_THREADS, GraphQL uploads verified in request threads, render jobs. Each decode first takes its
size, estimated from the header before any pixel exists, from the process's `DecodeBudget`
(DECODE_MEMORY_BYTES), and gives it back when its pixels are gone; decodes that would go over wait.
So the pixel memory of a process stays within the budget, or within one picture that needs more on
its own, whatever the number of threads.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from collections import deque
from contextlib import contextmanager
from typing import Iterator

from PIL import Image

from adapters import image_bounds, png_pixels

DECODER_STATE_BYTES = 4 * 1024 * 1024
"""Beyond the bitmaps: a decoder's own state and row buffers, and the allocator's slack."""

HEIF_COPIES = 3
"""Bitmaps of up to 4 bytes a pixel a HEIF decode holds at its peak: libheif's decoded planes, its
conversion to interleaved RGB(A), and the image pillow-heif copies that into."""
WEBP_COPIES = 4
"""Bitmaps of 4 bytes a pixel a WebP decode holds at its peak: libwebp's canvas and the previous one
(its animation decoder keeps both, even for a still picture), the frame Pillow copies out of it and
the image it then fills."""


class DecodeBudget:
    """A weighted semaphore of bytes, first come first served.

    A decode that needs more than the whole budget waits until nothing else holds any, then runs
    alone: every picture within the pixel limit is still accepted, one at a time. First come first
    served, so a large decode is not starved by a stream of small ones (which wait behind it instead).
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("a decode budget needs a positive capacity")
        self.capacity = capacity
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._admitted = 0  # what is held, each decode counted at most at the capacity
        self._held = 0
        self._peak = 0

    @classmethod
    def unbounded(cls) -> "DecodeBudget":
        return cls(sys.maxsize)

    @property
    def held(self) -> int:
        """Bytes the decodes running now hold, by their estimates."""
        return self._held

    @property
    def peak(self) -> int:
        """The most bytes held at once, by the decodes' estimates, since the budget was made."""
        return self._peak

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        """Hold `nbytes` of the budget for the block, waiting until they are free."""
        admitted = min(max(nbytes, 0), self.capacity)
        turn = object()
        with self._condition:
            self._queue.append(turn)
            try:
                while self._queue[0] is not turn or self._admitted + admitted > self.capacity:
                    self._condition.wait()
            finally:
                self._queue.remove(turn)
                self._condition.notify_all()  # the next in line may fit too, or may now be first
            self._admitted += admitted
            self._held += nbytes
            self._peak = max(self._peak, self._held)
        try:
            yield
        finally:
            with self._condition:
                self._admitted -= admitted
                self._held -= nbytes
                self._condition.notify_all()


LARGE_BLOCK_BYTES = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def unmap_large_blocks_when_freed(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Have the C allocator map every block of `threshold` bytes or more on its own, so that freeing it
    gives the memory back to the system at once. False where the C library has no such setting.

    Without it the budget bounds what decodes hold, but not the process: glibc serves each thread
    from an arena of its own and, once a large block has been freed, raises the size it maps apart
    (up to 32 MiB), so pixel buffers below that stay in the arena of the thread that decoded them,
    freed but resident. Eight save threads of a 6-megapixel WebP each then kept ~90 MB. A fixed
    threshold switches that adjustment off. Process-wide, and the same for every caller.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def bitmap_bytes(mode: str, size: tuple[int, int]) -> int:
    """What Pillow allocates for an image: 1 byte a pixel for 1, L and P, 2 for 16-bit grey, else 4
    (RGB is stored as RGBX)."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return per_pixel * size[0] * size[1]


def decode_bytes(img: Image.Image, data: bytes) -> int:
    """What loading `img` (opened, and drafted if it is to be) takes at its peak."""
    if img.format == "WEBP":
        pixels = WEBP_COPIES * bitmap_bytes("RGBA", img.size)
    elif img.format == "HEIF":
        pixels = HEIF_COPIES * bitmap_bytes("RGBA", img.size)
    else:
        coefficients = image_bounds.jpeg_coefficient_bytes(data) if img.format in ("JPEG", "MPO") else 0
        pixels = bitmap_bytes(img.mode, img.size) + coefficients
    return pixels + DECODER_STATE_BYTES


def verify_bytes(img: Image.Image, data: bytes) -> int:
    """What verifying `img` takes: a PNG's pixel data is streamed, anything else is loaded."""
    if img.format == "PNG":
        return png_pixels.WORKING_BYTES + DECODER_STATE_BYTES
    return decode_bytes(img, data)


def render_bytes(img: Image.Image, data: bytes, target: tuple[int, int]) -> int:
    """What `PillowInspector.render` takes at its peak for `img` (opened and drafted), step by step:
    the decode; a converted copy when its mode is not one the pipeline works in; then, from whichever
    of the two is left, the box reduction or the resize (Pillow resamples in two passes, and an image
    with alpha in a premultiplied copy); and a few bitmaps of the largest rendition."""
    width, height = img.size
    pixels = width * height
    decoded = decode_bytes(img, data)
    has_alpha = img.mode in ("LA", "PA", "RGBA", "RGBa", "La") or "transparency" in img.info
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        converted, has_alpha = 9 * pixels, False  # to 32-bit, scaled (both held at once), then to 8-bit grey
    elif img.mode in ("L", "RGB", "CMYK", "LA", "RGBA") and "transparency" not in img.info:
        converted = 0
    else:
        converted = 4 * pixels
    premultiplied = 4 * pixels if has_alpha else 0
    factor = min(width // target[0], height // target[1])
    resampled = 2 * 4 * pixels // factor ** 2 if factor >= 2 else 4 * target[0] * height
    return (max(decoded + converted, (converted or decoded) + premultiplied + resampled)
            + 3 * bitmap_bytes("RGBA", target))
