"""The rules of CONTRACT §11 on plain values: quality issues, channel readiness, and the band scheme that lets
duplicates be found by index."""
from __future__ import annotations

import random

import pytest

from core.channels import CHANNELS, readiness
from core.image_documents import photo_fields
from core.photo_checks import (
    BANDS, BLURRY_BELOW, DUPLICATE_DISTANCE, PhotoChecks, QualityIssue, bands, distance, probes, quality_issues,
    signed64, unsigned64,
)
from tests.unit.builders import LATER, image, realty

GOOD = PhotoChecks(perceptual_hash=0, blurhash="L00000fQfQfQfQfQfQfQfQfQfQfQ", sharpness=600.0, brightness=128.0,
                   dark_fraction=0.01, bright_fraction=0.02)


def checks(**changed) -> PhotoChecks:
    return PhotoChecks(**{**GOOD.__dict__, **changed})


def test_a_sharp_well_exposed_12_megapixel_photo_has_no_issues():
    assert quality_issues(GOOD, 4000, 3000) == []


@pytest.mark.parametrize("measured, issue", [
    (dict(sharpness=BLURRY_BELOW - 1), QualityIssue.BLURRY),
    (dict(brightness=40.0), QualityIssue.DARK),
    (dict(dark_fraction=0.6), QualityIssue.DARK),
    (dict(brightness=230.0), QualityIssue.OVEREXPOSED),
    (dict(bright_fraction=0.4), QualityIssue.OVEREXPOSED),
])
def test_each_measurement_past_its_threshold_is_its_issue(measured, issue):
    assert quality_issues(checks(**measured), 4000, 3000) == [issue]


@pytest.mark.parametrize("width, height", [(800, 533), (1023, 700), (2000, 600), (600, 2000)])
def test_a_photo_smaller_than_1024_by_683_either_way_is_low_resolution(width, height):
    assert quality_issues(GOOD, width, height) == [QualityIssue.LOW_RESOLUTION]


def test_a_portrait_photo_of_683_by_1024_is_not_low_resolution():
    assert quality_issues(GOOD, 683, 1024) == []


def test_every_channel_names_its_source():
    assert {"Booking.com", "Expedia", "Airbnb", "Vrbo", "Zillow", "Rightmove"} <= {c.name for c in CHANNELS}
    assert all(c.source.startswith("https://") for c in CHANNELS)


def test_a_large_jpeg_is_ready_everywhere():
    assert all(r.ready and not r.reasons for r in readiness(4000, 3000, 3_000_000, "image/jpeg", []))


def test_a_small_photo_says_what_size_each_channel_needs():
    by_channel = {r.channel: r for r in readiness(900, 600, 100_000, "image/jpeg", [QualityIssue.LOW_RESOLUTION])}
    assert not by_channel["Airbnb"].ready
    assert by_channel["Airbnb"].reasons == ("1024×683 needed, this is 900×600",)
    assert by_channel["Booking.com"].ready  # 840×460 is Booking.com's minimum
    assert by_channel["Zillow"].ready


def test_a_webp_portrait_that_is_dark_is_refused_by_vrbo_for_each_reason():
    [vrbo] = [r for r in readiness(2000, 3000, 25 * 1024 * 1024, "image/webp", [QualityIssue.DARK]) if r.channel == "Vrbo"]
    assert not vrbo.ready
    assert vrbo.reasons == ("landscape photos only, this is portrait (2000×3000)", "at most 20 MB, this is 25.0 MB",
                            "JPEG, PNG, GIF only, this is WebP", "Vrbo refuses too dark photos")


def test_distance_counts_differing_bits():
    assert distance(0b1011, 0b0001) == 2
    assert distance(2**64 - 1, 0) == 64


def test_hashes_round_trip_through_a_signed_64_bit_column():
    for value in (0, 1, 2**63 - 1, 2**63, 2**64 - 1):
        assert -2**63 <= signed64(value) < 2**63
        assert unsigned64(signed64(value)) == value


def test_bands_cut_the_hash_into_pieces_that_make_it_up_again():
    value = 0x0123456789ABCDEF
    parts = bands(value)
    assert len(parts) == BANDS
    assert sum(part << (64 // BANDS * n) for n, part in enumerate(parts)) == value


@pytest.mark.parametrize("flipped", range(DUPLICATE_DISTANCE + 1))
def test_every_hash_within_the_distance_matches_one_probed_band(flipped):
    rng = random.Random(flipped)
    for _ in range(200):
        original = rng.getrandbits(64)
        near = original
        for bit in rng.sample(range(64), flipped):
            near ^= 1 << bit
        probed = set(probes(original, DUPLICATE_DISTANCE))
        assert any((n, value) in probed for n, value in enumerate(bands(near)))


def test_a_probe_set_is_small():
    assert len(list(probes(0, DUPLICATE_DISTANCE))) == BANDS * 17


# --- on the aggregate and in the image's published form ---------------------------------------------------

def test_finishing_processing_keeps_the_checks_and_a_failure_has_none():
    r = realty(2)
    done = r.finish_processing(r.images[0].uuid, LATER, (), checks=GOOD)
    failed = r.finish_processing(r.images[1].uuid, LATER, error="unreadable", checks=GOOD)
    assert done.checks == GOOD and failed.checks is None


def test_an_items_fields_say_the_same_as_the_rules():
    small = image(0, width=800, height=533, content_type="image/jpeg", checks=checks(sharpness=20.0))
    fields = photo_fields(small)
    assert fields["perceptualHash"] == "0000000000000000" and fields["blurhash"] == GOOD.blurhash
    assert fields["quality"]["issues"] == ["BLURRY", "LOW_RESOLUTION"]
    by_channel = {c["channel"]: c for c in fields["channels"]}
    assert by_channel["Vrbo"] == {"channel": "Vrbo", "ready": False,
                                  "reasons": ["1024×683 needed, this is 800×533", "Vrbo refuses blurry photos"]}
    assert photo_fields(image(1)) == {"perceptualHash": None, "blurhash": None, "quality": None, "channels": []}
