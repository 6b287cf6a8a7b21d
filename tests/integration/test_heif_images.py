"""HEIC/HEIF photos (phones' default) through PillowInspector: verified like any other upload, rendered upright."""
from __future__ import annotations

import pytest

from adapters.pillow_images import PillowInspector
from core.errors import UnsupportedImageType, UploadRejected
from core.processing import RENDITIONS
from tests.images import assert_no_metadata, assert_quadrants, make_heic, opened, truncate


@pytest.mark.parametrize("orientation", [None, 3, 6, 8])
def test_a_heic_is_measured_and_rendered_as_displayed(orientation):
    data = make_heic(64, 48, orientation)
    facts = PillowInspector().inspect(data, 10**6)
    assert (facts.content_type, facts.width, facts.height) == ("image/heic", 64, 48)
    for rendition in PillowInspector().render(data, RENDITIONS):
        assert (rendition.width, rendition.height) == (64, 48)
        assert_quadrants(opened(rendition.data))
        assert_no_metadata(rendition.data)


def test_a_heif_of_the_generic_brand_is_image_heif():
    assert PillowInspector().inspect(make_heic(brand_heic=False), 10**6).content_type == "image/heif"


def test_a_truncated_heic_is_refused():
    with pytest.raises(UnsupportedImageType):
        PillowInspector().inspect(truncate(make_heic(640, 480), 0.6), 10**7)


def test_a_heic_over_the_pixel_limit_is_refused_before_decoding():
    with pytest.raises(UploadRejected, match="exceeds the limit"):
        PillowInspector().inspect(make_heic(640, 480), 640 * 480 - 1)


def test_a_heic_gets_the_photo_checks_too():
    checks = PillowInspector().render_checked(make_heic(640, 480), RENDITIONS).checks
    assert len(checks.perceptual_hash_hex) == 16 and checks.blurhash
