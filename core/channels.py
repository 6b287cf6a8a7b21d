"""Listing channels and the photo requirements each publishes (CONTRACT §11): the one table to keep current
when a portal changes its rules. Every row names where its figures come from; a figure the channel does
not publish (or that no first-hand page confirmed) is None and is not checked, and `note` says so.

Checked against the original as stored: its displayed size, its file size and its type.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from core.photo_checks import QualityIssue

MB = 1024 * 1024


@dataclass(frozen=True)
class Channel:
    name: str
    min_size: tuple[int, int] | None
    """(longer side, shorter side) below which the channel refuses or hides a photo."""
    recommended_size: tuple[int, int] | None
    """What the channel asks for to show a photo at its best (not checked: advice)."""
    max_file_size: int | None
    formats: tuple[str, ...] | None
    """Content types the channel accepts."""
    landscape_only: bool
    refuses: tuple[QualityIssue, ...]
    """Quality issues the channel names as reasons to refuse a photo."""
    source: str
    note: str = ""


CHANNELS: tuple[Channel, ...] = (
    Channel("Booking.com", min_size=(840, 460), recommended_size=None, max_file_size=None, formats=None,
            landscape_only=False, refuses=(),
            source="https://partner.booking.com/de/hilfe/partnerschaft-mit-booking/muss-ich-bei-der-registrierung-"
                   "fotos-hinzuf%C3%BCgen",
            note="'The lowest resolution we can show is 840 x 460 pixels'; file size and formats not published there."),
    Channel("Expedia", min_size=(1000, 1), recommended_size=(2880, 1), max_file_size=15 * MB,
            formats=("image/jpeg", "image/png", "image/bmp"), landscape_only=False, refuses=(),
            source="https://developers.expediagroup.com/supply/lodging/docs/property_mgmt_apis/image/learn/",
            note="2,880 px on the longest edge recommended, 15 MB, JPG/PNG/BMP (Expedia Image API). The 1,000 px "
                 "minimum is GIATA's reading (info.giata.com/en/knowledge/distribute-your-content-to-expedia), "
                 "not confirmed on an Expedia page."),
    Channel("Airbnb", min_size=(1024, 683), recommended_size=(1920, 1280), max_file_size=None, formats=None,
            landscape_only=False, refuses=(),
            source="https://www.skylinestr.com/best-resolution-for-airbnb-photos/",
            note="'Airbnb recommends a minimum resolution of 1024px by 683px' as quoted by photographers; no "
                 "Airbnb help page confirmed it here. File size and formats differ between third-party pages, "
                 "so they are not checked."),
    Channel("Vrbo", min_size=(1024, 683), recommended_size=(3840, 2160), max_file_size=20 * MB,
            formats=("image/jpeg", "image/png", "image/gif"), landscape_only=True,
            refuses=(QualityIssue.BLURRY, QualityIssue.DARK),
            source="https://help.vrbo.com/articles/Vrbo-photo-guidelines"),
    Channel("Zillow", min_size=(331, 221), recommended_size=(1024, 768), max_file_size=None, formats=None,
            landscape_only=False, refuses=(),
            source="https://www.ranw.org/mls/submit-a-listing-to-ranw-mls/complete-your-listing/"
                   "listing-photo-size-and-format-requirements/",
            note="'For a photo to appear on Zillow, the resolution must be larger than 330 x 220' (an MLS's page; "
                 "Zillow publishes no figure); 1024x768 is that MLS's minimum, given as advice."),
    Channel("Rightmove", min_size=None, recommended_size=None, max_file_size=None,
            formats=("image/jpeg", "image/gif", "image/png"), landscape_only=False, refuses=(),
            source="https://fliphtml5.com/aqgq/ndxv/RightMove_ADF_specs/6/",
            note="Rightmove's data feed spec accepts 'Only JPG, GIF and PNG formats'; no size figure was found."),
)

_FORMAT_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/bmp": "BMP",
                 "image/webp": "WebP", "image/heic": "HEIC", "image/heif": "HEIF"}


@dataclass(frozen=True)
class Readiness:
    channel: str
    ready: bool
    reasons: tuple[str, ...]


def readiness(width: int, height: int, file_size: int, content_type: str,
              issues: Sequence[QualityIssue], channels: Sequence[Channel] = CHANNELS) -> list[Readiness]:
    """Whether each channel would take the photo, and if not, what to change."""
    return [Readiness(c.name, not (reasons := _reasons(c, width, height, file_size, content_type, issues)), reasons)
            for c in channels]


def _reasons(channel: Channel, width: int, height: int, file_size: int, content_type: str,
             issues: Sequence[QualityIssue]) -> tuple[str, ...]:
    reasons = []
    if channel.min_size is not None:
        long_min, short_min = channel.min_size
        if max(width, height) < long_min or min(width, height) < short_min:
            needed = f"{long_min}×{short_min}" if width >= height else f"{short_min}×{long_min}"
            if short_min <= 1:
                needed = f"{long_min} px on the longer side"
            reasons.append(f"{needed} needed, this is {width}×{height}")
    if channel.landscape_only and height > width:
        reasons.append(f"landscape photos only, this is portrait ({width}×{height})")
    if channel.max_file_size is not None and file_size > channel.max_file_size:
        reasons.append(f"at most {channel.max_file_size // MB} MB, this is {file_size / MB:.1f} MB")
    if channel.formats is not None and content_type not in channel.formats:
        accepted = ", ".join(_FORMAT_NAMES.get(f, f) for f in channel.formats)
        reasons.append(f"{accepted} only, this is {_FORMAT_NAMES.get(content_type, content_type)}")
    for issue in issues:
        if issue in channel.refuses:
            reasons.append(f"{channel.name} refuses {_ISSUE_WORDS[issue]} photos")
    return tuple(reasons)


_ISSUE_WORDS = {QualityIssue.BLURRY: "blurry", QualityIssue.DARK: "too dark", QualityIssue.OVEREXPOSED: "overexposed"}
