"""Test images made in memory, for any test that needs image bytes.

Every `make_*` function returns the encoded file as `bytes`. Unless a docstring says otherwise the
picture is the "quadrants" pattern (see `quadrants`): red top-left, green top-right, blue bottom-left,
white bottom-right, AS DISPLAYED. When an EXIF orientation is given, the stored pixels are rotated or
mirrored so that a viewer honouring the orientation shows exactly that pattern at `width`×`height`;
the stored (raw) size is therefore `height`×`width` for orientations 5 to 8.

Sample colours at the middle of a quadrant (`quadrant_centres`), never near an edge: JPEG blurs edges.
"""
from __future__ import annotations

import random
import io
import struct
import zlib

from PIL import Image, ImageChops, ImageCms, ImageDraw

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

QUADRANT_COLOURS = {"top_left": RED, "top_right": GREEN, "bottom_left": BLUE, "bottom_right": WHITE}

# EXIF / IFD tag numbers used below.
ORIENTATION = 0x0112
MAKE = 0x010F
MODEL = 0x0110
SOFTWARE = 0x0131
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
MAKER_NOTE = 0x927C
DATE_TIME_ORIGINAL = 0x9003

# What Pillow's `ImageOps.exif_transpose` applies to stored pixels to display them (EXIF spec).
_DISPLAY_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Its inverse: what turns the displayed picture into the pixels a camera would store.
_STORE_TRANSPOSE = {**_DISPLAY_TRANSPOSE, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="52,31.2N" exif:GPSLongitude="13,24.6E" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    b'xmp:CreatorTool="SecretCam 3000"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
COMMENT = b"private comment: owner Jane Doe, 12 Secret Lane"


# --- pictures --------------------------------------------------------------------------------

def quadrants(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    img = Image.new("RGB", (width, height), WHITE)
    half_w, half_h = max(1, width // 2), max(1, height // 2)
    img.paste(RED, (0, 0, half_w, half_h))
    img.paste(GREEN, (half_w, 0, width, half_h))
    img.paste(BLUE, (0, half_h, half_w, height))
    return img if mode == "RGB" else img.convert(mode)


def quadrant_centres(width: int, height: int) -> dict[str, tuple[int, int]]:
    """Pixel positions in the middle of each quadrant of a `width`×`height` picture."""
    return {
        "top_left": (width // 4, height // 4),
        "top_right": (3 * width // 4, height // 4),
        "bottom_left": (width // 4, 3 * height // 4),
        "bottom_right": (3 * width // 4, 3 * height // 4),
    }


def stored_pixels(displayed: Image.Image, orientation: int | None) -> Image.Image:
    """The pixels a camera stores, with this orientation tag, to display `displayed`."""
    if orientation in _STORE_TRANSPOSE:
        return displayed.transpose(_STORE_TRANSPOSE[orientation])
    return displayed


def exif_bytes(orientation: int | None = None, gps: bool = False, maker: bool = False) -> bytes:
    """An EXIF block (as Pillow's `exif=` takes it); empty bytes when nothing is asked for."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if maker:
        exif[MAKE] = "SecretCam"
        exif[MODEL] = "SecretCam 3000"
        exif[SOFTWARE] = "firmware 1.2.3"
        # Sub-IFDs are written only when set as dicts on the main IFD.
        exif[EXIF_IFD] = {DATE_TIME_ORIGINAL: "2024:05:01 12:34:56",
                          MAKER_NOTE: b"SECRETCAM\x00serial=123456789\x00owner=Jane Doe"}
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # lat/lon + refs
    return exif.tobytes() if len(exif) else b""


def _encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


# --- allowed formats -------------------------------------------------------------------------

def make_jpeg(width: int = 64, height: int = 48, orientation: int | None = None, gps: bool = False,
              metadata: bool = False, icc_profile: bytes | None = None, progressive: bool = False,
              mode: str = "RGB", quality: int = 95) -> bytes:
    """A JPEG displayed as `width`×`height` quadrants.

    `gps` adds a GPS IFD; `metadata` adds maker tags (Make, Model, MakerNote...), XMP and a comment.
    """
    img = stored_pixels(quadrants(width, height), orientation).convert(mode)
    params: dict = {"quality": quality, "progressive": progressive}
    exif = exif_bytes(orientation, gps=gps, maker=metadata)
    if exif:
        params["exif"] = exif
    if metadata:
        params["xmp"] = XMP
        params["comment"] = COMMENT
    if icc_profile is not None:
        params["icc_profile"] = icc_profile
    return _encode(img, "JPEG", **params)


def make_camera_jpeg(width: int = 64, height: int = 48, orientation: int = 1) -> bytes:
    """What a phone produces: orientation, GPS, maker tags, XMP and a comment."""
    return make_jpeg(width, height, orientation=orientation, gps=True, metadata=True)


def make_mpo(width: int = 64, height: int = 48) -> bytes:
    """A Multi-Picture JPEG (two frames), as phones write for depth or HDR data: still image/jpeg."""
    first, second = quadrants(width, height), Image.new("RGB", (width, height), BLACK)
    return _encode(first, "MPO", save_all=True, append_images=[second])


def make_cmyk_jpeg(width: int = 64, height: int = 48, colour: tuple[int, int, int, int] = (255, 0, 0, 0)) -> bytes:
    """A CMYK JPEG of one colour (default pure cyan), as print workflows produce."""
    return _encode(Image.new("CMYK", (width, height), colour), "JPEG", quality=95)


def make_png(width: int = 64, height: int = 48, mode: str = "RGB", orientation: int | None = None) -> bytes:
    """A PNG of the quadrants in `mode` (RGB, RGBA, L, LA, P...); `orientation` goes in an eXIf chunk."""
    img = stored_pixels(quadrants(width, height), orientation)
    img = img.convert(mode) if mode != "P" else img.convert("P", palette=Image.Palette.ADAPTIVE)
    params = {"exif": exif_bytes(orientation)} if orientation is not None else {}
    return _encode(img, "PNG", **params)


def make_rgba_png(width: int = 64, height: int = 48) -> bytes:
    """Left half opaque red, right half fully transparent (its hidden colour is black)."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, max(1, width // 2), height))
    return _encode(img, "PNG")


def make_paletted_png(width: int = 64, height: int = 48) -> bytes:
    """A mode-P PNG: left half blue, right half the transparent palette index (hidden colour black)."""
    img = Image.new("P", (width, height), 0)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 - 2) * 3)
    img.paste(1, (0, 0, max(1, width // 2), height))
    return _encode(img, "PNG", transparency=0)


def make_png16(width: int = 64, height: int = 48, colour: bool = False) -> bytes:
    """A 16-bit-per-sample PNG: grey (mode I;16) of value 0x8080, or RGB of (0xFFFF, 0x8080, 0x0000).

    The colour one is written by hand: Pillow cannot encode 16-bit RGB.
    """
    if not colour:
        img = Image.new("I;16", (width, height), 0x8080)
        return _encode(img, "PNG")
    row = b"\x00" + struct.pack(">HHH", 0xFFFF, 0x8080, 0x0000) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return _png_file(ihdr, zlib.compress(row * height))


def make_webp(width: int = 64, height: int = 48, lossless: bool = True, mode: str = "RGB") -> bytes:
    return _encode(quadrants(width, height, mode), "WEBP", lossless=lossless)


def make_bmp(width: int = 64, height: int = 48) -> bytes:
    return _encode(quadrants(width, height), "BMP")


# --- refused inputs --------------------------------------------------------------------------

def make_gif(width: int = 64, height: int = 48) -> bytes:
    return _encode(quadrants(width, height), "GIF")


def make_tiff(width: int = 64, height: int = 48) -> bytes:
    return _encode(quadrants(width, height), "TIFF")


def make_svg() -> bytes:
    return (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<rect width="10" height="10" fill="red"/></svg>')


def make_html() -> bytes:
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def make_text_file() -> bytes:
    """What a user gets by renaming notes.txt to photo.jpg."""
    return b"Viewing on Saturday at 10:00. Keys are with the neighbour.\n" * 20


def truncate(data: bytes, keep: float = 0.6) -> bytes:
    """The first `keep` share of a file, as an interrupted upload leaves it."""
    return data[: max(1, int(len(data) * keep))]


def make_truncated_jpeg(width: int = 256, height: int = 192) -> bytes:
    return truncate(make_photo_jpeg(width, height))


def make_truncated_png(width: int = 256, height: int = 192) -> bytes:
    return truncate(_encode(_photo(width, height), "PNG"))


def make_png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG declaring a huge size: decoding it would need width*height*3 bytes.

    Only the first row's data is present, so it is also truncated: a reader that checks the size
    after decoding would both waste the memory and report the wrong problem.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _png_file(ihdr, zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)), 9))


# --- helpers ---------------------------------------------------------------------------------

def make_photo_jpeg(width: int = 256, height: int = 192, quality: int = 90) -> bytes:
    """A JPEG with photo-like (noisy, gradient) content, so truncation cuts real scan data."""
    return _encode(_photo(width, height), "JPEG", quality=quality)


def _photo(width: int, height: int) -> Image.Image:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40).convert("L")
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def _png_file(ihdr: bytes, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_icc_profile(swap_red_green: bool = True, description: str = "Swapped RG test profile") -> bytes:
    """A minimal ICC v2 RGB matrix/TRC profile (gamma 2.2, sRGB primaries, D50 white).

    With `swap_red_green` its red and green colorants are exchanged, so a stored pure red means
    displayed pure green: a rendition that applies the profile turns red into green, one that
    ignores it keeps red. Lets a test tell the two apart without a real camera profile on disk.
    """
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).profile
    red, green, blue = srgb.red_colorant[0], srgb.green_colorant[0], srgb.blue_colorant[0]
    if swap_red_green:
        red, green = green, red

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(s15(c) for c in v)

    ascii_desc = description.encode("ascii") + b"\x00"
    desc = (b"desc\x00\x00\x00\x00" + struct.pack(">I", len(ascii_desc)) + ascii_desc
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\x00" * 67)
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(2.2 * 256))
    text = b"text\x00\x00\x00\x00" + b"public domain test profile\x00"
    tags = [(b"desc", desc), (b"cprt", text), (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
            (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)), (b"bXYZ", xyz(blue)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]

    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        data += b"\x00" * (-len(data) % 4)  # tags start on 4-byte boundaries
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + b"\x00" * 4 + b"\x00" * 8
              + b"\x00" * 8 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"lcms"
              + b"\x00" * 16 + b"\x00" * 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """The (marker, payload) segments of a JPEG before its scan data: APPn, COM, DQT...

    Lets a test see metadata Pillow would not report (APP1 EXIF/XMP, APP2 ICC, APP13 IPTC, COM).
    """
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, pos = [], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"bad marker at {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segments.append((marker, data[pos + 4:pos + 2 + length]))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    return segments


# --- hostile inputs: a few bytes to send, a lot of work to decode ---------------------------------

def make_scan_flood_jpeg(width: int = 1024, height: int = 1024, extra_scans: int = 3000) -> bytes:
    """A valid progressive greyscale JPEG whose last scan (an AC refinement over every block) is
    repeated `extra_scans` times: ~20 bytes per scan, but libjpeg walks every block for each one."""
    data = _encode(Image.new("L", (width, height), 128), "JPEG", progressive=True, quality=90)
    start, end = data.rindex(b"\xff\xda"), len(data) - 2  # the last SOS (entropy data never holds FFDA); EOI
    return data[:end] + data[start:end] * extra_scans + data[end:]


def make_marker_flood_jpeg(markers: int = 1_000_000) -> bytes:
    """A 16×16 JPEG with `markers` empty comment segments (4 bytes each) right after SOI."""
    data = make_jpeg(16, 16)
    return data[:2] + b"\xff\xfe\x00\x02" * markers + data[2:]


def make_fill_flood_jpeg(fill: int = 4_000_000) -> bytes:
    """A 16×16 JPEG with `fill` 0xFF fill bytes before its first segment (the standard allows any number)."""
    data = make_jpeg(16, 16)
    return data[:2] + b"\xff" * fill + data[2:]


def make_chunk_flood_png(chunks: int = 300_000) -> bytes:
    """A 16×16 PNG with `chunks` empty private ancillary chunks (12 bytes each) before its image data."""
    data = make_png(16, 16)
    ihdr_end = 8 + 25
    return data[:ihdr_end] + _png_chunk(b"prVt", b"") * chunks + data[ihdr_end:]


_RLE_PALETTE = [RED, GREEN, BLUE, WHITE]  # palette indices 0..3


def make_rle_bmp(width: int = 64, height: int = 48, bits: int = 8) -> bytes:
    """The quadrants as an RLE8 (`bits` 8) or RLE4 (`bits` 4) compressed BMP, as old Windows tools wrote:
    encoded runs of at most 255 pixels, an end-of-line after every row, an end-of-bitmap at the end."""
    half_w, half_h = max(1, width // 2), max(1, height // 2)
    stream = bytearray()
    for y in reversed(range(height)):  # BMP rows are stored bottom-up
        left, right = (0, 1) if y < half_h else (2, 3)
        for index, count in ((left, min(half_w, width)), (right, width - half_w)):
            value = index if bits == 8 else index << 4 | index
            while count > 0:
                run = min(count, 255)
                stream += bytes((run, value))
                count -= run
        stream += b"\x00\x00"  # end of line
    stream += b"\x00\x01"  # end of bitmap
    return _rle_bmp_file(width, height, bits, bytes(stream))


def make_rle_bmp_padding_bomb(width: int = 4_000_000, height: int = 10) -> bytes:
    """An RLE8 BMP a few hundred bytes long whose rows are one pixel and an end-of-line each: the
    decoder pads every row to `width` pixels, one at a time (Pillow's RLE decoder is pure Python)."""
    stream = b"\x01\x00\x00\x00" * height + b"\x00\x01"
    return _rle_bmp_file(width, height, 8, stream)


def make_rle_bmp_eol_flood(width: int = 64, height: int = 48, eols: int = 2_000_000) -> bytes:
    """`make_rle_bmp` with `eols` end-of-line codes (which draw nothing) before its real data."""
    data = make_rle_bmp(width, height)
    offset = struct.unpack_from("<I", data, 10)[0]
    return data[:offset] + b"\x00\x00" * eols + data[offset:]


def _rle_bmp_file(width: int, height: int, bits: int, stream: bytes) -> bytes:
    colours = 256 if bits == 8 else 16
    palette = b"".join(bytes((b, g, r, 0)) for r, g, b in _RLE_PALETTE)
    palette += b"\x00" * (4 * colours - len(palette))
    compression = 1 if bits == 8 else 2  # BI_RLE8, BI_RLE4
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(stream), 2835, 2835, colours, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(stream), 0, 0, offset) + info + palette + stream


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


_ADAM7_PASSES = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def make_interlaced_png(width: int = 64, height: int = 48, passes: int = 7) -> bytes:
    """The quadrants as an 8-bit RGB Adam7-interlaced PNG (Pillow only writes non-interlaced ones).

    With `passes` < 7 the compressed data is a complete zlib stream holding only the first passes:
    a file that is whole, but whose image data ends early.
    """
    raw, out = quadrants(width, height).tobytes(), bytearray()
    for x0, y0, dx, dy in _ADAM7_PASSES[:passes]:
        xs = range(x0, width, dx)
        for y in range(y0, height, dy) if xs else ():
            out += b"\x00" + b"".join(raw[(y * width + x) * 3:(y * width + x) * 3 + 3] for x in xs)
    return _png_file(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1), zlib.compress(bytes(out)))


def make_png_ending_early(width: int = 64, height: int = 48, rows: int = 24) -> bytes:
    """An RGB PNG whose zlib stream is complete but holds only the first `rows` rows."""
    raw = quadrants(width, height).tobytes()
    data = b"".join(b"\x00" + raw[y * width * 3:(y + 1) * width * 3] for y in range(rows))
    return _png_file(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), zlib.compress(data))


def make_png_with_huge_exif(width: int = 64, height: int = 48, orientation: int = 6, tags: int = 65_535,
                            blob: int = 8_000_000) -> bytes:
    """A PNG whose eXIf chunk holds orientation `orientation` and then `tags` - 1 more IFD0 entries,
    each claiming the same `blob`-byte value (all of them together far more than the file holds)."""
    entries = [struct.pack("<HHIHH", ORIENTATION, 3, 1, orientation, 0)]
    value_at = 8 + 2 + 12 * tags + 4
    others = [tag for tag in range(1, 0x10000) if tag != ORIENTATION][:tags - 1]
    entries += [struct.pack("<HHII", tag, 7, blob, value_at) for tag in others]  # type UNDEFINED
    exif = b"II*\x00" + struct.pack("<IH", 8, tags) + b"".join(entries) + b"\x00" * 4 + b"\x00" * blob
    data = _encode(stored_pixels(quadrants(width, height), orientation), "PNG")
    return data[:-12] + _png_chunk(b"eXIf", exif) + data[-12:]


# --- assertions on what was made -------------------------------------------------------------

def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def close_to(actual, expected, tolerance: int = 40) -> bool:
    """JPEG shifts colours a little; a wrong quadrant is off by ~255 in some channel."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def assert_quadrants(img: Image.Image) -> None:
    """The displayed picture is the upright quadrant pattern of tests.images."""
    for quadrant, xy in quadrant_centres(img.width, img.height).items():
        colour = img.convert("RGB").getpixel(xy)
        assert close_to(colour, QUADRANT_COLOURS[quadrant]), (quadrant, colour)


def assert_no_metadata(data: bytes) -> None:
    img = opened(data)
    assert img.format in ("JPEG", "WEBP")
    assert "exif" not in img.info and len(img.getexif()) == 0
    if img.format == "WEBP":
        # RIFF chunks: a rendition is VP8/VP8L (plus VP8X at most), never EXIF, XMP or ICCP.
        assert not any(chunk in data for chunk in (b"EXIF", b"XMP ", b"ICCP")), data[:64]
        for secret in (b"SecretCam", b"Jane Doe", b"GPS", b"xmpmeta"):
            assert secret not in data
        return
    for key in ("xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop", "adobe"):
        assert key not in img.info, key
    # Pillow does not report every segment; look at the raw markers too. JFIF (APP0) is allowed.
    markers = {marker for marker, _ in jpeg_segments(data)}
    assert not markers & ({0xFE} | set(range(0xE1, 0xF0))), sorted(hex(m) for m in markers)
    for secret in (b"SecretCam", b"Jane Doe", b"GPS", b"xmpmeta"):
        assert secret not in data


def make_one_colour_png(width: int = 10_000, height: int = 10_000, colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """An 8-bit RGB PNG of one colour, as a graphics program saves a blank canvas: a few hundred KB
    that a decoder holding the whole bitmap turns into width*height*4 bytes.

    Made without ever holding that bitmap, and in well under a second: the rows go into the zlib
    stream in identical blocks, each ended by a full flush, after which deflate has no history, so
    every block compresses to the same bytes and one compressed block stands for all of them.
    """
    row = b"\x00" + bytes(colour) * width
    rows_per_block = max(1, min(height, (1 << 20) // len(row)))
    blocks, last = divmod(height, rows_per_block)
    block, tail = row * rows_per_block, row * last
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the zlib header and Adler-32 are added below
    compressed = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(tail, adler)
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = (b"\x78\xda" + compressed * blocks + end.compress(tail) + end.flush()
              + struct.pack(">I", adler))
    return _png_file(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), stream)


def scene(seed: int, width: int = 1024, height: int = 768, noise: float = 24.0) -> Image.Image:
    """A photo-like picture of its own for each seed: a gradient sky, random shapes in random colours, and a
    grain of noise, so that it has edges (sharpness), a spread of tones (exposure) and structure (hashes)."""
    rng = random.Random(seed)
    top = tuple(rng.randrange(40, 230) for _ in range(3))
    bottom = tuple(rng.randrange(40, 230) for _ in range(3))
    mask = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
    img = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randrange(6, 14)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 10, width // 2), rng.randrange(height // 10, height // 2)
        colour = tuple(rng.randrange(20, 240) for _ in range(3))
        box = (x0 - w // 2, y0 - h // 2, x0 + w // 2, y0 + h // 2)
        kind = rng.randrange(3)
        if kind == 0:
            draw.rectangle(box, fill=colour)
        elif kind == 1:
            draw.ellipse(box, fill=colour)
        else:
            draw.polygon([(rng.randrange(width), rng.randrange(height)) for _ in range(3)], fill=colour)
    grain = Image.effect_noise((width, height), noise).convert("RGB")
    return ImageChops.add(img, grain, scale=1.0, offset=-128)


def encoded(img: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def make_heic(width: int = 64, height: int = 48, orientation: int | None = None, brand_heic: bool = True) -> bytes:
    """A HEIC (HEVC-coded HEIF) of the quadrant pattern as displayed, stored rotated for `orientation` as a
    phone writes it. With `brand_heic` False the major brand is the generic `mif1` (image/heif)."""
    import pillow_heif  # the registration is the adapter's; here only the encoder is used

    stored = stored_pixels(quadrants(width, height), orientation)
    heif = pillow_heif.from_pillow(stored)
    buf = io.BytesIO()
    heif.save(buf, quality=90, exif=exif_bytes(orientation) or None)
    data = buf.getvalue()
    if not brand_heic:
        assert data[8:12] == b"heic"
        data = data[:8] + b"mif1" + data[12:]
    return data
