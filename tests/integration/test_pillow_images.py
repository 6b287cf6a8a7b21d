"""PillowInspector: what it accepts, what it refuses, and what its renditions look like."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageFile

from adapters.pillow_images import PillowInspector
from core.errors import UnsupportedImageType, UploadRejected
from core.ports import ImageFacts, RenditionSpec
from core.processing import RENDITIONS
from tests import images
from tests.images import assert_no_metadata, assert_quadrants, close_to, opened

LIMIT = 100_000_000


@pytest.fixture
def inspector() -> PillowInspector:
    return PillowInspector()


# --- inspect: accepted formats ---------------------------------------------------------------

@pytest.mark.parametrize("make, content_type", [
    (images.make_jpeg, "image/jpeg"),
    (images.make_png, "image/png"),
    (images.make_webp, "image/webp"),
    (lambda w, h: images.make_webp(w, h, lossless=False), "image/webp"),
    (images.make_bmp, "image/bmp"),
    (images.make_cmyk_jpeg, "image/jpeg"),
    (images.make_png16, "image/png"),
    (lambda w, h: images.make_png16(w, h, colour=True), "image/png"),
    (images.make_paletted_png, "image/png"),
    (images.make_rgba_png, "image/png"),
    (lambda w, h: images.make_jpeg(w, h, progressive=True), "image/jpeg"),
    (lambda w, h: images.make_jpeg(w, h, mode="L"), "image/jpeg"),
    (lambda w, h: images.make_png(w, h, mode="LA"), "image/png"),
    (lambda w, h: images.make_png(w, h, mode="1"), "image/png"),
])
def test_inspect_accepts_allowed_formats(inspector, make, content_type):
    assert inspector.inspect(make(64, 48), LIMIT) == ImageFacts(content_type, 64, 48)


def test_multi_picture_jpeg_is_a_jpeg(inspector):
    data = images.make_mpo(64, 48)
    assert opened(data).format == "MPO"
    assert inspector.inspect(data, LIMIT) == ImageFacts("image/jpeg", 64, 48)
    result, = inspector.render(data, [RenditionSpec("x", 32)])
    assert (result.width, result.height) == (32, 24)
    assert_quadrants(opened(result.data))


def test_inspect_handles_one_pixel(inspector):
    assert inspector.inspect(images.make_png(1, 1), LIMIT) == ImageFacts("image/png", 1, 1)
    assert inspector.inspect(images.make_jpeg(1, 1), LIMIT) == ImageFacts("image/jpeg", 1, 1)


def test_content_type_comes_from_the_bytes(inspector):
    # A PNG uploaded as "photo.jpg" (and granted as image/jpeg) is still a PNG.
    assert inspector.inspect(images.make_png(10, 10), LIMIT).content_type == "image/png"
    assert inspector.inspect(images.make_webp(10, 10), LIMIT).content_type == "image/webp"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_inspect_reports_displayed_size(inspector, orientation):
    data = images.make_camera_jpeg(200, 100, orientation)
    assert opened(data).size == ((100, 200) if orientation >= 5 else (200, 100))  # the stored size
    assert inspector.inspect(data, LIMIT) == ImageFacts("image/jpeg", 200, 100)


def test_inspect_reads_png_exif_orientation(inspector):
    assert inspector.inspect(images.make_png(200, 100, orientation=6), LIMIT) == ImageFacts("image/png", 200, 100)


@pytest.mark.parametrize("bad_orientation", [0, 9, 65535])
def test_nonsense_orientation_is_ignored(inspector, bad_orientation):
    data = images.make_jpeg(200, 100, orientation=bad_orientation)
    assert inspector.inspect(data, LIMIT) == ImageFacts("image/jpeg", 200, 100)
    assert (inspector.render(data, [RenditionSpec("x", 100)])[0].width,) == (100,)


# --- inspect: refused inputs -----------------------------------------------------------------

@pytest.mark.parametrize("data", [
    pytest.param(images.make_gif(), id="gif"),
    pytest.param(images.make_tiff(), id="tiff"),
    pytest.param(images.make_svg(), id="svg"),
    pytest.param(images.make_html(), id="html"),
    pytest.param(images.make_text_file(), id="text-renamed-jpg"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\xff\xd8\xff", id="jpeg-magic-only"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, id="png-magic-garbage"),
    pytest.param(b"BM" + b"\x00" * 100, id="bmp-magic-garbage"),
])
def test_inspect_refuses_other_files_as_unsupported_type(inspector, data):
    with pytest.raises(UnsupportedImageType) as caught:
        inspector.inspect(data, LIMIT)
    assert "not a JPEG, PNG, WebP, BMP or HEIC/HEIF image" in caught.value.message


@pytest.mark.parametrize("data", [
    pytest.param(images.make_truncated_jpeg(), id="jpeg"),
    pytest.param(images.truncate(images.make_photo_jpeg(256, 192), 0.95), id="jpeg-95%"),
    pytest.param(images.make_truncated_png(), id="png"),
    pytest.param(images.truncate(images.make_webp(256, 192, lossless=False), 0.6), id="webp"),
    pytest.param(images.truncate(images.make_bmp(256, 192), 0.6), id="bmp"),
])
def test_inspect_refuses_truncated_images(inspector, data):
    with pytest.raises(UnsupportedImageType):
        inspector.inspect(data, LIMIT)


def test_render_refuses_truncated_images(inspector):
    with pytest.raises(UnsupportedImageType):
        inspector.render(images.make_truncated_jpeg(), RENDITIONS)


def test_truncated_images_are_refused_whatever_the_loaded_setting_says(inspector, monkeypatch):
    # The switch is process-wide; the inspector must never accept half an upload because of it.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(Exception) as caught:
        inspector.inspect(images.make_truncated_jpeg(), LIMIT)
    assert "LOAD_TRUNCATED_IMAGES" in str(caught.value)


def test_pixel_limit_is_checked_from_the_header(inspector):
    with pytest.raises(UploadRejected) as caught:
        inspector.inspect(images.make_png(100, 100), max_pixels=9_999)
    assert not isinstance(caught.value, UnsupportedImageType)
    assert "10000 pixels exceeds the limit of 9999" in caught.value.message
    assert inspector.inspect(images.make_png(100, 100), max_pixels=10_000).width == 100


def test_decompression_bomb_is_refused_as_too_large(inspector):
    # 10^10 pixels declared in a file of a few hundred bytes; it is also truncated, so a reader
    # that decoded before checking the size would report the wrong problem (or run out of memory).
    bomb = images.make_png_bomb()
    assert len(bomb) < 1_000
    with pytest.raises(UploadRejected) as caught:
        inspector.inspect(bomb, LIMIT)
    assert not isinstance(caught.value, UnsupportedImageType)
    assert "exceeds the limit" in caught.value.message


def test_bomb_below_pillows_own_limit_is_refused_by_ours(inspector):
    # 80 MP is under Pillow's global threshold (~89 MP), so only our check can stop it.
    bomb = images.make_png_bomb(10_000, 8_000)
    with pytest.raises(UploadRejected) as caught:
        inspector.inspect(bomb, max_pixels=50_000_000)
    assert not isinstance(caught.value, UnsupportedImageType)
    assert "80000000 pixels exceeds the limit of 50000000" in caught.value.message


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_raised_as_error_is_a_limit_error(inspector):
    # 96 MP: Pillow warns; in a process where warnings are errors, that must still be "too large".
    with pytest.raises(UploadRejected) as caught:
        inspector.inspect(images.make_png_bomb(12_000, 8_000), LIMIT)
    assert not isinstance(caught.value, UnsupportedImageType)


def test_render_refuses_a_bomb(inspector):
    with pytest.raises(UploadRejected):
        inspector.render(images.make_png_bomb(), RENDITIONS)


# --- render: geometry ------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_renditions_are_upright(inspector, orientation):
    data = images.make_camera_jpeg(400, 200, orientation)
    specs = [RenditionSpec("small", 100), RenditionSpec("big", 300), RenditionSpec("full", 1000)]
    results = inspector.render(data, specs)
    assert [(r.width, r.height) for r in results] == [(100, 50), (300, 150), (400, 200)]
    for result in results:
        img = opened(result.data)
        assert img.size == (result.width, result.height)
        assert_quadrants(img)


def test_png_exif_orientation_is_applied(inspector):
    result, = inspector.render(images.make_png(200, 100, orientation=8), [RenditionSpec("x", 100)])
    assert (result.width, result.height) == (100, 50)
    assert_quadrants(opened(result.data))


@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4000), (2048, 2048), (5000, 10)])
def test_each_spec_box_is_respected(inspector, size):
    data = images.make_jpeg(*size, quality=50)
    results = inspector.render(data, RENDITIONS)
    for spec, result in zip(RENDITIONS, results):
        assert max(result.width, result.height) == min(spec.max_side, max(size))
        assert result.width >= 1 and result.height >= 1
        # Aspect ratio kept (within rounding of the short side).
        assert abs(result.width / result.height - size[0] / size[1]) <= size[0] / size[1] / max(1, min(
            result.width, result.height))
        assert opened(result.data).size == (result.width, result.height)


def test_renditions_come_back_in_spec_order(inspector):
    specs = [RenditionSpec("b", 50), RenditionSpec("a", 200), RenditionSpec("c", 100), RenditionSpec("d", 50)]
    results = inspector.render(images.make_jpeg(400, 300), specs)
    assert [r.width for r in results] == [50, 200, 100, 50]


def test_never_upscaled(inspector):
    results = inspector.render(images.make_png(100, 50), RENDITIONS)
    assert [(r.width, r.height) for r in results] == [(100, 50)] * len(RENDITIONS)
    one, = inspector.render(images.make_png(1, 1), [RenditionSpec("x", 320)])
    assert (one.width, one.height) == (1, 1) and opened(one.data).size == (1, 1)


def test_large_jpeg_matches_a_full_decode(inspector):
    # The reduced-size decode must not shift or crop the picture.
    data = images.make_jpeg(3000, 2000, quality=80)
    result, = inspector.render(data, [RenditionSpec("web", 600)])
    assert (result.width, result.height) == (600, 400)
    assert_quadrants(opened(result.data))


# --- render: colour and formats --------------------------------------------------------------

@pytest.mark.parametrize("make", [
    pytest.param(images.make_png, id="png"),
    pytest.param(images.make_webp, id="webp"),
    pytest.param(lambda w, h: images.make_webp(w, h, lossless=False), id="webp-lossy"),
    pytest.param(images.make_bmp, id="bmp"),
    pytest.param(lambda w, h: images.make_png(w, h, mode="P"), id="png-paletted"),
    pytest.param(lambda w, h: images.make_png(w, h, mode="RGBA"), id="png-rgba-opaque"),
    pytest.param(lambda w, h: images.make_jpeg(w, h, progressive=True), id="jpeg-progressive"),
])
def test_formats_render_as_srgb_jpeg(inspector, make):
    results = inspector.render(make(640, 480), RENDITIONS)
    assert [(r.width, r.height) for r in results] == [(320, 240), (640, 480), (640, 480)] * 2
    for spec, result in zip(RENDITIONS, results):
        assert result.content_type == spec.content_type and spec.content_type in ("image/jpeg", "image/webp")
        img = opened(result.data)
        assert img.mode == "RGB"
        assert_quadrants(img)
        assert_no_metadata(result.data)


def test_cmyk_jpeg_becomes_rgb(inspector):
    result, = inspector.render(images.make_cmyk_jpeg(64, 48), [RenditionSpec("x", 32)])
    img = opened(result.data)
    assert img.mode == "RGB" and img.size == (32, 24)
    assert close_to(img.getpixel((16, 12)), (0, 255, 255))  # cyan


def test_16_bit_png_is_scaled_not_clipped(inspector):
    grey, = inspector.render(images.make_png16(64, 48), [RenditionSpec("x", 64)])
    assert close_to(opened(grey.data).getpixel((32, 24)), (128, 128, 128), tolerance=3)
    colour, = inspector.render(images.make_png16(64, 48, colour=True), [RenditionSpec("x", 64)])
    assert close_to(opened(colour.data).getpixel((32, 24)), (255, 128, 0), tolerance=6)


def test_paletted_transparency_becomes_white(inspector):
    result, = inspector.render(images.make_paletted_png(64, 48), [RenditionSpec("x", 64)])
    img = opened(result.data)
    assert close_to(img.getpixel((16, 24)), images.BLUE)
    assert close_to(img.getpixel((48, 24)), images.WHITE, tolerance=3)


def test_rgba_transparency_becomes_white(inspector):
    # The transparent half hides black pixels: they must not show through, even after resampling.
    result, = inspector.render(images.make_rgba_png(400, 300), [RenditionSpec("x", 100)])
    img = opened(result.data)
    assert close_to(img.getpixel((25, 37)), images.RED)
    assert close_to(img.getpixel((75, 37)), images.WHITE, tolerance=3)
    assert min(img.getpixel((52, 37))) > 200  # just right of the edge: no dark fringe


def test_grey_png_with_alpha(inspector):
    result, = inspector.render(images.make_png(64, 48, mode="LA"), [RenditionSpec("x", 64)])
    assert opened(result.data).mode == "RGB"


def test_embedded_icc_profile_is_converted_to_srgb(inspector):
    # The profile says stored red means green: an inspector honouring it shows green.
    profile = images.make_icc_profile(swap_red_green=True)
    result, = inspector.render(images.make_jpeg(64, 48, icc_profile=profile), [RenditionSpec("x", 64)])
    img = opened(result.data)
    assert close_to(img.getpixel((16, 12)), images.GREEN)
    assert close_to(img.getpixel((48, 12)), images.RED)
    assert "icc_profile" not in img.info


def test_srgb_profile_and_broken_profile_keep_the_colours(inspector):
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (srgb, b"not an icc profile at all"):
        result, = inspector.render(images.make_jpeg(64, 48, icc_profile=profile), [RenditionSpec("x", 64)])
        assert_quadrants(opened(result.data))
        assert_no_metadata(result.data)


# --- render: metadata ------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_renditions_carry_no_metadata(inspector, orientation):
    source = images.make_camera_jpeg(200, 100, orientation)
    src = opened(source)  # the source really carries it all
    assert src.getexif().get_ifd(images.GPS_IFD) and src.getexif().get_ifd(images.EXIF_IFD)
    assert "xmp" in src.info and "comment" in src.info
    for result in inspector.render(source, RENDITIONS):
        assert_no_metadata(result.data)


def test_png_and_webp_metadata_is_dropped(inspector):
    png = images.make_png(64, 48, orientation=3)
    buf = io.BytesIO()
    Image.open(io.BytesIO(images.make_webp())).save(buf, "WEBP", exif=images.exif_bytes(1, gps=True, maker=True),
                                                    xmp=images.XMP, lossless=True)
    for data in (png, buf.getvalue()):
        for result in inspector.render(data, RENDITIONS):
            assert_no_metadata(result.data)


def test_output_is_progressive_jpeg(inspector):
    result, = inspector.render(images.make_jpeg(640, 480), [RenditionSpec("x", 320)])
    assert opened(result.data).info.get("progressive")


def test_render_without_specs(inspector):
    assert inspector.render(images.make_jpeg(), []) == []


def test_inspector_keeps_pillows_globals(inspector):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    inspector.inspect(images.make_camera_jpeg(64, 48, 6), max_pixels=10**9)
    inspector.render(images.make_camera_jpeg(64, 48, 6), RENDITIONS)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_one_inspector_serves_threads(inspector):
    sources = [images.make_camera_jpeg(300, 200, o) for o in range(1, 9)] + [
        images.make_png(300, 200), images.make_rgba_png(300, 200), images.make_cmyk_jpeg(300, 200),
        images.make_jpeg(300, 200, icc_profile=images.make_icc_profile())]
    specs = [RenditionSpec("a", 150), RenditionSpec("b", 60)]

    def work(data: bytes):
        return inspector.inspect(data, LIMIT), [(r.width, r.height, r.data) for r in inspector.render(data, specs)]

    serial = [work(data) for data in sources]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(work, sources * 4))
    assert parallel == serial * 4
