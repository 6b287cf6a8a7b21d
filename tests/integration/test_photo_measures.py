"""What a render job measures (CONTRACT §11), on generated photos through PillowInspector, from the same decode
that makes the renditions."""
from __future__ import annotations

import blurhash
import pytest
from PIL import ImageEnhance, ImageFilter

from adapters.pillow_images import PillowInspector
from core.photo_checks import DUPLICATE_DISTANCE, QualityIssue, distance, quality_issues
from core.processing import RENDITIONS
from tests.images import encoded, exif_bytes, scene


@pytest.fixture(scope="module")
def photo():
    return scene(7, 4000, 3000)


def measured(img, **params):
    checks = PillowInspector().render_checked(encoded(img, **params), RENDITIONS).checks
    return checks, quality_issues(checks, *img.size)


def test_a_sharp_well_exposed_12_megapixel_photo_has_no_issues(photo):
    checks, issues = measured(photo, quality=90)
    assert issues == []
    assert len(checks.perceptual_hash_hex) == 16
    assert blurhash.is_valid_blurhash(checks.blurhash)


def test_a_blurred_photo_is_blurry_and_nothing_else(photo):
    assert measured(photo.filter(ImageFilter.GaussianBlur(8)), quality=90)[1] == [QualityIssue.BLURRY]


def test_a_dim_photo_is_dark_but_not_blurry(photo):
    assert measured(ImageEnhance.Brightness(photo).enhance(0.25), quality=90)[1] == [QualityIssue.DARK]


def test_a_washed_out_photo_is_overexposed(photo):
    assert measured(ImageEnhance.Brightness(photo).enhance(4.0), quality=90)[1] == [QualityIssue.OVEREXPOSED]


def test_a_small_photo_is_low_resolution(photo):
    assert measured(photo.resize((800, 600)), quality=90)[1] == [QualityIssue.LOW_RESOLUTION]


@pytest.mark.parametrize("twin", ["resized to half", "JPEG quality 60", "cropped by 5%", "as PNG"])
def test_twins_have_hashes_within_the_duplicate_distance(twin):
    original = scene(11, 1600, 1200)
    made = {
        "resized to half": lambda: encoded(original.resize((800, 600))),
        "JPEG quality 60": lambda: encoded(original, quality=60),
        "cropped by 5%": lambda: encoded(original.crop((40, 30, 1560, 1170))),
        "as PNG": lambda: encoded(original, "PNG"),
    }[twin]()
    inspector = PillowInspector()
    a = inspector.render_checked(encoded(original), RENDITIONS).checks.perceptual_hash
    b = inspector.render_checked(made, RENDITIONS).checks.perceptual_hash
    assert distance(a, b) <= DUPLICATE_DISTANCE


def test_the_checks_come_with_the_same_renditions_as_render():
    data = encoded(scene(3, 1600, 1200))
    checked = PillowInspector().render_checked(data, RENDITIONS).renditions
    plain = PillowInspector().render(data, RENDITIONS)
    assert [(r.width, r.height, r.content_type) for r in checked] == [(r.width, r.height, r.content_type) for r in plain]


def test_different_pictures_are_far_apart():
    inspector = PillowInspector()
    hashes = [inspector.render_checked(encoded(scene(seed, 640, 480)), RENDITIONS).checks.perceptual_hash
              for seed in range(20)]
    assert all(distance(a, b) > DUPLICATE_DISTANCE for i, a in enumerate(hashes) for b in hashes[i + 1:])


def test_the_hash_is_of_the_picture_as_displayed():
    """An EXIF-rotated file and the same picture stored upright are the same photo."""
    upright = scene(5, 800, 600)
    stored = upright.rotate(90, expand=True)  # orientation 6 displays it rotated 270° back to upright
    inspector = PillowInspector()
    a = inspector.render_checked(encoded(upright), RENDITIONS).checks.perceptual_hash
    b = inspector.render_checked(encoded(stored, exif=exif_bytes(6)), RENDITIONS).checks.perceptual_hash
    assert distance(a, b) <= DUPLICATE_DISTANCE
