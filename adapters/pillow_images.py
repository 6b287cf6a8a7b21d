"""`ImageInspector` on Pillow: verifies uploads and makes the renditions the service stores.

Untrusted bytes go through four gates before any pixel memory is allocated for them:
a format allow-list (Pillow otherwise sniffs ~40 formats, each an attack surface), a structural walk
that bounds the decoder's WORK (`adapters/image_bounds.py`), the caller's pixel limit read from the
header, and only then a decode that must consume the whole image. For a PNG that decode is a stream
through zlib that never holds the bitmap (`adapters/png_pixels.py`); for a JPEG it is at 1/8 scale.

Renditions are made from ONE decode at the smallest size the largest rendition needs (JPEG DCT
scaling, else an integer box `reduce`), and every smaller rendition is derived from the largest.
That keeps a 24-megapixel JPEG from ever being materialised at full size.

No per-call global state is touched (`Image.MAX_IMAGE_PIXELS`, `ImageFile.LOAD_TRUNCATED_IMAGES`,
warning filters), so one instance serves concurrent requests.
"""
from __future__ import annotations

import io
import logging
import struct
from contextlib import contextmanager
from typing import Iterator, Sequence

import pillow_heif
from PIL import Image, ImageCms, ImageFile, PngImagePlugin, UnidentifiedImageError

from adapters import decode_memory, image_bounds, photo_measures, png_pixels
from adapters.decode_memory import DecodeBudget
from adapters.image_orientation import orientation_of
from core.errors import UnsupportedImageType, UploadRejected
from core.photo_checks import MEASURE_SIDE, PhotoChecks
from core.ports import ImageFacts, ImageInspector, RenderedImage, RenderResult, RenditionSpec

log = logging.getLogger(__name__)

# Load every plugin once, at import: `Image.open` would otherwise register them lazily on the
# first request, mutating Pillow's registry while other threads read it.
Image.init()
# HEIF (phones' default): only the primary picture is decoded, never its thumbnails, depth maps or auxiliary
# images (work and memory an upload could otherwise multiply). pillow-heif applies the file's rotation and
# mirroring while decoding and then reports EXIF orientation 1, so the pixels arrive upright.
pillow_heif.options.THUMBNAILS = False
pillow_heif.options.DEPTH_IMAGES = False
pillow_heif.options.AUX_IMAGES = False
pillow_heif.register_heif_opener()

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "HEIF")
"""Passed to `Image.open`, so no other decoder ever sees the bytes."""

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with a Multi-Picture index (phones' depth maps): Pillow's JPEG opener returns it
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "HEIF": "image/heif",
}
HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
"""Major brands of HEIF files coded with HEVC: image/heic (RFC 9110 registry, as phones send it)."""

NOT_AN_IMAGE = "the file is not a JPEG, PNG, WebP, BMP or HEIC/HEIF image"
OUTPUT_TYPE = "image/jpeg"

# What turns stored pixels into displayed ones for each EXIF orientation (same as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# ICC colour spaces and the Pillow mode pixels must be in for a transform from that space.
_ICC_INPUT_MODE = {"RGB": "RGB", "CMYK": "CMYK", "GRAY": "L"}

# --- work bounds: see adapters/image_bounds.py; RLE BMPs are bounded here, on Pillow's reading of them

MAX_RLE_BMP_PIXELS = 1_000_000
"""RLE BMPs are decoded by Pillow in Python, at up to ~0.5 µs per pixel or run code. The format only
holds 16- or 256-colour pictures (icons, logos, old screenshots); larger ones are refused."""

RLE_BYTES_PER_PIXEL = {8: 2, 4: 1}
"""RLE data, per pixel, that no real encoder exceeds: RLE8 spends ~1 byte per pixel on noise (absolute
runs), RLE4 ~0.5. The decoder is handed no more than this (plus row ends), so a stream padded with
codes that draw nothing cannot keep it looping."""

# Decoder failures come as many types (OSError for truncation, SyntaxError/ValueError/struct.error
# for malformed headers, EOFError...). Whatever a decoder raises on hostile input means "not a whole
# image"; MemoryError and our own errors are not in this set and pass through.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
                  ZeroDivisionError, OverflowError, AttributeError, RuntimeError)


class PillowInspector(ImageInspector):
    def __init__(self, quality: int = 85, render_max_pixels: int = 100_000_000,
                 decode_budget: DecodeBudget | None = None) -> None:
        """`render_max_pixels` guards `render` on its own: it is normally called on bytes `inspect`
        already accepted, but must not be the way round the limit if a caller skips that.
        `decode_budget`: the pixel memory every decode of this inspector shares (unbounded if none)."""
        self.quality = quality
        self.render_max_pixels = render_max_pixels
        self.decode_budget = decode_budget or DecodeBudget.unbounded()

    # --- inspect --------------------------------------------------------------------------------

    def inspect(self, data: bytes, max_pixels: int) -> ImageFacts:
        with _open(data, max_pixels) as img:
            content_type = CONTENT_TYPES[img.format]
            if img.format == "HEIF" and data[8:12] in HEIC_BRANDS:
                content_type = "image/heic"
            width, height = img.size
            if img.format in ("JPEG", "MPO"):
                # Decoding at 1/8 scale still entropy-decodes every byte of the scan, so truncation
                # and corrupt data are caught, at 1/64 of the memory and a fraction of the time.
                img.draft(None, (max(1, width // 8), max(1, height // 8)))
            with self._decoding(img, decode_memory.verify_bytes(img, data)):
                if img.format == "PNG":
                    # Pillow would hold the whole bitmap (400 MB for a 100-megapixel picture of 300 KB).
                    _read_png_trailer(img, png_pixels.verify_pixels(data))
                else:
                    _load(img)
                # After the pixel data: a PNG may carry its eXIf chunk there.
                orientation = orientation_of(img.info)
        if orientation >= 5:  # rotated by 90°: displayed width is the stored height
            width, height = height, width
        return ImageFacts(content_type=content_type, width=width, height=height)

    # --- render ---------------------------------------------------------------------------------

    def render(self, data: bytes, specs: Sequence[RenditionSpec]) -> list[RenderedImage]:
        return self._render(data, specs, measure=False)[0]

    def render_checked(self, data: bytes, specs: Sequence[RenditionSpec]) -> RenderResult:
        rendered, checks = self._render(data, specs, measure=True)
        assert checks is not None
        return RenderResult(rendered, checks)

    def _render(self, data: bytes, specs: Sequence[RenditionSpec],
                measure: bool) -> tuple[list[RenderedImage], PhotoChecks | None]:
        if not specs:
            return [], None
        if min(spec.max_side for spec in specs) < 1:
            raise ValueError("a rendition's max_side must be at least 1")
        img = _open(data, self.render_max_pixels)
        icc = img.info.get("icc_profile")
        # Boxes are square, so the fitted size does not depend on orientation: plan in stored
        # coordinates and rotate at the end, on the smallest image that needs it.
        largest = max(spec.max_side for spec in specs)
        target = _fit(img.size, largest)
        if img.format in ("JPEG", "MPO"):
            # DCT scaling: libjpeg decodes straight to 1/2, 1/4 or 1/8 size, never below `target`.
            img.draft("RGB", target)
        # Held until the renditions are encoded. Not with `_decoding`: it would keep the decoded source
        # alive to close it, which the rebinding of `img` below frees as soon as it is reduced.
        with self.decode_budget.hold(decode_memory.render_bytes(img, data, target)):
            _load(img)
            orientation = orientation_of(img.info)
            try:
                # One step per statement, rebinding `img`: each intermediate (above all the decoded
                # source) is freed as soon as the next exists, which keeps the peak near one decode.
                img = _normalise_mode(img)
                img = _reduce(img, target)
                img = _resize(img, target)
                img = _flatten(img)
                img = _to_srgb(img, icc)
                if orientation in _TRANSPOSE:
                    img = img.transpose(_TRANSPOSE[orientation])
            except _DECODE_ERRORS as exc:  # pragma: no cover - Pillow ops on a decoded image: defensive
                raise UnsupportedImageType(f"the image cannot be processed: {exc}") from exc
            base = img
            del img

            # Largest first; every smaller rendition is resampled from it, not from the source.
            pictures: dict[int, Image.Image] = {}
            for max_side in sorted({spec.max_side for spec in specs}, reverse=True):
                size = _fit(base.size, max_side)
                pictures[max_side] = base if size == base.size else base.resize(
                    size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            del base
            checks = _measure(pictures) if measure else None
            rendered: list[RenderedImage] = []
            for spec in specs:
                out = pictures[spec.max_side]
                rendered.append(RenderedImage(self._encode(out, spec.content_type), out.width, out.height,
                                              spec.content_type))
            del pictures
        return rendered, checks

    @contextmanager
    def _decoding(self, img: ImageFile.ImageFile, nbytes: int) -> Iterator[None]:
        """Hold `nbytes` of the budget while `img` may hold pixels; they are gone before it is given back."""
        with self.decode_budget.hold(nbytes):
            try:
                yield
            finally:
                img.close()

    def _encode(self, img: Image.Image, content_type: str = OUTPUT_TYPE) -> bytes:
        # A fresh info dict: Pillow's JPEG writer copies `info["comment"]` from the image, and
        # nothing of the source (EXIF, XMP, GPS, ICC, comments) may reach a rendition.
        img.info = {}
        buf = io.BytesIO()
        if content_type == "image/webp":
            # method 0 of 6: a quarter of method 4's time (52 against 233 ms at 2048 px), files ~3% larger.
            img.save(buf, "WEBP", quality=self.quality - 5, method=0, exif=b"")
        else:
            img.save(buf, "JPEG", quality=self.quality, optimize=True, progressive=True, exif=b"")
        return buf.getvalue()


# --- helpers -----------------------------------------------------------------------------------

def _measure(pictures: dict[int, Image.Image]) -> PhotoChecks:
    """The checks on the renditions just made: sharpness at the largest one within MEASURE_SIDE."""
    sides = sorted(pictures)
    within = [side for side in sides if side <= MEASURE_SIDE]
    return photo_measures.measure(pictures[within[-1] if within else sides[0]], pictures[sides[0]])


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Identify the bytes (header only) and enforce the work and pixel limits before any pixel is decoded."""
    if not data:
        raise UnsupportedImageType(f"{NOT_AN_IMAGE}: the file is empty")
    if data.startswith(b"\xff\xd8\xff"):
        image_bounds.check_jpeg_work(data)
    elif data.startswith(image_bounds.PNG_SIGNATURE):
        image_bounds.check_png_work(data)
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own process-wide backstop fired (the warning only arrives here when a warnings
        # filter turns it into an error). Either way the declared size is beyond what we decode.
        # Pillow's numbers, not ours: its threshold is global and may differ from `max_pixels`.
        raise UploadRejected(f"the image's pixel count exceeds the limit: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImageType(NOT_AN_IMAGE) from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedImageType(f"{NOT_AN_IMAGE}: {exc}") from exc
    if img.format not in CONTENT_TYPES:  # pragma: no cover - formats= already guarantees it
        img.close()
        raise UnsupportedImageType(NOT_AN_IMAGE)
    width, height = img.size
    if width < 1 or height < 1:
        img.close()
        raise UnsupportedImageType(f"{NOT_AN_IMAGE}: it declares no pixels")
    if width * height > max_pixels:
        img.close()
        raise UploadRejected(
            f"the image is {width}×{height}: {width * height} pixels exceeds the limit of {max_pixels}")
    if img.format == "BMP" and img.tile and img.tile[0].codec_name == "bmp_rle":
        img = _bounded_rle_bmp(img, data)
    return img


def _bounded_rle_bmp(img: ImageFile.ImageFile, data: bytes) -> ImageFile.ImageFile:
    """An RLE BMP within MAX_RLE_BMP_PIXELS, reopened on no more RLE data than its pixels can need."""
    width, height = img.size
    if width * height > MAX_RLE_BMP_PIXELS:
        img.close()
        raise UploadRejected(f"RLE-compressed BMP images are accepted up to {MAX_RLE_BMP_PIXELS} pixels; this one "
                             f"is {width}×{height}: save it as PNG")
    bits = 4 if img.tile[0].args[1] else 8  # the decoder's args: (rawmode, rle4, direction)
    end = img.tile[0].offset + RLE_BYTES_PER_PIXEL[bits] * width * height + 2 * height + 2
    if len(data) <= end:
        return img
    # Data beyond `end` is never part of a sane RLE stream (trailing bytes are fine: the decoder stops
    # at end-of-bitmap); a stream that has not ended by then is reported truncated, not chased.
    img.close()
    try:
        return Image.open(io.BytesIO(data[:end]), formats=("BMP",))  # the same header: opened before
    except _DECODE_ERRORS as exc:  # pragma: no cover - defensive
        raise UnsupportedImageType(f"{NOT_AN_IMAGE}: {exc}") from exc


def _load(img: ImageFile.ImageFile) -> None:
    """Decode all pixel data; refuse truncated or corrupt files instead of padding them with grey."""
    _require_strict_loading()
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadRejected(f"the image is too large: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedImageType(f"the image data is truncated or corrupt: {exc}") from exc


def _read_png_trailer(img: ImageFile.ImageFile, offset: int) -> None:
    """Read the chunks after a PNG's pixel data (from `offset`) into `img.info`, with Pillow's own chunk
    readers, as its `load()` does once it has decoded the pixels (`PngImageFile.load_end`): a PNG may
    carry its eXIf, XMP or text there. A chunk cut short is a truncated file, as it is to Pillow."""
    _require_strict_loading()
    stream = img.png if isinstance(img, PngImagePlugin.PngImageFile) else None
    if stream is None or stream.fp is None:  # pragma: no cover - Image.open leaves both on a PNG
        return
    fp = stream.fp
    fp.seek(offset)
    try:
        while True:
            try:
                kind, position, length = stream.read()
            except (struct.error, SyntaxError):
                return  # no whole chunk header (no IEND, or trailing bytes): Pillow stops here too
            if kind in (b"IEND", b"fcTL"):  # fcTL: an animation's next frame
                return
            try:
                stream.call(kind, position, length)
            except UnicodeDecodeError:
                return
            except (EOFError, AttributeError):  # a chunk with no reader (AttributeError) or of image data
                if len(fp.read(length)) < length:
                    raise OSError(f"the {kind!r} chunk is cut short") from None
            fp.read(4)  # its checksum: Pillow checks none after the pixel data
    except _DECODE_ERRORS as exc:
        raise UnsupportedImageType(f"the image data is truncated or corrupt: {exc}") from exc


def _require_strict_loading() -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A process-wide switch we must not flip per call (threads). If someone enabled it, fail
        # closed rather than accept half-uploaded images silently.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; PillowInspector requires False")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled to fit a max_side square, aspect kept; never enlarged."""
    width, height = size
    if width <= max_side and height <= max_side:
        return width, height
    if width >= height:
        return max_side, max(1, round(height * max_side / width))
    return max(1, round(width * max_side / height)), max_side


def _normalise_mode(img: Image.Image) -> Image.Image:
    """An 8-bit image in L, LA, RGB, RGBA or CMYK: the modes reduce/resize/ImageCms all handle."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        # 16-bit samples. Pillow's convert("L") clips at 255 instead of scaling, so scale first.
        img = img.convert("I") if mode != "F" else img
        img = img.point(lambda v: v * (1 / 256)).convert("L")
        mode = "L"
    has_alpha = mode in ("LA", "PA", "RGBA", "RGBa", "La") or "transparency" in img.info
    if (mode in ("L", "RGB", "CMYK") and not has_alpha) or (mode in ("LA", "RGBA") and "transparency" not in img.info):
        return img  # already one of the target modes: no copy of a possibly huge decode
    if mode in ("1", "L", "LA", "La"):
        return img.convert("LA" if has_alpha else "L")
    # P, PA, RGBA, RGB with a tRNS colour, YCbCr, LAB, HSV...: the colour modes.
    return img.convert("RGBA" if has_alpha else "RGB")


def _reduce(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Integer box reduction while the image is at least twice `target`: cheap, and it lets the
    caller drop the full-size decode before the (costlier) Lanczos step."""
    factor = min(img.width // target[0], img.height // target[1])
    return img.reduce(factor) if factor >= 2 else img


def _resize(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """The last step from the decode to the largest rendition. After DCT scaling or `_reduce` it is
    always a mild downscale (less than 2x), where bicubic and Lanczos agree to ~49 dB PSNR (no visible
    difference) and bicubic, with 2/3 of the taps, takes about half the time: this is the costliest
    resampling of a render, on the largest image."""
    return img if img.size == target else img.resize(target, Image.Resampling.BICUBIC)


def _flatten(img: Image.Image) -> Image.Image:
    """Composite transparency onto white: JPEG has no alpha, and black behind it looks broken."""
    if img.mode not in ("LA", "RGBA"):
        return img
    background = Image.new(img.mode[:-1], img.size, 255 if img.mode == "LA" else (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB in sRGB. An embedded profile is honoured (phones embed Display P3; print files CMYK);
    without one the pixels are taken as sRGB already, the web's assumption."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = source.profile.xcolor_space.strip()
            description = ImageCms.getProfileDescription(source) or ""
            if _ICC_INPUT_MODE.get(space) == img.mode and "srgb" not in description.lower():
                # A profile per call: lcms profile handles are not shared between threads.
                converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
                assert converted is not None
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            # A broken profile is common in the wild; the pixels are still a usable picture.
            log.info("ignoring unusable ICC profile: %s", exc)
    return img if img.mode == "RGB" else img.convert("RGB")
